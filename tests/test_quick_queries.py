"""Small SQLite reads on the event loop (``SqliteBackend.quick_session``): they answer while
every worker thread is busy, and whatever outgrows the quick lane (a long query, a write, a
locked file) runs on a worker thread as before, cancellable, with one history entry."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error, start_server, stop_server, wait_until

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
SMALL = "SELECT symbol, date, close FROM daily_prices WHERE symbol = :s ORDER BY date LIMIT 3"


def test_small_query_answers_while_every_worker_runs_a_slow_one(
    tmp_path: Path, sample_db: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sample_db, data_dir / "sample.db")
    server = start_server(data_dir, env={"CONNECTOR_WORKER_THREADS": "2"})
    answers: list[httpx.Response] = []
    try:
        with server.client() as client:

            def run_slow() -> None:
                answers.append(
                    client.post(
                        "/connections/sample/query", json={"sql": ENDLESS, "timeout_s": 120}
                    )
                )

            slow = [threading.Thread(target=run_slow) for _ in range(2)]
            for thread in slow:
                thread.start()
            # Both slow queries outgrow the quick lane and take the two worker threads;
            # 30 s bounds how long a loaded machine takes to start them.
            running = wait_until(
                lambda: (
                    [q for q in client.get("/queries").json() if q["sql"] == ENDLESS]
                    if len(client.get("/queries").json()) == 2
                    else None
                ),
                within_s=30,
                what="two slow queries running",
            )
            # With no worker free, only the quick lane can answer; 10 s is a hang guard
            # (the slow queries would hold the workers for two minutes).
            small = client.post(
                "/connections/sample/query", json={"sql": SMALL, "params": {"s": "ABF"}}, timeout=10
            )
            assert small.status_code == 200
            expected = sqlite3.connect(sample_db).execute(SMALL, {"s": "ABF"}).fetchall()
            assert [tuple(row) for row in small.json()["rows"]] == expected
            assert small.json()["columns"][1] == {"name": "date", "type": "date"}
            for query in running:
                assert client.delete(f"/queries/{query['query_id']}").status_code == 204
            for thread in slow:
                thread.join(timeout=30)
            assert len(answers) == 2
            for answer in answers:
                assert_error(answer, 499, "cancelled")
    finally:
        stop_server(server)


def test_query_past_the_quick_budget_gives_its_whole_answer_once(client: TestClient) -> None:
    # About two million VM steps: a hundred times the quick lane's budget.
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200000) "
        "SELECT sum(x) AS total FROM c"
    )
    body = client.post("/connections/sample/query", json={"sql": sql}).json()
    assert body["rows"] == [[200000 * 200001 // 2]]
    history = client.get("/history?limit=5").json()
    assert [entry["sql"] for entry in history].count(sql) == 1
    assert history[0]["sql"] == sql and history[0]["outcome"] == "ok"


def test_read_write_connection_runs_on_a_worker_and_commits(
    client: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "rw.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    created = client.post(
        "/connections",
        json={"name": "rw", "kind": "sqlite", "options": {"path": str(path)}, "read_only": False},
    )
    assert created.status_code in (200, 201), created.text
    # A read first, so the connection's engine exists when the write comes: a read-write
    # connection has no quick lane (its pooled connections may hold temporary tables).
    assert client.post("/connections/rw/query", json={"sql": "SELECT 1"}).status_code == 200
    written = client.post(
        "/connections/rw/query", json={"sql": "INSERT INTO notes (body) VALUES ('kept')"}
    )
    assert written.status_code == 200, written.text
    assert sqlite3.connect(path).execute("SELECT body FROM notes").fetchall() == [("kept",)]
    outcomes = [e["outcome"] for e in client.get("/history?connection=rw").json()]
    assert outcomes == ["ok", "ok"]


def test_query_on_a_locked_file_waits_on_a_worker_not_the_loop(
    client: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (7)")
    assert client.post(
        "/connections", json={"name": "locked", "kind": "sqlite", "options": {"path": str(path)}}
    ).status_code in (200, 201)
    assert client.post("/connections/locked/query", json={"sql": "SELECT 1"}).status_code == 200
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # no reader may start until it ends
    answers: list[httpx.Response] = []
    reader = threading.Thread(
        target=lambda: answers.append(
            client.post("/connections/locked/query", json={"sql": "SELECT x FROM t"})
        )
    )
    reader.start()
    try:
        # The loop answers /queries while the read waits for the lock (the quick lane
        # gave up at once; the worker's connection waits up to 5 s for the lock).
        wait_until(
            lambda: any(q["sql"] == "SELECT x FROM t" for q in client.get("/queries").json()),
            within_s=4,
            what="the blocked read listed as running",
            every_s=0.01,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    reader.join(timeout=30)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["rows"] == [[7]]


def test_the_loop_budget_gives_small_reads_half_of_each_window_then_none() -> None:
    from connector.api.work import LoopBudget

    now = [0.0]

    def clock() -> float:
        return now[0]

    def work(seconds: float) -> str:
        now[0] += seconds
        return "ran"

    async def scenario() -> None:
        # No waiting allowed: past the share, a read is sent to a thread at once.
        budget = LoopBudget(window_s=0.05, share=0.5, clock=clock, max_waiting=0)
        # 25 ms of a 50 ms window: two 10 ms reads and a third that crosses the allowance.
        assert [await budget.run_in_turn(work, 0.010) for _ in range(3)] == ["ran"] * 3
        # Spent (30 ms): the rest of this window's reads go to a thread, taking no time here.
        assert await budget.run_in_turn(work, 0.010) is None
        assert now[0] == pytest.approx(0.030)
        now[0] = 0.051  # a new window
        assert await budget.run_in_turn(work, 0.010) == "ran"
        # Time a read took counts even when it fails.
        failing = LoopBudget(window_s=0.05, share=0.5, clock=clock, max_waiting=0)

        def fails() -> None:
            now[0] += 0.03
            raise ValueError("bad SQL")

        with pytest.raises(ValueError):
            await failing.run_in_turn(fails)
        assert await failing.run_in_turn(work, 0.001) is None

    asyncio.run(scenario())


def test_past_the_budget_small_reads_wait_their_turn_on_the_loop_in_order() -> None:
    """A read that finds the window spent waits for a later one (not a thread), in order
    of arrival; past ``max_waiting`` waiting reads it gets None (a thread); a read
    cancelled while waiting gives its place up, one cancelled once its turn had come
    passes the turn on."""
    from connector.api.work import LoopBudget

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        budget = LoopBudget(window_s=0.05, share=0.5, max_waiting=3)
        ran: list[tuple[str, float]] = []

        def work(label: str, seconds: float) -> str:
            ran.append((label, loop.time()))
            time.sleep(seconds)  # the read's own time on the loop
            return label

        started = loop.time()
        assert await budget.run_in_turn(work, "first", 0.03) == "first"  # spends the window
        waiting = [asyncio.ensure_future(budget.run_in_turn(work, f"w{i}", 0.03)) for i in range(3)]
        await asyncio.sleep(0)
        # Three wait already: the fourth is told to take a thread, at once.
        assert await budget.run_in_turn(work, "late", 0.0) is None
        cancelled = waiting.pop(1)
        cancelled.cancel()
        assert await asyncio.wait_for(asyncio.gather(*waiting), timeout=30) == ["w0", "w2"]
        assert [label for label, _ in ran] == ["first", "w0", "w2"]
        # Each waited for a window of its own: w0 needs one, and w2 the one after.
        assert ran[1][1] - started >= 0.045
        assert ran[2][1] - ran[1][1] >= 0.045
        assert not budget._waiting

    asyncio.run(scenario())


def test_a_read_whose_turn_came_but_was_cancelled_passes_it_on() -> None:
    from connector.api.work import LoopBudget

    async def scenario() -> None:
        budget = LoopBudget(window_s=0.05, share=0.5)
        assert await budget.run_in_turn(time.sleep, 0.03) is None  # spent; sleep gives None
        first = asyncio.ensure_future(budget.run_in_turn(lambda: "first"))
        second = asyncio.ensure_future(budget.run_in_turn(lambda: "second"))
        new_window = budget._new_window

        def then_cancel_the_first() -> None:
            new_window()  # gives the first its turn...
            first.cancel()  # ...which it loses before it runs

        budget._new_window = then_cancel_the_first  # type: ignore[method-assign]
        assert await asyncio.wait_for(second, timeout=30) == "second"
        assert first.cancelled()
        assert not budget._waiting

    asyncio.run(scenario())
