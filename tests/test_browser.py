"""The browser path in a real browser: Debian's Chromium, driven by Playwright, loads a page
from an allowed origin that fetches /widgets.json with the API key, runs a saved query and
shows its rows; the same page from an origin outside the allow-list is blocked by CORS; a
cross-site text/plain form POST cannot run a query."""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connector.ports import recommend_port
from tests.conftest import (
    LiveServer,
    assert_one_sentence,
    require_service,
    start_server,
    stop_server,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>widgets</title></head>
<body>
<p id="status">starting</p>
<ul id="widgets"></ul>
<table id="rows"></table>
<form id="attack" method="POST" enctype="text/plain">
  <input type="hidden" id="payload" value="">
</form>
<script>
async function show() {
  const {api, key, widget} = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  const status = document.getElementById("status");
  try {
    const headers = {"X-API-KEY": key};
    const widgets = await (await fetch(api + "/widgets.json", {headers})).json();
    for (const [id, w] of Object.entries(widgets)) {
      const li = document.createElement("li");
      li.textContent = id + ": " + w.name + " (" + w.type + ")";
      document.getElementById("widgets").appendChild(li);
    }
    const endpoint = widgets["saved_" + widget].endpoint;
    const rows = await (await fetch(api + "/" + endpoint + "?limit=3", {headers})).json();
    const table = document.getElementById("rows");
    for (const row of rows) {
      const tr = table.insertRow();
      for (const value of Object.values(row)) tr.insertCell().textContent = String(value);
    }
    status.textContent = "shown " + rows.length + " rows";
  } catch (error) {
    status.textContent = "blocked: " + error;
  }
}
function attack(api) {
  const form = document.getElementById("attack");
  form.action = api + "/connections/sample/query";
  const input = document.getElementById("payload");
  input.name = '{"sql": "SELECT 4242 AS pwned", "x": "';
  input.value = '"}';
  form.submit();
}
show();
</script>
</body></html>
"""


class StaticSite:
    """A static page served from its own origin (http://localhost:PORT)."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.port = recommend_port(22000 + os.getpid() % 18000)
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.origin = f"http://localhost:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StaticSite, StaticSite]]:
    folder = tmp_path_factory.mktemp("site")
    (folder / "index.html").write_text(PAGE)
    allowed, outside = StaticSite(folder), StaticSite(folder)
    yield allowed, outside
    allowed.close()
    outside.close()


def _start(data_dir: Path, sample_db: Path, *extra: str, origin: str) -> LiveServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db, data_dir / "sample.db")
    env = {"CONNECTOR_CORS_ORIGINS": json.dumps([origin])}
    return start_server(data_dir, *extra, env=env)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_service(Path(CHROMIUM).exists(), f"Debian's Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser: Any, site: StaticSite, server: LiveServer, widget: str) -> Any:
    page = browser.new_page()
    state = json.dumps({"api": server.url, "key": server.api_key, "widget": widget})
    page.goto(f"{site.origin}/index.html#{state}")
    page.wait_for_function(
        "document.getElementById('status').textContent !== 'starting'", timeout=20_000
    )
    return page


def test_browser_allowed_origin_shows_rows_and_other_origin_is_blocked(
    browser: Any, sites: tuple[StaticSite, StaticSite], tmp_path: Path, sample_db: Path
) -> None:
    allowed, outside = sites
    server = _start(tmp_path / "data", sample_db, origin=allowed.origin)
    try:
        with server.client() as client:
            created = client.post(
                "/saved-queries",
                json={
                    "name": "leaders",
                    "connection": "sample",
                    "sql": "SELECT symbol, name, sector FROM tickers ORDER BY symbol LIMIT :limit",
                    "params": [{"name": "limit", "type": "number", "default": 3}],
                },
            )
            assert created.status_code == 201, created.text
            expected = client.get("/widgets/leaders").json()
        page = _open(browser, allowed, server, "leaders")
        assert page.text_content("#status") == "shown 3 rows"
        widgets = page.locator("#widgets li").all_text_contents()
        assert "saved_leaders: leaders (table)" in widgets
        assert "sql_sample: SQL on sample (omni)" in widgets
        cells = [row.locator("td").all_text_contents() for row in page.locator("#rows tr").all()]
        assert cells == [[str(value) for value in row.values()] for row in expected]
        page.close()

        blocked = _open(browser, outside, server, "leaders")
        assert blocked.text_content("#status") == "blocked: TypeError: Failed to fetch"
        assert blocked.locator("#rows tr").count() == 0
        blocked.close()
        with server.client() as client:
            origins = {entry["client"] for entry in client.get("/history").json()}
        assert outside.origin not in origins  # the preflight failed: nothing ran
        assert allowed.origin in origins
    finally:
        stop_server(server)


@pytest.mark.parametrize("auth", [True, False], ids=["with-key", "no-auth"])
def test_browser_cross_site_text_plain_form_cannot_run_a_query(
    browser: Any,
    sites: tuple[StaticSite, StaticSite],
    tmp_path: Path,
    sample_db: Path,
    auth: bool,
) -> None:
    _, outside = sites
    extra = () if auth else ("--no-auth",)
    server = _start(tmp_path / "data", sample_db, *extra, origin="http://localhost:1")
    try:
        page = _open(browser, outside, server, "none")
        with page.expect_navigation() as navigation:
            page.evaluate("api => attack(api)", server.url)
        answer = json.loads(page.text_content("body") or "{}")
        # Without a key the form is stopped at the key check; even with auth off, a
        # text/plain body is refused before any SQL is read.
        status, code = (401, "auth_required") if auth else (415, "unsupported_media_type")
        assert navigation.value.status == status
        assert set(answer) == {"detail", "code"} and answer["code"] == code, answer
        assert_one_sentence(answer["detail"])
        assert "pwned" not in (page.content())
        page.close()
        with server.client() as client:
            history = client.get("/history").json()
        assert not any("pwned" in entry["sql"] for entry in history)
    finally:
        stop_server(server)
