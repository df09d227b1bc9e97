"""Snowflake connections end to end: fakesnow's server in a child process, reached by the real
snowflake-connector-python over HTTP, behind the connector's own HTTP API.

fakesnow accepts every sign-in and runs statements on DuckDB, so some effects cannot be
shown here; each test that works around that says so. Sign-in failures Snowflake itself
produces (expired password, network policy, role) are checked with the real connector's
exception classes carrying Snowflake's messages.
"""

from __future__ import annotations

import base64
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from connector.errors import ReadOnlyError
from connector.ports import recommend_port
from connector.running import QueryControl
from connector.statements import BoundStatement, prepare
from tests import canary, netdb
from tests.conftest import assert_error, assert_one_sentence, require_service, wait_until

HAVE_FAKESNOW = all(
    importlib.util.find_spec(name) is not None
    for name in ("fakesnow", "snowflake.connector", "snowflake.sqlalchemy", "uvicorn")
)
WAREHOUSE = "FAKESNOW_WAREHOUSE"  # the one warehouse fakesnow lists
BIG_ROWS = 20_000


@pytest.fixture(scope="module")
def fakesnow_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    require_service(HAVE_FAKESNOW, "fakesnow[server] and the snowflake extra are not installed")
    port = recommend_port(31000)
    log = tmp_path_factory.mktemp("fakesnow") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fakesnow", "-s", "--host", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # fakesnow listens within seconds; 60 s bounds a loaded machine.
        wait_until(
            lambda: netdb.port_open("127.0.0.1", port),
            within_s=60,
            what=f"fakesnow listening (its log: {log})",
            process=process,
        )
        _seed(port)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _raw_connection(port: int, **extra: Any) -> Any:
    import snowflake.connector

    return snowflake.connector.connect(
        user="seed",
        password="seed",
        account="seed",
        host="127.0.0.1",
        port=port,
        protocol="http",
        autocommit=True,
        **extra,
    )


def _seed(port: int) -> None:
    """Test data, written over the same protocol (fakesnow shares it across sessions)."""
    connection = _raw_connection(port)
    cursor = connection.cursor()
    for sql in (
        "CREATE DATABASE IF NOT EXISTS MARKET",
        "CREATE SCHEMA IF NOT EXISTS MARKET.PUBLIC",
        "USE SCHEMA MARKET.PUBLIC",
        "CREATE OR REPLACE TABLE TRADES (ID INT NOT NULL, SYMBOL VARCHAR, PRICE NUMBER(10,2))",
        "INSERT INTO TRADES VALUES (1, 'AAPL', 189.50), (2, 'MSFT', 411.25), (3, 'AAPL', 190.10)",
        "CREATE OR REPLACE VIEW AAPL_TRADES AS SELECT ID, PRICE FROM TRADES WHERE SYMBOL = 'AAPL'",
        f"CREATE OR REPLACE TABLE BIG AS SELECT SEQ4() AS N, 'row ' || SEQ4() AS LABEL "
        f"FROM TABLE(GENERATOR(ROWCOUNT => {BIG_ROWS}))",
    ):
        cursor.execute(sql)
    connection.close()


def sf_options(port: int, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "account": "myorg-myaccount",
        "user": "analyst",
        "warehouse": WAREHOUSE,
        "database": "MARKET",
        "schema": "PUBLIC",
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        "login_timeout_s": 5,
    }
    options.update(extra)
    return {key: value for key, value in options.items() if value is not None}


def create(
    client: TestClient,
    name: str,
    options: dict[str, Any],
    secret: str | None = canary.SECRET,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"name": name, "kind": "snowflake", "options": options, **extra}
    if secret is not None:
        body["secret"] = secret
    return client.post("/connections", json=body)


@pytest.fixture
def sf(client: TestClient, fakesnow_port: int) -> TestClient:
    """A client with a read-only Snowflake connection named ``sf`` to the fakesnow server."""
    response = create(client, "sf", sf_options(fakesnow_port), secret=canary.SECRET)
    assert response.status_code == 201, response.text
    return client


def run(client: TestClient, sql: str, name: str = "sf", **body: Any) -> httpx.Response:
    return client.post(f"/connections/{name}/query", json={"sql": sql, **body})


# 1. signing in ----------------------------------------------------------------------------


def test_snowflake_password_sign_in_over_the_protocol(sf: TestClient) -> None:
    listed = sf.get("/connections").json()
    assert canary.SECRET not in orjson.dumps(listed).decode()
    (spec,) = [c for c in listed if c["name"] == "sf"]
    assert spec["options"]["warehouse"] == WAREHOUSE and spec["options"]["schema"] == "PUBLIC"
    response = run(
        sf, "SELECT ID, SYMBOL FROM TRADES WHERE SYMBOL = :sym ORDER BY ID", params={"sym": "AAPL"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [[1, "AAPL"], [3, "AAPL"]]
    probe = sf.post(
        "/connections/test",
        json={"kind": "snowflake", "options": sf_options(sf_port(sf)), "secret": "pw"},
    )
    assert probe.status_code == 200, probe.text
    assert probe.json()["ok"] is True and probe.json()["server_version"].startswith("Snowflake ")


def sf_port(client: TestClient) -> int:
    (spec,) = [c for c in client.get("/connections").json() if c["name"] == "sf"]
    return int(spec["options"]["port"])


def _rsa_pem(passphrase: bytes | None = None) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def test_snowflake_key_pair_sign_in_plain_and_encrypted(
    client: TestClient, fakesnow_port: int
) -> None:
    # The real connector signs a JWT with the key and sends it over HTTP; fakesnow accepts
    # any JWT, so this shows the key is read, decrypted and used, not that Snowflake checks it.
    options = sf_options(fakesnow_port, authenticator="snowflake_jwt")
    assert create(client, "jwt", options, secret=_rsa_pem()).status_code == 201
    assert run(client, "SELECT COUNT(*) FROM TRADES", name="jwt").json()["rows"] == [[3]]

    encrypted = _rsa_pem(b"open sesame")
    secret = orjson.dumps({"private_key": encrypted, "passphrase": "open sesame"}).decode()
    assert create(client, "jwt-enc", options, secret=secret).status_code == 201
    assert run(client, "SELECT COUNT(*) FROM TRADES", name="jwt-enc").json()["rows"] == [[3]]

    # Bad input: a clear sentence, no key material, nothing saved.
    for bad, words in (
        (encrypted, "encrypted"),
        ("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "malformed"),
        ("just a password", "not a PEM private key"),
        (orjson.dumps({"private_key": encrypted, "passphrase": "wrong"}).decode(), "passphrase"),
    ):
        detail = assert_error(
            create(client, "bad-key", options, secret=bad), 422, "invalid_request"
        )
        assert words in detail
        key_lines = [line for line in encrypted.splitlines() if "-----" not in line]
        assert not any(line in detail for line in key_lines)
        assert "wrong" not in detail and "open sesame" not in detail
    assert "bad-key" not in [c["name"] for c in client.get("/connections").json()]


def test_snowflake_externalbrowser_needs_no_secret(client: TestClient, fakesnow_port: int) -> None:
    # externalbrowser opens the user's browser at sign-in: it cannot run here (no browser,
    # no identity provider), so only the saved connection is checked, untested (?test=false).
    options = sf_options(fakesnow_port, authenticator="externalbrowser")
    response = client.post(
        "/connections?test=false",
        json={"name": "sso", "kind": "snowflake", "options": options},
    )
    assert response.status_code == 201, response.text
    assert response.json()["options"]["authenticator"] == "externalbrowser"
    detail = assert_error(
        create(client, "nopw", sf_options(fakesnow_port), secret=None), 422, "invalid_request"
    )
    assert "password" in detail
    no_user = sf_options(fakesnow_port, user=None)
    detail = assert_error(create(client, "nouser", no_user), 422, "invalid_request")
    assert "user" in detail


@pytest.mark.parametrize(
    ("account", "host"),
    [
        ("myorg-myaccount", "myorg-myaccount.snowflakecomputing.com"),
        ("xy12345", "xy12345.snowflakecomputing.com"),
        ("xy12345.eu-west-1", "xy12345.eu-west-1.snowflakecomputing.com"),
        ("xy12345.us-east-2.aws", "xy12345.us-east-2.aws.snowflakecomputing.com"),
    ],
)
def test_snowflake_account_identifier_forms(
    client: TestClient, fakesnow_port: int, account: str, host: str
) -> None:
    from connector.backends import get_backend
    from connector.models import ConnectionSpec

    backend = get_backend("snowflake")
    options = backend.validate_options({"account": account, "user": "analyst"})
    engine = backend.create_engine(
        ConnectionSpec(name="a", kind="snowflake", options=options), "pw", pooled=False
    )
    _, args = engine.dialect.create_connect_args(engine.url)
    assert args["host"] == host and "password" not in str(engine.url)
    # Both forms also sign in (to fakesnow, with host and port overridden for the test).
    name = "acct-" + account.replace(".", "-")
    response = create(client, name, sf_options(fakesnow_port, account=account))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "account",
    [
        "https://xy12345.eu-west-1.snowflakecomputing.com",
        "myorg-myaccount.snowflakecomputing.com",
        "https://app.snowflake.com/myorg/myaccount/",
        "my account",
    ],
)
def test_snowflake_account_url_is_refused(client: TestClient, account: str) -> None:
    response = create(client, "url", {"account": account, "user": "analyst"})
    detail = assert_error(response, 422, "invalid_request")
    assert "account" in detail
    if "snowflakecomputing" in account:
        assert "not a URL" in detail and account.split("//")[-1].split(".snowflake")[0] in detail


# 2. errors users hit ----------------------------------------------------------------------


def test_snowflake_missing_warehouse_is_refused_and_nothing_saved(
    client: TestClient, fakesnow_port: int
) -> None:
    response = create(client, "nowh", sf_options(fakesnow_port, warehouse="NO_SUCH_WH"))
    detail = assert_error(response, 502, "db_unavailable")
    assert "NO_SUCH_WH" in detail and "SHOW WAREHOUSES" in detail
    assert_error(client.get("/connections/nowh"), 404, "not_found")  # nothing saved


def test_snowflake_no_current_database_is_explained(client: TestClient, fakesnow_port: int) -> None:
    options = sf_options(fakesnow_port, database=None, schema=None)
    assert create(client, "nodb", options).status_code == 201
    detail = assert_error(run(client, "SELECT * FROM TRADES", name="nodb"), 400, "sql_error")
    assert "database option" in detail
    # A fully named table works without one.
    response = run(client, "SELECT COUNT(*) FROM MARKET.PUBLIC.TRADES", name="nodb")
    assert response.json()["rows"] == [[3]]


def test_snowflake_unreachable_account_is_a_502(client: TestClient) -> None:
    closed = recommend_port(32000)  # nothing listens there: the connector cannot reach it
    options = {
        "account": "wrong-account",
        "user": "analyst",
        "host": "127.0.0.1",
        "port": closed,
        "protocol": "http",
        "login_timeout_s": 2,
    }
    response = client.post(
        "/connections/test", json={"kind": "snowflake", "options": options, "secret": "pw1234"}
    )
    detail = assert_error(response, 502, "db_unavailable")
    assert "account identifier" in detail and "pw1234" not in detail


def _driver_error(errno: int, sqlstate: str, message: str, kind: str = "DatabaseError") -> Any:
    from snowflake.connector import errors

    error_class = getattr(errors, kind)
    return error_class(msg=message, errno=errno, sqlstate=sqlstate)


@pytest.mark.parametrize(
    ("errno", "kind", "message", "words"),
    [
        (390100, "DatabaseError", "Incorrect username or password was specified.", "password"),
        (
            390106,
            "DatabaseError",
            "Specified password has expired. Password must be changed using the Snowflake web console.",
            "expired",
        ),
        (
            390432,
            "DatabaseError",
            "IP 203.0.113.7 is not allowed to access Snowflake. Contact your local security administrator.",
            "network policy",
        ),
        (
            390189,
            "DatabaseError",
            "Role 'ANALYST' specified in the connect string is not granted to this user.",
            "role option",
        ),
        (
            606,
            "ProgrammingError",
            "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.",
            "warehouse option",
        ),
        (
            390201,
            "DatabaseError",
            "The requested warehouse does not exist or not authorized.",
            "warehouse",
        ),
        (
            250001,
            "OperationalError",
            "Could not connect to Snowflake backend after 2 attempt(s).Aborting",
            "account identifier",
        ),
    ],
)
def test_snowflake_sign_in_errors_are_explained(
    errno: int, kind: str, message: str, words: str
) -> None:
    # fakesnow accepts every sign-in, so these are the real connector's exception classes
    # with the messages Snowflake sends. Each is the database refusing: 502 db_unavailable.
    from connector.backends import get_backend

    error = get_backend("snowflake").translate_error(_driver_error(errno, "08001", message, kind))
    assert (error.status, error.code) == (502, "db_unavailable")
    assert words in assert_one_sentence(error.detail)


# 3. timeouts and cancel -------------------------------------------------------------------


def test_snowflake_timeout_is_sent_as_statement_timeout(
    sf: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fakesnow ignores STATEMENT_TIMEOUT_IN_SECONDS, so this checks the query request the
    # real connector sends carries it; Snowflake stops the statement there (error 630).
    from snowflake.connector.connection import SnowflakeConnection

    sent: list[tuple[str, Any]] = []
    original = SnowflakeConnection.cmd_query

    def spy(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((sql, kwargs.get("statement_params")))
        return original(self, sql, *args, **kwargs)

    monkeypatch.setattr(SnowflakeConnection, "cmd_query", spy)
    response = run(sf, "SELECT COUNT(*) FROM TRADES", timeout_s=7)
    assert response.status_code == 200, response.text
    params = [p for sql, p in sent if sql == "SELECT COUNT(*) FROM TRADES"]
    assert params and params[-1] == {"STATEMENT_TIMEOUT_IN_SECONDS": 7}


def _hold_query(
    monkeypatch: pytest.MonkeyPatch, sql: str, release: threading.Event, hold_s: float = 5
) -> None:
    """Make the connector's request for ``sql`` wait for ``release`` (at most ``hold_s``)
    first: fakesnow answers at once, and a query must still be running to be stopped."""
    from snowflake.connector.connection import SnowflakeConnection

    original = SnowflakeConnection.cmd_query

    def held(self: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        if text == sql:
            release.wait(hold_s)
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(SnowflakeConnection, "cmd_query", held)


def test_snowflake_cancel_over_http_is_a_499(
    sf: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The query is held in the client before it reaches fakesnow (which cannot run anything
    # slowly enough to be caught); DELETE /queries/{id} then stops it: 499, in the history.
    sql = "SELECT COUNT(*) FROM BIG"
    release = threading.Event()
    _hold_query(monkeypatch, sql, release, hold_s=60)
    results: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: results.append(run(sf, sql)))
    worker.start()
    try:
        # Listed as soon as the request reaches the connector; 30 s bounds a loaded
        # machine, well inside the hold's cap (``hold_s``).
        running: list[dict[str, Any]] = wait_until(
            lambda: [q for q in sf.get("/queries").json() if q["connection"] == "sf"],
            within_s=30,
            what="the query showing in GET /queries",
        )
        assert sf.delete(f"/queries/{running[0]['query_id']}").status_code == 204
    finally:
        release.set()
        worker.join(10)
    assert_error(results[0], 499, "cancelled")
    history = sf.get("/history").json()
    assert any(h["sql"] == sql and h["outcome"] == "cancelled" for h in history)


def test_snowflake_query_past_its_timeout_is_a_504(
    sf: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held 2 s, past its 1 s deadline, in the client (fakesnow ignores the statement
    # timeout): the watchdog stops it and the answer is 504. Nothing sets ``release``: the
    # hold is the full 2 s, which is the point (a query slower than its timeout).
    sql = "SELECT MAX(N) FROM BIG"
    release = threading.Event()
    _hold_query(monkeypatch, sql, release, hold_s=2)
    response = run(sf, sql, timeout_s=1)
    assert_error(response, 504, "timeout")
    history = sf.get("/history").json()
    assert any(h["sql"] == sql and h["outcome"] == "timeout" for h in history)


def test_snowflake_statement_timeout_error_is_a_504() -> None:
    from connector.backends import get_backend

    error = get_backend("snowflake").translate_error(
        _driver_error(
            630,
            "57014",
            "Statement reached its statement or warehouse timeout of 3 second(s) and was canceled.",
            "ProgrammingError",
        )
    )
    assert (error.status, error.code) == (504, "timeout")
    error = get_backend("snowflake").translate_error(
        _driver_error(604, "57014", "SQL execution canceled", "ProgrammingError")
    )
    assert error.code == "cancelled"


def test_snowflake_cancel_sends_system_cancel_query(
    fakesnow_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fakesnow runs each statement to its end before answering, so a running query cannot be
    # caught; this checks the cancel hook sends SYSTEM$CANCEL_QUERY with the query's id over
    # the connection (fakesnow then refuses the unknown function, which the hook tolerates).
    from snowflake.connector.connection import SnowflakeConnection

    from connector.backends import get_backend
    from connector.backends.snowflake import cancel_statement

    sent: list[str] = []
    original = SnowflakeConnection.cmd_query

    def spy(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(sql)
        return original(self, sql, *args, **kwargs)

    monkeypatch.setattr(SnowflakeConnection, "cmd_query", spy)
    backend = get_backend("snowflake")
    connection = _raw_connection(fakesnow_port, database="MARKET", schema="PUBLIC")
    control = QueryControl("q_3", "sf", "SELECT * FROM BIG", 30)
    try:
        with backend.session(connection, control, read_only=True, stream=True) as cursor:
            cursor.execute("SELECT * FROM BIG", None)
            assert len(cursor.fetchmany(10)) == 10
            control.cancel()
            assert control.cancelled
    finally:
        connection.close()
    assert sent[-1] == f"SELECT SYSTEM$CANCEL_QUERY('{cursor.query_id}')"
    # Before the query id is known, the whole (one-query) session is cancelled.
    assert cancel_statement(None, 42) == "SELECT SYSTEM$CANCEL_ALL_QUERIES(42)"
    assert cancel_statement("x'); DROP TABLE t; --", None) is None


# 4. read-only -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO TRADES VALUES (9, 'X', 1)",
        "UPDATE TRADES SET PRICE = 0",
        "DELETE FROM TRADES",
        "MERGE INTO TRADES t USING TRADES s ON t.ID = s.ID WHEN MATCHED THEN DELETE",
        "CREATE TABLE T2 AS SELECT * FROM TRADES",
        "COPY INTO @stage FROM TRADES",
        "PUT file:///tmp/x @stage",
        "CALL my_proc()",
        "EXECUTE IMMEDIATE 'DROP TABLE TRADES'",
        "USE ROLE ACCOUNTADMIN",
        "ALTER SESSION SET QUERY_TAG = 'x'",
        "GRANT SELECT ON TRADES TO ROLE PUBLIC",
        "DROP TABLE TRADES",
        "UNDROP TABLE TRADES",
        "TRUNCATE TABLE TRADES",
        "SELECT SYSTEM$ABORT_SESSION(42)",
        "SELECT system$task_dependents_enable('t')",
        "WITH x AS (SELECT SYSTEM$CANCEL_ALL_QUERIES(1)) SELECT * FROM x",
    ],
)
def test_snowflake_guard_refuses_writes(sql: str) -> None:
    with pytest.raises(ReadOnlyError):
        snowflake_guard(sql)


def snowflake_guard(sql: str) -> BoundStatement:
    """The statement guard as a read-only Snowflake connection runs it (its own rules)."""
    from connector.backends import get_backend

    backend = get_backend("snowflake")
    return prepare(
        sql,
        {},
        dialect=backend.dialect,
        paramstyle=backend.paramstyle,
        read_only=True,
        rules=backend.guard_rules,
    )


def test_snowflake_read_only_connection_refuses_writes_over_http(sf: TestClient) -> None:
    assert_error(run(sf, "DELETE FROM TRADES"), 400, "read_only")
    # Reads the guard lets through, checked at the guard (fakesnow cannot run them all): a
    # path, a cast, a harmless SYSTEM$ function and a write function's name in a string.
    for sql in (
        "SHOW TABLES",
        "DESCRIBE TABLE TRADES",
        "SELECT v:price::number FROM TRADES",
        "SELECT SYSTEM$TYPEOF(1), 'SYSTEM$ABORT_SESSION' AS text",
    ):
        assert snowflake_guard(sql).sql == sql
    assert run(sf, "SELECT COUNT(*) FROM TRADES").json()["rows"] == [[3]]


# 5. types ---------------------------------------------------------------------------------

TYPES_SQL = """
SELECT 123456789012345678901234567890 AS BIG,
       12345678901234567890123.4567::NUMBER(38,4) AS DEC,
       'nan'::FLOAT AS NAN, 'inf'::FLOAT AS INF, '-inf'::FLOAT AS NINF, 1.5::FLOAT AS F,
       '2024-05-01 13:45:00'::TIMESTAMP_NTZ AS NTZ,
       '2024-05-01 13:45:00+02:00'::TIMESTAMP_TZ AS TZ,
       '2024-05-01 13:45:00+02:00'::TIMESTAMP_LTZ AS LTZ,
       '2024-05-01'::DATE AS D, '13:45:01.5'::TIME AS T, TRUE AS B,
       TO_BINARY('616263', 'HEX') AS BIN,
       PARSE_JSON('{"a": [1, 2, {"b": null}]}') AS V,
       OBJECT_CONSTRUCT('k', 2) AS O, PARSE_JSON('[1, "x"]')::ARRAY AS A
"""
NULLS_SQL = """
SELECT NULL::NUMBER(38,0) AS I, NULL::NUMBER(10,2) AS DEC, NULL::FLOAT AS F,
       NULL::VARCHAR AS S, NULL::BOOLEAN AS B, NULL::DATE AS D, NULL::TIME AS T,
       NULL::BINARY AS BIN, NULL::VARIANT AS V,
       NULL::TIMESTAMP_NTZ AS NTZ, NULL::TIMESTAMP_TZ AS TZ
"""


def test_snowflake_values_as_json(sf: TestClient) -> None:
    response = run(sf, TYPES_SQL)
    assert response.status_code == 200, response.text
    body = response.json()
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert types == {
        "BIG": "integer", "DEC": "decimal", "NAN": "float", "INF": "float", "NINF": "float",
        "F": "float", "NTZ": "datetime", "TZ": "datetime", "LTZ": "datetime", "D": "date",
        "T": "time", "B": "boolean", "BIN": "binary", "V": "json", "O": "json", "A": "json",
    }  # fmt: skip
    row = dict(zip(types, body["rows"][0], strict=True))
    assert row["BIG"] == 123456789012345678901234567890  # beyond 2^63, exact
    assert "12345678901234567890123.4567" in response.text  # written as Snowflake gave it
    assert row["NAN"] is None and row["INF"] is None and row["NINF"] is None and row["F"] == 1.5
    assert row["NTZ"] == "2024-05-01T13:45:00"
    # fakesnow hands TIMESTAMP_TZ/LTZ back in UTC (Snowflake keeps the +02:00 for TZ): the
    # instant and its explicit offset are what is checked.
    assert row["TZ"] == "2024-05-01T11:45:00+00:00" and row["LTZ"] == "2024-05-01T11:45:00+00:00"
    assert row["D"] == "2024-05-01" and row["T"] == "13:45:01.500000" and row["B"] is True
    assert base64.b64decode(row["BIN"]) == b"abc"
    assert row["V"] == {"a": [1, 2, {"b": None}]} and row["O"] == {"k": 2} and row["A"] == [1, "x"]

    exported = sf.post("/connections/sf/export?format=ndjson", json={"sql": TYPES_SQL})
    assert exported.status_code == 200
    record = orjson.loads(exported.content.splitlines()[0])
    assert record["V"] == {"a": [1, 2, {"b": None}]} and record["NAN"] is None
    assert '"BIG":123456789012345678901234567890' in exported.text


def test_snowflake_numbers_come_as_exact_decimals(fakesnow_port: int) -> None:
    # Snowflake sends a small NUMBER(p, s) as a scaled integer that the connector turns into
    # a float unless asked for Decimal; fakesnow always sends decimals, so the setting on the
    # live connection is what is checked, with a sum a float would round.
    from decimal import Decimal

    from connector.backends import get_backend
    from connector.models import ConnectionSpec

    backend = get_backend("snowflake")
    spec = ConnectionSpec(
        name="n", kind="snowflake", options=backend.validate_options(sf_options(fakesnow_port))
    )
    engine = backend.create_engine(spec, "pw", pooled=False)
    try:
        raw = engine.raw_connection()
        try:
            assert raw.driver_connection.arrow_number_to_decimal is True
            cursor = raw.driver_connection.cursor()
            cursor.execute("SELECT 0.1::NUMBER(10,2) + 0.2::NUMBER(10,2)")
            assert cursor.fetchone() == (Decimal("0.30"),)
        finally:
            raw.close()
    finally:
        engine.dispose()


def test_snowflake_nulls_of_every_type(sf: TestClient, fakesnow_port: int) -> None:
    response = sf.post("/connections/sf/query?shape=records", json={"sql": NULLS_SQL})
    assert response.status_code == 200, response.text
    body = response.json()
    (row,) = body["rows"]
    # fakesnow's server sends NULL timestamps as 1970-01-01 (a fakesnow bug; Snowflake sends
    # NULL), so the real driver hands over a datetime there. What is checked is that the
    # connector passes on exactly what the driver gave: the same value read directly.
    raw = _raw_connection(fakesnow_port, database="MARKET", schema="PUBLIC")
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT NULL::TIMESTAMP_NTZ AS NTZ, NULL::TIMESTAMP_TZ AS TZ")
        direct = dict(zip(("NTZ", "TZ"), cursor.fetchone(), strict=True))
    finally:
        raw.close()
    for name, value in direct.items():
        assert row.pop(name) == (None if value is None else value.isoformat()), name
    # Every other type is a JSON null.
    assert row == dict.fromkeys(row)


# 6. large results -------------------------------------------------------------------------


def test_snowflake_export_streams_every_row(sf: TestClient) -> None:
    with sf.stream(
        "POST",
        "/connections/sf/export?format=ndjson",
        json={"sql": "SELECT N, LABEL FROM BIG ORDER BY N"},
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == BIG_ROWS
    assert orjson.loads(lines[-1]) == {"N": BIG_ROWS - 1, "LABEL": f"row {BIG_ROWS - 1}"}
    capped = run(sf, "SELECT N FROM BIG", limit=10).json()
    assert capped["truncated"] is True and len(capped["rows"]) == 10


# 7. schema browsing -----------------------------------------------------------------------


def test_snowflake_schema_browsing(sf: TestClient, fakesnow_port: int) -> None:
    schemas = sf.get("/connections/sf/schema").json()["schemas"]
    public = {s["name"]: s for s in schemas}["PUBLIC"]
    tables = {t["name"]: t for t in public["tables"]}
    assert tables["TRADES"]["kind"] == "table" and tables["AAPL_TRADES"]["kind"] == "view"
    columns = {c["name"]: c for c in tables["TRADES"]["columns"]}
    assert list(columns) == ["ID", "SYMBOL", "PRICE"]
    assert columns["ID"]["nullable"] is False and columns["SYMBOL"]["nullable"] is True
    assert columns["PRICE"]["type"] == "number"
    # Without a database option, every database's schemas, named DATABASE.SCHEMA.
    options = sf_options(fakesnow_port, database=None, schema=None)
    assert create(sf, "nodb", options).status_code == 201
    names = {s["name"] for s in sf.get("/connections/nodb/schema").json()["schemas"]}
    assert "MARKET.PUBLIC" in names
