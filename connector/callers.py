"""Who is asking: the name of the API key a request came with, for the request's duration.

The HTTP guard sets ``current_caller`` once it has checked the key; everything the request
runs (in its task, and in the worker threads anyio hands it to, which copy the context)
reads it from there, so a query's history entry names its caller without every layer
passing it along. Outside a request it is None.

Must not import anything of the connector.
"""

from __future__ import annotations

from contextvars import ContextVar

current_caller: ContextVar[str | None] = ContextVar("current_caller", default=None)
