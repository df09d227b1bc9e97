"""The server-side row model as Workspace calls it: POST with an AG Grid body (GET kept),
paging, sorting and text/number/date/set filters done by the database with bound values
and quoted identifiers; a filter that cannot be used is a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error

SQL = "SELECT symbol, date, close, volume FROM daily_prices WHERE symbol IN (:t)"


@pytest.fixture
def ssrm(client: TestClient) -> TestClient:
    body = {
        "name": "prices",
        "connection": "sample",
        "sql": SQL,
        "params": [{"name": "t", "type": "ticker", "multiple": True, "default": "ABF,ACM"}],
        "widget": {"type": "ssrm_table"},
    }
    assert client.post("/saved-queries", json=body).status_code == 201
    return client


def _count(client: TestClient, where: str, params: dict[str, Any]) -> int:
    sql = f"SELECT count(*) FROM daily_prices WHERE symbol IN ('ABF', 'ACM') AND ({where})"
    answer = client.post("/connections/sample/query", json={"sql": sql, "params": params})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["rows"][0][0])


def _page(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/widgets/prices", json={"startRow": 0, "endRow": 50, **body})
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def test_ssrm_widget_type_is_the_frontends(ssrm: TestClient) -> None:
    widgets = ssrm.get("/widgets.json").json()
    assert widgets["saved_prices"]["type"] == "ssrm_table"
    old = ssrm.post(
        "/saved-queries",
        json={"name": "old", "connection": "sample", "sql": "SELECT 1 AS n",
              "widget": {"type": "table_ssrm"}},
    )  # fmt: skip
    assert old.status_code == 201 and old.json()["widget"]["type"] == "ssrm_table"


def test_ssrm_post_pages_and_counts_like_get(ssrm: TestClient) -> None:
    posted = _page(ssrm, startRow=5, endRow=8, sortModel=[{"colId": "close", "sort": "desc"}])
    got = ssrm.get(
        "/widgets/prices",
        params={"startRow": 5, "endRow": 8, "sortModel": '[{"colId": "close", "sort": "desc"}]'},
    ).json()
    assert posted == got and len(posted["rowData"]) == 3
    assert posted["rowCount"] == _count(ssrm, "1 = 1", {})
    closes = [
        row["close"]
        for row in _page(ssrm, sortModel=[{"colId": "close", "sort": "desc"}])["rowData"]
    ]
    assert closes == sorted(closes, reverse=True)


def test_ssrm_text_filters(ssrm: TestClient) -> None:
    page = _page(
        ssrm, filterModel={"symbol": {"filterType": "text", "type": "equals", "filter": "ABF"}}
    )
    assert page["rowCount"] == _count(ssrm, "symbol = 'ABF'", {}) > 0
    assert {row["symbol"] for row in page["rowData"]} == {"ABF"}
    contains = _page(
        ssrm, filterModel={"symbol": {"filterType": "text", "type": "contains", "filter": "cm"}}
    )
    assert contains["rowCount"] == _count(ssrm, "symbol = 'ACM'", {})
    starts = _page(
        ssrm, filterModel={"symbol": {"filterType": "text", "type": "startsWith", "filter": "A"}}
    )
    assert starts["rowCount"] == _count(ssrm, "1 = 1", {})
    wildcard = _page(
        ssrm, filterModel={"symbol": {"filterType": "text", "type": "contains", "filter": "%"}}
    )
    assert wildcard["rowCount"] == 0  # a % in the filter is a character, not a wildcard


def test_ssrm_number_date_set_and_combined_filters(ssrm: TestClient) -> None:
    number = {"close": {"filterType": "number", "type": "greaterThan", "filter": 100}}
    assert _page(ssrm, filterModel=number)["rowCount"] == _count(ssrm, "close > 100", {})
    in_range = {"close": {"filterType": "number", "type": "inRange", "filter": 50, "filterTo": 90}}
    assert _page(ssrm, filterModel=in_range)["rowCount"] == _count(
        ssrm, "close BETWEEN 50 AND 90", {}
    )
    dates = {"date": {"filterType": "date", "type": "inRange",
                      "dateFrom": "2020-01-01 00:00:00", "dateTo": "2020-12-31 00:00:00"}}  # fmt: skip
    assert (
        _page(ssrm, filterModel=dates)["rowCount"]
        == _count(ssrm, "date BETWEEN '2020-01-01' AND '2020-12-31'", {})
        > 0
    )
    chosen = {"symbol": {"filterType": "set", "values": ["ACM"]}}
    assert _page(ssrm, filterModel=chosen)["rowCount"] == _count(ssrm, "symbol = 'ACM'", {})
    nothing = {"symbol": {"filterType": "set", "values": []}}
    assert _page(ssrm, filterModel=nothing)["rowCount"] == 0
    either = {"close": {"filterType": "number", "operator": "OR", "conditions": [
        {"type": "lessThan", "filter": 20}, {"type": "greaterThan", "filter": 200}]}}  # fmt: skip
    assert _page(ssrm, filterModel={**either, **chosen})["rowCount"] == _count(
        ssrm, "(close < 20 OR close > 200) AND symbol = 'ACM'", {}
    )


def test_ssrm_filter_values_are_bound_never_pasted(ssrm: TestClient) -> None:
    evil = "x' OR '1'='1"
    page = _page(
        ssrm, filterModel={"symbol": {"filterType": "text", "type": "equals", "filter": evil}}
    )
    assert page["rowCount"] == 0
    history = ssrm.get("/history", params={"limit": 5}).json()
    assert all(evil not in entry["sql"] for entry in history)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"filterModel": {"nope": {"filterType": "text", "type": "equals", "filter": "x"}}},
            "'nope'",
        ),
        (
            {"filterModel": {"close": {"filterType": "weird", "type": "equals", "filter": 1}}},
            "'weird'",
        ),
        (
            {"filterModel": {"close": {"filterType": "number", "type": "near", "filter": 1}}},
            "'near'",
        ),
        (
            {
                "filterModel": {
                    "close": {"filterType": "number", "type": "equals", "filter": "lots"}
                }
            },
            "number",
        ),
        (
            {"filterModel": {"date": {"filterType": "date", "type": "equals", "dateFrom": "soon"}}},
            "date",
        ),
        ({"sortModel": [{"colId": "nope", "sort": "asc"}]}, "'nope'"),
    ],
)
def test_ssrm_unusable_filters_are_400_naming_them(
    ssrm: TestClient, body: dict[str, Any], words: str
) -> None:
    answer = ssrm.post("/widgets/prices", json={"startRow": 0, "endRow": 10, **body})
    assert_error(answer, 400, "bad_param")
    assert words in answer.json()["detail"]


def test_ssrm_bad_paging_is_422(ssrm: TestClient) -> None:
    assert_error(
        ssrm.post("/widgets/prices", json={"startRow": 5, "endRow": 2}), 422, "invalid_request"
    )
    assert_error(ssrm.post("/widgets/prices", json={"startRow": "x"}), 422, "invalid_request")
    assert_error(ssrm.post("/widgets/prices", json={"sortModel": "close"}), 422, "invalid_request")
