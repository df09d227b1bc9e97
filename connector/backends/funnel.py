"""The one funnel from driver and SQLAlchemy exceptions to ``connector.errors``.

Each backend declares an ``ErrorTable``: how to read its driver's error number and
message, and rules, most specific first, saying which of our errors a failure is. The
funnel applies the table, then the rules every kind shares (PEP 249 classes and
SQLAlchemy's own errors). It is pure: it reads the exception and returns an error, and
never touches the query's state. Whether a query was stopped is the runner's business
(``QueryControl.stopped_error``), not a translation.

``classify`` answers "which rule matched", so a test can require that every driver error
class is *mapped* rather than caught by the last-resort fallback.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from connector.errors import ConnectorError, DatabaseUnavailableError, SqlError

Code = int | str | None
Sentence = str | Callable[[str], str | None]


def first_sentence(message: object, limit: int = 300) -> str:
    """The first line of a driver message, trimmed, ending with a full stop."""
    text = str(message).strip().splitlines()[0].strip() if str(message).strip() else ""
    text = text[:limit] or "the database reported an error without a message"
    return text if text.endswith((".", "?", "!")) else text + "."


@dataclass(frozen=True)
class ErrorRule:
    """One way a driver failure shows itself, and what it means for a user.

    Every criterion given must hold: ``codes`` (the driver's error number or SQLSTATE is
    one of them), ``prefixes`` (the SQLSTATE starts with one), ``classes`` (the name of one
    of the exception's classes), ``phrases`` (one of them is in the lower-cased message) and
    ``coded`` (the driver gave a code at all).
    ``sentence`` is our sentence, or a function of the driver's message that may return None
    to say "not this rule after all"; without one, the driver's first sentence follows
    ``prefix``.
    """

    error: type[ConnectorError]
    sentence: Sentence | None = None
    codes: frozenset[int | str] = frozenset()
    prefixes: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    prefix: str = ""
    # Only when the driver gave an error number or SQLSTATE (the server answered).
    coded: bool = False

    def matches(self, exc: BaseException, code: Code, lowered: str) -> bool:
        if self.coded and code is None:
            return False
        if self.codes and code not in self.codes:
            return False
        if self.prefixes and not (isinstance(code, str) and code.startswith(self.prefixes)):
            return False
        if self.classes and not _class_names(exc) & set(self.classes):
            return False
        return not self.phrases or any(phrase in lowered for phrase in self.phrases)

    def build(self, message: str) -> ConnectorError | None:
        if callable(self.sentence):
            text = self.sentence(message)
            return None if text is None else self.error(text)
        if self.sentence is not None:
            return self.error(self.sentence)
        return self.error(self.prefix + first_sentence(message))


def _no_code(_exc: BaseException) -> Code:
    return None


def _plain_message(exc: BaseException) -> str:
    return str(exc)


@dataclass(frozen=True)
class ErrorTable:
    """A kind's rules, and how to read its driver's errors."""

    label: str
    rules: tuple[ErrorRule, ...] = ()
    code_of: Callable[[BaseException], Code] = _no_code
    message_of: Callable[[BaseException], str] = _plain_message
    # Put before a driver sentence that no rule rewrote, e.g. "Snowflake: ".
    prefix: str = ""
    shared: tuple[ErrorRule, ...] = field(default=())


def _class_names(exc: BaseException) -> set[str]:
    return {klass.__name__ for klass in type(exc).__mro__}


def pep249_rules(prefix: str = "") -> tuple[ErrorRule, ...]:
    """PEP 249's error classes, most specific first: the SQL's fault, or the database's."""
    return (
        ErrorRule(SqlError, classes=("ProgrammingError",), prefix=prefix),
        ErrorRule(SqlError, classes=("IntegrityError",), prefix=prefix),
        ErrorRule(SqlError, classes=("DataError",), prefix=prefix),
        ErrorRule(SqlError, classes=("NotSupportedError",), prefix=prefix),
        ErrorRule(DatabaseUnavailableError, classes=("InternalError",), prefix=prefix),
        ErrorRule(DatabaseUnavailableError, classes=("OperationalError",), prefix=prefix),
        ErrorRule(DatabaseUnavailableError, classes=("InterfaceError",), prefix=prefix),
        ErrorRule(DatabaseUnavailableError, classes=("DatabaseError",), prefix=prefix),
        ErrorRule(DatabaseUnavailableError, classes=("Error",), prefix=prefix),
        ErrorRule(SqlError, classes=("Warning",), prefix=prefix),
    )


# SQLAlchemy's own errors (not a driver's, which arrive wrapped with ``.orig``): a pool
# with no free connection, a closed result, a dialect that is missing. None of them is the
# user's SQL.
SQLALCHEMY_RULES: tuple[ErrorRule, ...] = (
    # The network or the file system under the driver.
    ErrorRule(
        DatabaseUnavailableError, classes=("OSError",), prefix="The connection to it failed: "
    ),
    ErrorRule(
        DatabaseUnavailableError,
        "Every connection to this database is busy; try again in a moment.",
        classes=("TimeoutError",),
        phrases=("queuepool limit",),
    ),
    ErrorRule(DatabaseUnavailableError, classes=("SQLAlchemyError",), prefix="SQLAlchemy: "),
)


def _unwrap(exc: BaseException) -> BaseException:
    """The driver's exception inside SQLAlchemy's wrapper, if any."""
    seen = 0
    while isinstance(getattr(exc, "orig", None), BaseException) and seen < 5:
        exc = exc.orig  # type: ignore[attr-defined]
        seen += 1
    return exc


def classify(exc: BaseException, table: ErrorTable) -> tuple[ConnectorError, str] | None:
    """Our error for ``exc`` and which rule set gave it (``kind``, ``pep249`` or
    ``sqlalchemy``); None when nothing maps it."""
    if isinstance(exc, ConnectorError):
        return exc, "ours"
    inner = _unwrap(exc)
    code = table.code_of(inner)
    message = table.message_of(inner)
    lowered = message.lower()
    groups: Iterable[tuple[str, tuple[ErrorRule, ...]]] = (
        ("kind", table.rules),
        ("kind", table.shared),
        ("pep249", pep249_rules(table.prefix)),
        ("sqlalchemy", SQLALCHEMY_RULES),
    )
    for source, rules in groups:
        for rule in rules:
            if rule.matches(inner, code, lowered):
                error = rule.build(message)
                if error is not None:
                    return error, source
    return None


def translate(exc: BaseException, table: ErrorTable) -> ConnectorError:
    """Our error for any exception a backend lets through."""
    found = classify(exc, table)
    if found is not None:
        return found[0]
    return DatabaseUnavailableError(f"The {table.label} driver failed: {first_sentence(exc)}")
