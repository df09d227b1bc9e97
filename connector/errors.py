"""The connector's error tree: every failure a user can meet, with its HTTP status and code.

Core code raises these and never an HTTP exception. ``error_body`` is the one function that
writes the contract's JSON shape ``{"detail": ..., "code": ...}``; ``connector.app`` and
the HTTP guard send every error through it. A ``detail`` is one
human sentence and never carries a password, key, token or bound parameter value.

    ConnectorError (500 internal_error)
    +-- StorageError (500 storage_error)    the data folder cannot be written (read-only, full)
    +-- BadRequestError (400)
    |   +-- SqlError (sql_error)            the database or the parser rejected the SQL
    |   +-- ReadOnlyError (read_only)       a write on a read-only connection
    |   +-- BadParamError (bad_param)       a parameter value that cannot be bound
    +-- AuthRequiredError (401 auth_required)
    +-- AuthInvalidError (403 auth_invalid)
    +-- NotFoundError (404 not_found)
    +-- MethodNotAllowedError (405 method_not_allowed)
    +-- ConflictError (409 conflict)
    +-- TooLargeError (413 too_large)
    +-- UnsupportedMediaTypeError (415 unsupported_media_type)
    +-- BadHostError (421 bad_host)
    +-- InvalidRequestError (422 invalid_request)
    +-- DatabaseUnavailableError (502 db_unavailable)
    +-- QueryTimeoutError (504 timeout)
    +-- QueryCancelledError (499 cancelled)

Must not import FastAPI, Starlette or any driver.
"""

from __future__ import annotations

from typing import ClassVar


class ConnectorError(Exception):
    """Base of every error the connector reports to a user."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StorageError(ConnectorError):
    status = 500
    code = "storage_error"


class BadRequestError(ConnectorError):
    status = 400
    code = "bad_request"


class SqlError(BadRequestError):
    code = "sql_error"


class ReadOnlyError(BadRequestError):
    code = "read_only"


class BadParamError(BadRequestError):
    code = "bad_param"


class AuthRequiredError(ConnectorError):
    status = 401
    code = "auth_required"


class AuthInvalidError(ConnectorError):
    status = 403
    code = "auth_invalid"


class NotFoundError(ConnectorError):
    status = 404
    code = "not_found"


class MethodNotAllowedError(ConnectorError):
    status = 405
    code = "method_not_allowed"


class ConflictError(ConnectorError):
    status = 409
    code = "conflict"


class TooLargeError(ConnectorError):
    status = 413
    code = "too_large"


class UnsupportedMediaTypeError(ConnectorError):
    status = 415
    code = "unsupported_media_type"


class BadHostError(ConnectorError):
    status = 421
    code = "bad_host"


class InvalidRequestError(ConnectorError):
    status = 422
    code = "invalid_request"


class DatabaseUnavailableError(ConnectorError):
    status = 502
    code = "db_unavailable"


class QueryTimeoutError(ConnectorError):
    status = 504
    code = "timeout"


class QueryCancelledError(ConnectorError):
    status = 499
    code = "cancelled"


def error_body(error: ConnectorError) -> dict[str, str]:
    """The contract's JSON body for an error: the only place that writes one."""
    return {"detail": error.detail, "code": error.code}


def unexpected_error() -> ConnectorError:
    """What a user is told of a failure that is the connector's own bug."""
    return ConnectorError("An unexpected error occurred; the server log has details.")
