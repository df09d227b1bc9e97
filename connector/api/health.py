"""``GET /health``: liveness, version and uptime; the one endpoint open without a key."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from connector import __version__
from connector.api import openapi
from connector.api.deps import JSONBytes

router = APIRouter(tags=["service"], responses=openapi.OPEN)


@router.get("/health", response_class=JSONBytes, response_model=openapi.HealthBody)
async def health(request: Request) -> JSONBytes:
    started: float = request.app.state.started
    return JSONBytes(
        {"status": "ok", "version": __version__, "uptime_s": round(time.monotonic() - started, 1)}
    )
