"""Schemathesis over the live ``/openapi.json``: every operation, with the key, against a real
server process (``data-connector serve``) holding a sample SQLite connection, DuckDB,
MariaDB and PostgreSQL ones (read-only), a saved query and table widgets.

Each operation gets generated requests that fit the document (positive), requests that
do not (negative), and fitting requests aimed at the resources that exist (the generated
names rarely do; PUT and DELETE at a connection and saved query of their own), a bounded number of each with a fixed seed, so the run is quick and
the same every time. Every answer must: not be a 500; be a 5xx only where the database
itself failed (502 where the request points at a database, 504 where a statement runs);
use a documented status code, content type and body (schemathesis' own checks); carry the
contract's error body (``{"detail", "code"}``, one sentence) when it is not a 2xx; take a
request that fits the document (positive data is not refused with 422); and refuse one
that does not (negative data).

Schemathesis is driven as a library (``schemathesis.openapi.from_url`` and
``case.call``/``case.validate_response`` inside Hypothesis' ``@given``) rather than through
its pytest plugin, so the server fixture and the checks stay plain pytest.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import (
    LiveServer,
    assert_one_sentence,
    require_service,
    start_server,
    stop_server,
    wait_until,
)
from tests.netdb import port_open

EXAMPLES = 40  # per operation and mode: about 3,500 requests, a minute on a loaded machine

# Operations whose request names a database to reach (a 502 is the database's answer).
REACHES_A_DATABASE = ("/connections", "/saved-queries/{name}/run", "/widgets", "/omni", "/tables")

CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            # 5xx are judged by contract_statuses below.
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "502", "504"]},
            # A request that fits the document may still name what does not exist (404),
            # be refused by the database (400: bad SQL, read-only), collide (409) or fail
            # in the database (502/504); it must not be refused as unfit (422).
            # An unfit request may also be refused for its size (413).
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "409", "413", "415", "422"]
            },
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "404", "409", "499", "502", "504"]
            },
        }
    }
)


def contract_statuses(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No 500; 502 only where a database is reached, 504 only where a statement runs; and
    every error answer is the contract's body with one sentence."""
    status = response.status_code
    path = case.operation.path
    assert status != 500, f"{case.operation.label}: 500 {response.text[:300]}"
    if status == 502:
        assert path.startswith(REACHES_A_DATABASE), f"{case.operation.label}: 502"
    if status == 504:
        assert path.startswith(REACHES_A_DATABASE), f"{case.operation.label}: 504"
    if status >= 400:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"detail", "code"}, body
        assert isinstance(body["code"], str) and body["code"].replace("_", "").isalpha(), body
        assert_one_sentence(body["detail"])
    return None


# Refusals of fitting requests for rules JSON schema cannot state (``connector.inputs``: whole
# numbers past 64 bits or nesting past 16 levels inside free-form JSON).
UNSTATED_RULES = ("past 64 bits", "levels deep")
# A connection's ``options`` are an open object in the document: each kind's options are
# described by ``GET /kinds``, so a body with a kind's option missing or wrong fits the
# document and is refused (422) by the kind.
KIND_OPTIONS = {
    ("POST", "/connections"),
    ("POST", "/connections/test"),
    ("PUT", "/connections/{name}"),
}


def fits_are_taken(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis' positive_data_acceptance, but for the refusals named above."""
    if response.status_code == 422:
        detail = response.json().get("detail", "")
        if any(rule in detail for rule in UNSTATED_RULES):
            return None
        if (case.operation.method.upper(), case.operation.path) in KIND_OPTIONS:
            return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    contract_statuses,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    fits_are_taken,
    negative_data_rejection,
]


def make_duckdb(path: Path) -> None:
    import duckdb

    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE prices (symbol VARCHAR, day DATE, close DECIMAL(12, 4))")
        db.execute("INSERT INTO prices VALUES ('ABF', DATE '2024-05-01', 1.2345)")


def must(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_db: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    shutil.copy(sample_db, data_dir / "sample.db")
    make_duckdb(data_dir / "fuzz.duckdb")
    live = start_server(data_dir)
    try:
        with live.client() as client:
            # The server registers its sample connection in the background after it starts;
            # 60 s bounds a loaded machine.
            wait_until(
                lambda: client.get("/connections/sample").status_code == 200,
                within_s=60,
                what="the sample connection",
                process=live.process,
            )
            duck = {"kind": "duckdb", "options": {"path": str(data_dir / "fuzz.duckdb")}}
            must(client.post("/connections", json={"name": "duck", **duck}), 201)
            require_service(port_open("127.0.0.1", 3306), "MariaDB is not on 127.0.0.1:3306")
            maria = {
                "name": "maria",
                "kind": "mysql",
                "options": {"host": "127.0.0.1", "port": 3306, "user": "root"},
            }
            maria["options"]["database"] = "information_schema"
            must(client.post("/connections", json=maria), 201)
            require_service(port_open("127.0.0.1", 5432), "PostgreSQL is not on 127.0.0.1:5432")
            pg_options = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
            pg = {"name": "pg", "kind": "postgresql", "options": pg_options}
            pg["options"]["database"] = "postgres"
            must(client.post("/connections", json=pg), 201)
            saved = {
                "name": "fz_top",
                "connection": "sample",
                "sql": "SELECT symbol, sector FROM tickers WHERE symbol >= :sym LIMIT 5",
                "params": [
                    {
                        "name": "sym",
                        "type": "ticker",
                        "default": "ABF",
                        "options_sql": "SELECT symbol FROM tickers LIMIT 5",
                    }
                ],
            }
            must(client.post("/saved-queries", json=saved), 201)
            must(client.put("/connections/sample/workspace", json={"tables": True}), 200)
        yield live
    finally:
        stop_server(live)


# Names that exist, for the aimed pass: the path parameter -> values to pick from.
EXISTING: dict[str, list[str]] = {
    "name": ["sample", "duck", "maria", "pg", "fz_top"],
    "key": ["main__tickers", "main__daily_prices"],
    "param": ["sym"],
}


# PUT and DELETE are aimed at a connection and a saved query of their own, made again
# before each request when an earlier one removed them, so the others stay as they are.
VICTIM = "victim"


def restore_victim(server: LiveServer) -> None:
    with server.client() as client:
        if client.get(f"/connections/{VICTIM}").status_code == 404:
            path = server.data_dir / "sample.db"
            body = {"name": VICTIM, "kind": "sqlite", "options": {"path": str(path)}}
            must(client.post("/connections", json=body), 201)
        if client.get(f"/saved-queries/{VICTIM}").status_code == 404:
            body = {"name": VICTIM, "connection": VICTIM, "sql": "SELECT 1 AS one"}
            must(client.post("/saved-queries", json=body), 201)


def aimed(case: Case, picks: dict[str, str]) -> Case:
    if case.path_parameters:
        for name in case.path_parameters:
            if name in picks:
                case.path_parameters[name] = picks[name]
    return case


def operations(server: LiveServer) -> list[Any]:
    schema = schemathesis.openapi.from_url(
        f"{server.url}/openapi.json", headers={"X-API-KEY": server.api_key}, config=CONFIG
    )
    return [result.ok() for result in schema.get_all_operations()]


def has_inputs(operation: Any) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)


# label -> the statuses its requests got, to show the aimed passes reach real resources.
Seen = dict[str, set[int]]


def exercise(
    server: LiveServer,
    strategy: Any,
    failures: list[str],
    label: str,
    seen: Seen,
    *,
    victim: bool = False,
) -> None:
    headers = {"X-API-KEY": server.api_key}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Case) -> None:
        if victim:
            restore_victim(server)
        response = case.call(base_url=server.url, headers=headers, timeout=60)
        seen.setdefault(label, set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    # The first failing request of each operation and mode is collected (no shrinking), so
    # one run reports every operation that fails rather than the first.
    try:
        run()
    except Unsatisfiable:
        # Only for negative data: the operation's inputs have nothing to break (a path
        # parameter that takes any text), so there is no unfit request to send.
        if not label.endswith("negative"):
            raise
    except (Exception, FailureGroup) as exc:  # FailureGroup: a BaseExceptionGroup
        failures.append(f"{label}: {str(exc).strip()[:1200]}")


@pytest.mark.slow  # about 3,500 requests: most of a minute on a loaded machine
def test_every_operation_keeps_to_its_documented_answers(server: LiveServer) -> None:
    failures: list[str] = []
    seen: Seen = {}
    ops = operations(server)
    assert len(ops) >= 30  # every route is in the document
    for operation in ops:
        label = operation.label
        exercise(server, operation.as_strategy(), failures, f"{label} positive", seen)
        if has_inputs(operation):
            negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
            exercise(server, negative, failures, f"{label} negative", seen)
        if "{" in operation.path and operation.method.upper() in ("GET", "POST"):
            picks = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in EXISTING.items()})
            strategy = st.builds(aimed, operation.as_strategy(), picks)
            exercise(server, strategy, failures, f"{label} on existing names", seen)
        if "{name}" in operation.path and operation.method.upper() in ("PUT", "DELETE"):
            picks = st.fixed_dictionaries({"name": st.just(VICTIM)})
            strategy = st.builds(aimed, operation.as_strategy(), picks)
            exercise(server, strategy, failures, f"{label} on an existing name", seen, victim=True)
    # The aimed passes reached what exists: generated SQL refused by a real connection
    # (400), widget and table rows, real deletes.
    assert 400 in seen["POST /connections/{name}/query on existing names"], seen
    assert 200 in seen["GET /widgets/{name} on existing names"], seen
    assert 200 in seen["GET /tables/{name}/{key} on existing names"], seen
    assert 204 in seen["DELETE /connections/{name} on an existing name"], seen
    assert 204 in seen["DELETE /saved-queries/{name} on an existing name"], seen
    unique = list(dict.fromkeys(failures))
    assert not unique, f"{len(unique)} failing answers:\n\n" + "\n\n".join(unique[:40])
