"""The canary watch itself (``tests/canary.py``, ``tests/conftest.py``): it finds the
secret in each form it looks for, and an answer or a log record holding it is noted."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest

from tests import canary, conftest


@pytest.mark.parametrize(
    "text",
    [
        canary.SECRET,
        quote_plus(canary.SECRET),
        canary.SECRET.encode().hex(),
        canary.SECRET.encode().hex().upper(),
        base64.b64encode(canary.SECRET.encode()).decode(),
        base64.b64encode(b"user:" + canary.SECRET.encode()).decode(),  # Basic auth
        base64.b64encode(b"ab" + canary.SECRET.encode() + b"cd").decode(),
    ],
)
def test_every_form_of_the_secret_is_found(text: str) -> None:
    assert canary.leaked("before " + text + " after") is not None


def test_other_text_is_not_taken_for_the_secret() -> None:
    assert canary.leaked("p@ss: w/rd and other words, 20 #x") is None
    assert canary.leaked(base64.b64encode(b"an ordinary value of a column")) is None


def test_an_answer_and_a_log_record_holding_the_secret_are_noted(tmp_path: Path) -> None:
    request = httpx.Request("GET", "http://localhost/connections")
    conftest._watch_answer(httpx.Response(200, content=b"{}", request=request))
    assert conftest._LEAKS == []
    leaking = httpx.Response(200, json={"dsn": f"pg://u:{canary.SECRET}@h"}, request=request)
    conftest._watch_answer(leaking)
    logging.getLogger("connector.test").warning("could not connect with %s", canary.SECRET)
    noted = list(conftest._LEAKS)
    conftest._LEAKS.clear()  # this test's leaks are made on purpose
    assert len(noted) == 2 and "GET /connections answered 200" in noted[0], noted
    (tmp_path / "secrets.json").write_text(canary.SECRET)  # where it is meant to be
    (tmp_path / "server.log").write_text(quote_plus(canary.SECRET))
    assert canary.leaked_files(tmp_path) == ["server.log"]
    (tmp_path / "server.log").unlink()
