"""``GET /kinds``: every database kind with its options and capabilities.

The desktop app's connection form and any other client build their forms from this; it is
``connector.backends.describe_kinds()`` as JSON.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from connector.api import openapi
from connector.api.deps import JSONBytes
from connector.api.work import pools_of, run_control
from connector.backends import describe_kinds
from connector.models import KindInfo

router = APIRouter(tags=["service"], responses=openapi.KEYED)


@router.get("/kinds", response_class=JSONBytes, response_model=list[KindInfo])
async def kinds(http: Request) -> JSONBytes:
    # Describing a kind imports its driver the first time: off the event loop.
    described = await run_control(pools_of(http), describe_kinds)
    return JSONBytes([dataclasses.asdict(kind) for kind in described])
