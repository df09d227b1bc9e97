"""Isolation of work, on a real server process: control and metadata endpoints answer while
more slow queries than the user pool has threads run (SQLite and MariaDB), a cancel gets
through, and more exports at once than there are threads or pooled connections all
complete while small queries still answer; and a ``StopSignal`` stops its own work's
queries, even one that starts after it fired, and no one else's.

Every wait is a hang guard, never a measure: the slow statements run 120 s, so a request
that queued behind them would take minutes, and the guards (20 s for a control request,
120 s for an export) only bound how slowly a loaded two-core machine answers.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from connector.config import Settings
from connector.running import QueryControl, RunningQueries, StopSignal, current_stop
from tests import netdb
from tests.conftest import LiveServer, assert_error, start_server, stop_server, wait_until

USER_THREADS = Settings.model_fields["worker_threads"].default
SLOW_S = 120
CONTROL_GUARD_S = 20.0
EXPORT_GUARD_S = 120.0
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
# More exports at once than the user pool's threads and than any pool's connections
# (SQLite 5 + 10 overflow, MariaDB 5 + 5).
EXPORTS = 24
EXPORT_ROWS = 50_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_db: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("isolation")
    shutil.copy(sample_db, data_dir / "sample.db")
    live = start_server(data_dir)
    with live.client() as client:
        wait_until(
            lambda: any(c["name"] == "sample" for c in client.get("/connections").json()),
            within_s=120,  # the sample connection is added in the background at start
            what="the sample connection",
        )
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def mariadb(server: LiveServer) -> Iterator[tuple[netdb.NetDb, str]]:
    with netdb.mariadb_database() as db, server.client() as client:
        name = "maria_" + secrets.token_hex(3)
        created = client.post("/connections", json=db.body(name))
        assert created.status_code == 201, created.text
        yield db, name


def guarded(server: LiveServer, timeout_s: float) -> httpx.Client:
    """A client of ``server`` whose requests give up after ``timeout_s`` (a hang guard)."""
    return httpx.Client(
        base_url=server.url, headers={"X-API-KEY": server.api_key}, timeout=timeout_s
    )


class SlowQueries:
    """``count`` slow queries posted at once, each from its own thread and client."""

    def __init__(self, server: LiveServer, connection: str, sql: str, count: int) -> None:
        self.server = server
        self.sql = sql
        self.answers: list[httpx.Response] = []
        self.threads = [
            threading.Thread(target=self._run, args=(connection,)) for _ in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, connection: str) -> None:
        with guarded(self.server, SLOW_S + 60) as client:
            self.answers.append(
                client.post(
                    f"/connections/{connection}/query", json={"sql": self.sql, "timeout_s": SLOW_S}
                )
            )

    def running_ids(self, client: httpx.Client) -> list[str]:
        return [q["query_id"] for q in client.get("/queries").json() if q["sql"] == self.sql]

    def stop_all(self, client: httpx.Client) -> None:
        """Cancel them (the queued ones as they start) until every request has answered."""

        def done() -> bool:
            for query_id in self.running_ids(client):
                client.delete(f"/queries/{query_id}")
            return not any(thread.is_alive() for thread in self.threads)

        wait_until(done, within_s=60, what="every slow query answering once cancelled")


def check_control_answers(
    server: LiveServer, slow: SlowQueries, user_pool_busy: Callable[[], bool]
) -> None:
    """With the user pool full and more queries waiting, the control endpoints answer
    and a cancel stops one of the running queries."""
    with guarded(server, CONTROL_GUARD_S) as client:
        try:
            wait_until(user_pool_busy, within_s=30, what="every user thread busy")
            assert httpx.get(f"{server.url}/health", timeout=CONTROL_GUARD_S).status_code == 200
            for path in ("/connections", "/connections/sample", "/kinds", "/history?limit=5"):
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.text)
            running = slow.running_ids(client)
            assert len(running) == USER_THREADS, running  # the others wait for a thread
            # Still busy after all those answers: they came while the pool was full.
            assert user_pool_busy()
            assert client.delete(f"/queries/{running[0]}").status_code == 204
            wait_until(
                lambda: any(a.status_code == 499 for a in slow.answers),
                within_s=30,
                what="the cancelled query answering",
            )
            assert_error(next(a for a in slow.answers if a.status_code == 499), 499, "cancelled")
        finally:
            slow.stop_all(client)


def test_control_endpoints_answer_while_sqlite_queries_fill_the_user_pool(
    server: LiveServer,
) -> None:
    sql = f"{ENDLESS}SELECT count(*), '{secrets.token_hex(4)}' AS marker FROM c"
    slow = SlowQueries(server, "sample", sql, USER_THREADS + 2)
    with guarded(server, CONTROL_GUARD_S) as client:
        check_control_answers(server, slow, lambda: len(slow.running_ids(client)) == USER_THREADS)


def test_control_endpoints_answer_while_mariadb_queries_fill_the_user_pool(
    server: LiveServer, mariadb: tuple[netdb.NetDb, str]
) -> None:
    db, name = mariadb
    marker = "mk_busy_" + secrets.token_hex(3)
    slow = SlowQueries(server, name, db.sleep_sql(SLOW_S, marker), USER_THREADS + 2)
    # The database's own view: as many statements sleeping as the user pool has threads.
    check_control_answers(server, slow, lambda: len(db.running(marker)) == USER_THREADS)
    netdb.wait_gone(db, marker)


class Exports:
    """``EXPORTS`` exports at once, each read to its end by a client that reads slowly (so
    they overlap), each counting its lines."""

    def __init__(self, server: LiveServer, connection: str, sql: str) -> None:
        self.server = server
        self.connection = connection
        self.sql = sql
        self.results: list[tuple[int, int, object]] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(EXPORTS)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        pause = threading.Event()
        with (
            guarded(self.server, EXPORT_GUARD_S) as client,
            client.stream(
                "POST",
                f"/connections/{self.connection}/export?format=ndjson",
                json={"sql": self.sql},
            ) as response,
        ):
            lines, last = 0, b""
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                last = (last + chunk)[-200:]
                pause.wait(0.02)  # a slow reader: the exports overlap
            self.results.append((response.status_code, lines, orjson.loads(last.splitlines()[-1])))

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)


def check_exports_and_small_queries(server: LiveServer, connection: str, sql: str) -> None:
    exports = Exports(server, connection, sql)
    answered_during = 0
    with guarded(server, CONTROL_GUARD_S) as client:
        while exports.alive():
            running = sum(q["sql"] == sql for q in client.get("/queries").json())
            small = client.post(f"/connections/{connection}/query", json={"sql": "SELECT 1"})
            assert small.status_code == 200, small.text
            if running >= 2 and exports.alive():
                answered_during += 1
    for thread in exports.threads:
        thread.join(EXPORT_GUARD_S)
    assert len(exports.results) == EXPORTS
    for status, lines, last in exports.results:
        assert status == 200
        assert lines == EXPORT_ROWS
        assert isinstance(last, dict) and last["n"] == EXPORT_ROWS
    assert answered_during > 0, "no small query ran while the exports did"


def test_more_sqlite_exports_than_threads_and_connections_all_complete(
    server: LiveServer,
) -> None:
    sql = (
        f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {EXPORT_ROWS}) "
        f"SELECT x AS n, printf('%040d', x) AS pad, '{secrets.token_hex(4)}' AS m FROM c"
    )
    check_exports_and_small_queries(server, "sample", sql)


def test_more_mariadb_exports_than_threads_and_connections_all_complete(
    server: LiveServer, mariadb: tuple[netdb.NetDb, str]
) -> None:
    _, name = mariadb
    sql = f"SELECT seq AS n, '{secrets.token_hex(4)}' AS m FROM seq_1_to_{EXPORT_ROWS}"
    check_exports_and_small_queries(server, name, sql)


def test_a_stop_signal_stops_the_queries_of_its_work_even_those_that_start_after() -> None:
    running = RunningQueries()
    signal = StopSignal()
    token = current_stop.set(signal)
    try:
        first = QueryControl("q_first", "sample", "SELECT 1", 30)
        running.add(first)
        signal.stop()
        late = QueryControl("q_late", "sample", "SELECT 1", 30)
        running.add(late)  # started after the client left (waiting for a thread meanwhile)
        assert first.cancelled and late.cancelled
    finally:
        current_stop.reset(token)
        running.close()


def test_a_stop_signal_leaves_other_work_alone() -> None:
    running = RunningQueries()
    signal = StopSignal()
    other = QueryControl("q_other", "sample", "SELECT 1", 30)
    running.add(other)
    token = current_stop.set(signal)
    try:
        mine = QueryControl("q_mine", "sample", "SELECT 1", 30)
        running.add(mine)
        signal.stop()
        assert mine.cancelled and not other.cancelled
        running.remove(mine)
    finally:
        current_stop.reset(token)
        running.close()
