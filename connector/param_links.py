"""Linked params: params with the same name in the widgets of one app share one value in
Workspace (a group in apps.json), so they must agree on their type. This checks a saved
query against the others of its app when it is saved (400 ``bad_param`` naming the param
and the query it disagrees with), and says which app a saved query goes in.

Pure; must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connector.errors import BadParamError
from connector.models import SavedParam, SavedQuery


def app_of(query: SavedQuery, app_names: Mapping[str, str]) -> str:
    """The app a saved query's widget goes in: its own ``widget.app``, else its
    connection's app (the connection's Workspace setting, else the connection's name)."""
    own = (query.widget.model_extra or {}).get("app")
    return str(own) if own else app_names.get(query.connection, query.connection)


def _kind(param: SavedParam) -> tuple[str, bool]:
    return ("endpoint" if param.options_sql else param.type), param.multiple


def _say(kind: tuple[str, bool]) -> str:
    return f"{'a multi-value ' if kind[1] else 'a single '}{kind[0]}"


def check_linked_params(
    query: SavedQuery, others: Iterable[SavedQuery], app_names: Mapping[str, str]
) -> None:
    """Refuse ``query`` when one of its params has the name of a param of another saved
    query in the same app but another type (or one is multi-value and the other not)."""
    app = app_of(query, app_names)
    mine = {param.name: _kind(param) for param in query.params}
    for other in others:
        if other.name == query.name or app_of(other, app_names) != app:
            continue
        for param in other.params:
            theirs = _kind(param)
            if param.name in mine and mine[param.name] != theirs:
                raise BadParamError(
                    f"Parameter {param.name!r} is {_say(mine[param.name])} here but "
                    f"{_say(theirs)} in saved query {other.name!r} of the same app {app!r}; "
                    "params with one name share one value in the app, so give them one type."
                )
