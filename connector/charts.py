"""Plotly chart widgets: a saved query's rows drawn as a figure by plotly's own graph
objects (line, bar, area, scatter, candlestick from open/high/low/close), in Workspace's
dark or light theme, written as the figure JSON Workspace's chart widget reads.

The rows pass through the contract's JSON rules first (``connector.values.dumps``): dates
become ISO text, decimals numbers, bytes base64, so the figure holds what any other
answer would. A chart column the result lacks is a 400 ``bad_param`` naming it.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.errors import BadParamError
from connector.models import QueryResult
from connector.values import dumps
from connector.wire import record_keys, records

ChartKind = Literal["line", "bar", "area", "scatter", "candlestick"]
Theme = Literal["dark", "light"]
TEMPLATES: dict[str, str] = {"dark": "plotly_dark", "light": "plotly_white"}


class ChartSpec(BaseModel):
    """``widget.chart`` of a ``plotly`` widget: what to draw from which columns."""

    model_config = ConfigDict(extra="forbid")

    kind: ChartKind = "line"
    x: str = Field(min_length=1, description="The column along the x axis.")
    y: list[str] = Field(
        default_factory=list, description="The columns drawn (line, bar, area, scatter)."
    )
    # Candlestick columns.
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    title: str | None = Field(default=None, max_length=200)
    # A column whose values split the rows into one trace each (a symbol, a sector).
    series: str | None = None

    @model_validator(mode="after")
    def _y_for_xy(self) -> ChartSpec:
        if self.kind != "candlestick" and not self.y:
            raise ValueError(f"y: a {self.kind} chart needs at least one y column")
        return self


def _column(rows: list[dict[str, Any]], name: str, keys: set[str]) -> list[Any]:
    if name not in keys:
        raise BadParamError(f"The chart's column {name!r} is not in the query's result.")
    return [row.get(name) for row in rows]


def _traces(spec: ChartSpec, rows: list[dict[str, Any]], keys: set[str], label: str) -> list[Any]:
    import plotly.graph_objects as go  # heavy: only when a chart is drawn

    x = _column(rows, spec.x, keys)
    if spec.kind == "candlestick":
        return [
            go.Candlestick(
                x=x,
                open=_column(rows, spec.open, keys),
                high=_column(rows, spec.high, keys),
                low=_column(rows, spec.low, keys),
                close=_column(rows, spec.close, keys),
                name=label or spec.close,
            )
        ]
    traces: list[Any] = []
    for column in spec.y:
        y = _column(rows, column, keys)
        name = f"{label} {column}".strip() if len(spec.y) > 1 or not label else label
        if spec.kind == "bar":
            traces.append(go.Bar(x=x, y=y, name=name))
        elif spec.kind == "scatter":
            traces.append(go.Scatter(x=x, y=y, name=name, mode="markers"))
        elif spec.kind == "area":
            traces.append(go.Scatter(x=x, y=y, name=name, mode="lines", fill="tozeroy"))
        else:
            traces.append(go.Scatter(x=x, y=y, name=name, mode="lines"))
    return traces


def chart_rows(result: QueryResult) -> list[dict[str, Any]]:
    """The rows as the contract writes them (what ``raw=true`` answers)."""
    rows: list[dict[str, Any]] = orjson.loads(dumps(records(result)))
    return rows


def figure(spec: ChartSpec, result: QueryResult, theme: str = "dark") -> dict[str, Any]:
    """The figure JSON for ``result``, in ``theme`` (``dark`` or ``light``)."""
    import plotly.graph_objects as go  # heavy: only when a chart is drawn

    rows = chart_rows(result)
    keys = set(record_keys(result.columns))
    traces: list[Any] = []
    if spec.series:
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(str(_column([row], spec.series, keys)[0]), []).append(row)
        for label, group in groups.items():
            traces.extend(_traces(spec, group, keys, label))
    else:
        traces = _traces(spec, rows, keys, "")
    fig = go.Figure(data=traces)
    fig.update_layout(
        template=TEMPLATES.get(theme, TEMPLATES["dark"]),
        title=spec.title,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 40, "r": 20, "t": 40 if spec.title else 20, "b": 40},
        xaxis_title=spec.x,
        xaxis_rangeslider_visible=False,
        showlegend=len(traces) > 1,
    )
    body: dict[str, Any] = orjson.loads(fig.to_json())
    return body
