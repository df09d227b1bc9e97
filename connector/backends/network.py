"""What the network database backends (MySQL/MariaDB, PostgreSQL) share: option checks for
host, port, user and database, turning a failed connect into one sentence that says
which part was wrong (password, host, port or database), never echoing the password, the
shape of their read-only guard rules (``SessionGuard``), and how their pools hand out and
take back connections (``pool_rules``).

A pooled connection is checked for life without a round trip: one that the server closed
(a restart, a terminated session, an idle timeout) has bytes or an end of file waiting on
its socket, so only such a connection, or one idle for ``PING_IDLE_S``, is pinged before
it is handed out (SQLAlchemy's ``pool_pre_ping`` pings every time: a round trip per
query). A connection whose session ended clean (``mark_clean``) skips the pool's
rollback on return, which PyMySQL sends even with no transaction open.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import logging
import re
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlglot import expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from connector.backends.base import Backend
from connector.backends.funnel import ErrorRule, first_sentence
from connector.errors import DatabaseUnavailableError, ReadOnlyError
from connector.models import ProbeResult
from connector.statements import GuardCheck, GuardRules

CONNECT_TIMEOUT_S = 10
# A pool per connection: a few warm connections, a few more under a burst.
POOL_SIZE = 5
POOL_OVERFLOW = 5
POOL_RECYCLE_S = 1800
# A pooled connection idle this long is pinged before use even when its socket is quiet
# (a connection dropped on the way, by a firewall, leaves no trace on the socket).
PING_IDLE_S = 30.0

log = logging.getLogger(__name__)

_HOST = re.compile(r"^[A-Za-z0-9._\-]+$|^\[?[0-9A-Fa-f:.]+(%\w+)?\]?$")
_QUOTES = ("'", '"', "`", "\x00")


class NetworkOptions(BaseModel):
    """Options every network database needs; subclasses set the default port."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(
        min_length=1,
        max_length=255,
        title="Host",
        description="The server's host name or IP address, without a scheme or port.",
    )
    port: int = Field(ge=1, le=65535, title="Port", description="The server's TCP port.")
    user: str = Field(
        min_length=1, max_length=128, title="User", description="The user name to sign in as."
    )
    database: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        title="Database",
        description="The database to open; none for the server's default.",
    )
    connect_timeout_s: int = Field(
        default=CONNECT_TIMEOUT_S,
        ge=1,
        le=300,
        title="Connect timeout (s)",
        description="Seconds to wait for the server to answer a new connection.",
        json_schema_extra={"advanced": True},
    )

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        value = value.strip()
        if "://" in value:
            raise ValueError("give the host name or address alone, without a scheme like mysql://")
        if "@" in value or "/" in value:
            raise ValueError("give the host name or address alone, without a user or path")
        if not _HOST.match(value):
            raise ValueError(f"{value!r} is not a host name or IP address")
        return value.strip("[]")

    @field_validator("user")
    @classmethod
    def _plain_user(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("the user name contains a NUL character")
        return value

    @field_validator("database")
    @classmethod
    def _plain_database(cls, value: str | None) -> str | None:
        if value is not None and any(quote in value for quote in _QUOTES):
            raise ValueError("a database name may not contain quotes, backticks or NUL")
        return value


def connect_rule(label: str, **criteria: Any) -> ErrorRule:
    """The rule that names which part of a failed connect was wrong, when the message says."""

    def sentence(message: str) -> str | None:
        failure = connect_failure(label, message)
        return None if failure is None else failure.detail

    return ErrorRule(DatabaseUnavailableError, sentence, **criteria)


def connect_failure(
    label: str, message: str, options: dict[str, Any] | None = None
) -> DatabaseUnavailableError | None:
    """The sentence for a failed connect, when ``message`` says which part was wrong."""
    lowered = message.lower()
    where = ""
    if options:
        where = f" at {options.get('host')}:{options.get('port')}"
    if (
        ("access denied for user" in lowered and "to database" not in lowered)
        or "password authentication failed" in lowered
        or ("role" in lowered and "does not exist" in lowered)
        or "no password supplied" in lowered
    ):
        return DatabaseUnavailableError(
            f"{label}{where} refused the login: wrong user name or password."
        )
    if (
        "unknown database" in lowered
        or ("database" in lowered and "does not exist" in lowered)
        or ("access denied for user" in lowered and "to database" in lowered)
    ):
        return DatabaseUnavailableError(
            f"{label}{where} has no database by that name that this user may open."
        )
    if any(
        text in lowered
        for text in (
            "name or service not known",
            "could not translate host name",
            "failed to resolve host",
            "nodename nor servname",
            "temporary failure in name resolution",
            "no address associated",
            "getaddrinfo failed",
            "errno -2",
            "errno -3",
            "errno -5",
        )
    ):
        return DatabaseUnavailableError(
            f"Unknown host: the name of the {label} server{where} does not resolve."
        )
    if "connection refused" in lowered or "errno 111" in lowered:
        return DatabaseUnavailableError(
            f"Nothing answers{where}: the port is closed or the {label} server is not running."
        )
    if "timed out" in lowered or "timeout expired" in lowered or "connection timeout" in lowered:
        return DatabaseUnavailableError(
            f"{label}{where} did not answer within the connect timeout."
        )
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        return DatabaseUnavailableError(
            f"The TLS handshake with {label}{where} failed: {first_sentence(message)}"
        )
    return None


@dataclass(frozen=True, eq=False)
class SessionGuard:
    """A network kind's read-only rules, beside the shared guard's.

    The database session is read-only and reset after every request, so what is left for
    the guard is what a read-only session still lets a statement do to others: act on other
    sessions, take locks or change state that a reset would be too late for, or touch the
    server's files. So on a read-only connection:

    - a statement must start (after any parentheses) with one of ``statements``, the words
      of statements that only read (``KILL``, ``SET``, ``PREPARE``, ``USE``, ``ANALYZE``,
      ``LOCK``, ``CALL``, ``DO``, ``LOAD``, ``BEGIN`` ... are refused as a class);
    - no name outside a string literal may be one of ``functions`` or start with one of
      ``prefixes`` (upper case, each with why it is refused), wherever it appears: in a
      subquery, after a schema, quoted, or under ``EXPLAIN ANALYZE``;
    - ``extra`` holds the dialect's own checks (MariaDB's executable comments).
    """

    dialect: str
    statements: frozenset[str]
    functions: tuple[tuple[str, str], ...]
    prefixes: tuple[tuple[str, str], ...] = ()
    extra: GuardCheck | None = None

    def check(self, tokens: Sequence[Token], trees: Sequence[exp.Expression]) -> None:
        first = next((t for t in tokens if t.token_type != TokenType.L_PAREN), None)
        if first is not None and first.text.upper() not in self.statements:
            raise ReadOnlyError(
                f"This connection is read-only and refuses {first.text.upper()} statements."
            )
        tokens = self._unfolded(tokens)
        functions = dict(self.functions)
        for token in tokens:
            if token.token_type.name.endswith("STRING"):
                continue
            name = token.text.upper()
            why = functions.get(name) or next(
                (reason for prefix, reason in self.prefixes if name.startswith(prefix)), None
            )
            if why is not None:
                raise ReadOnlyError(f"This connection is read-only and refuses {name}(): {why}.")
        if self.extra is not None:
            self.extra(tokens, trees)

    def _unfolded(self, tokens: Sequence[Token]) -> Sequence[Token]:
        """The tokens, with what follows a command word read as SQL: sqlglot's tokenizer
        keeps the rest of ``EXPLAIN ...`` or ``SHOW ...`` (PostgreSQL) as one string."""
        tokenizer = Dialect.get_or_raise(self.dialect).tokenizer_class
        if len(tokens) < 2 or tokens[0].token_type not in tokenizer.COMMANDS:
            return tokens
        if tokens[1].token_type != TokenType.STRING:
            return tokens
        try:
            rest = Dialect.get_or_raise(self.dialect).tokenize(tokens[1].text)
        except SqlglotError as exc:
            raise ReadOnlyError(
                f"This connection is read-only and cannot read what follows "
                f"{tokens[0].text.upper()}."
            ) from exc
        return [tokens[0], *self._unfolded(rest), *tokens[2:]]

    def rules(self) -> GuardRules:
        return GuardRules(check=self.check)


_DISCARD = "connector_discard"
_CLEAN = "connector_clean"
_RETURNED = "connector_returned"


def discard_later(connection: Any, why: str) -> None:
    """Have the pool close ``connection`` (a DBAPI connection) when it comes back, instead
    of handing out a session whose reset failed; the request that used it keeps its result."""
    log.warning("dropping a database session that could not be reset: %s", why)
    setattr(connection, _DISCARD, True)


def mark_clean(connection: Any) -> None:
    """``connection``'s session ended with no transaction open: the pool's rollback on
    return has nothing to do. Cleared at that return, so any later use without a session
    (a schema read) gets the rollback again."""
    setattr(connection, _CLEAN, True)


def socket_stirred(fileno: int | None) -> bool:
    """True when the socket has something to read, or is closed: an idle database
    connection has nothing waiting, so the server sent an error or hung up."""
    if fileno is None or fileno < 0:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fileno, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        readable, _, failed = select.select([fileno], [], [fileno], 0)
        return bool(readable or failed)
    except (OSError, ValueError):
        return True


def pool_rules(engine: Engine, fileno: Any) -> None:
    """How ``engine``'s pool treats its connections; ``fileno(dbapi_connection)`` gives the
    connection's socket (None when it has none). The engine is made with
    ``pool_pre_ping=False`` and ``pool_reset_on_return=None``: this does both, cheaper.

    - At check-out a connection that was in the pool is pinged only when its socket
      stirred or it sat idle ``PING_IDLE_S``; a failed ping replaces it (SQLAlchemy
      retries the check-out with a new connection).
    - At return the rollback is skipped after a session that ended clean.
    - At check-in a connection marked by ``discard_later`` is closed.
    """

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        returned = getattr(dbapi_connection, _RETURNED, None)
        if returned is None:
            return  # just connected
        quiet = not socket_stirred(fileno(dbapi_connection))
        if quiet and time.monotonic() - returned < PING_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"the pooled connection is gone: {exc}") from exc
        if not alive:
            raise DisconnectionError("the pooled connection did not answer its ping")

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection: Any, _record: Any, _state: Any) -> None:
        if getattr(dbapi_connection, _CLEAN, False):
            setattr(dbapi_connection, _CLEAN, False)
            return
        dbapi_connection.rollback()

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None:
            return
        if getattr(dbapi_connection, _DISCARD, False):
            record.invalidate()
            return
        setattr(dbapi_connection, _RETURNED, time.monotonic())


class NetworkBackend(Backend):
    """A backend for a database server: a failed connection test names the server."""

    secret_help = "The user's password (kept in the system keychain); none for a login without one."
    # Another database on the same server, as the same user, may reuse the password; a new
    # host, port, user or TLS setting needs it again.
    secret_free_options = frozenset({"database", "connect_timeout_s"})

    def probe(self, engine: Engine) -> ProbeResult:
        try:
            return super().probe(engine)
        except Exception as exc:
            orig = getattr(exc, "orig", None) or exc
            place = {"host": engine.url.host, "port": engine.url.port}
            failure = connect_failure(self.label, str(orig), place)
            if failure is None:
                raise
            raise failure from exc
