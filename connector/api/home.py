"""``GET /``: what this server is, for a person with a browser or a validator's first
request, and ``GET /docs``: FastAPI's interactive docs. Both are open without a key, like
``/health``, and show no data: the version, whether the API key is on, the API's shape.
The docs page carries the OpenAPI description in itself (``/openapi.json`` needs the key),
and its Authorize button takes the key for the calls tried from it."""

from __future__ import annotations

import copy
import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from connector import __version__
from connector.api import openapi
from connector.api.deps import JSONBytes
from connector.values import dumps

router = APIRouter(tags=["service"], responses=openapi.OPEN)

PROJECT_DOCS = 'the README\'s section "OpenBB Workspace: saved queries as widgets"'


def _about(auth: bool) -> dict[str, object]:
    return {
        "name": "Data Connector",
        "description": "Runs SQL against your own databases for OpenBB Workspace and scripts.",
        "version": __version__,
        "auth": "on: send the key as X-API-KEY or Authorization: Bearer" if auth else "off",
        "health": "/health",
        "openbb": {"widgets": "/widgets.json", "apps": "/apps.json"},
        "openapi": "/openapi.json (needs the key)",
        "interactive_docs": "/docs",
        "docs": f"see {PROJECT_DOCS}; 'data-connector openbb' prints the link and header",
    }


def _page(about: dict[str, object]) -> str:
    auth = html.escape(str(about["auth"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data Connector {__version__}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;line-height:1.5}}
code{{background:#f2f2f2;padding:0 .25rem}}</style></head>
<body><h1>Data Connector {html.escape(__version__)}</h1>
<p>This server runs SQL against your own databases for OpenBB Workspace and for scripts.
Your data stays where it is.</p>
<p>API key: <strong>{auth}</strong>. Every endpoint but <code>/</code> and
<code>/health</code> needs it.</p>
<h2>Connect OpenBB Workspace</h2>
<ol><li>Run <code>data-connector openbb</code> (or use <em>Open in OpenBB</em> in the desktop
app): it prints this server's URL, the link and the header with your key.</li>
<li>In Workspace, add a custom backend with that URL and the header
<code>X-API-KEY: &lt;your key&gt;</code>; it reads <code>/widgets.json</code> and
<code>/apps.json</code>.</li></ol>
<p>Try the API in the browser: <a href="/docs">/docs</a> (Authorize with your key).
More: {html.escape(PROJECT_DOCS)}. The OpenAPI description is at
<code>/openapi.json</code> (with the key).</p></body></html>"""


SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"


def _with_key_scheme(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-KEY"}
    spec["security"] = [{"apiKey": []}]
    return spec


def _docs_page(spec: dict[str, Any]) -> str:
    # The spec is JSON inside a script: "</" is escaped so no string in it ends the script.
    inline = dumps(_with_key_scheme(spec)).decode().replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data Connector API</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{spec: {inline}, dom_id: "#docs", persistAuthorization: false}});</script>
</body></html>"""


@router.get("/", response_model=None)
async def home(request: Request) -> Response:
    about = _about(request.app.state.runtime.api_key is not None)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_page(about))
    return JSONBytes(about)


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(_docs_page(request.app.openapi()))
