"""Demotion (``connector.priority``): a user query that runs past ``demote_after_s`` has its
thread's nice value raised, read back from ``/proc/self/task/<tid>/stat``; that thread
ends after the query and never runs the next one; a demoted query can still be cancelled
and still times out; threads without a lane (exports' producers, the event loop) and a
demotion decided for a query that already ended never lower anyone's priority.

The app runs in this process (``TestClient``), so its threads are this process's tasks.
Every wait is a hang guard on a condition, never a measure of time.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from connector.api.work import UserThreads
from connector.app import create_app
from connector.config import Settings
from connector.models import ConnectionInput
from connector.priority import DEMOTED_NICE, Lane, current_lane
from connector.running import QueryControl, RunningQueries
from connector.runtime import open_runtime
from connector.service import QUICK_ROWS
from tests.conftest import assert_error, wait_until

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread nice values are read from /proc"
)

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
# Long enough that the event loop's quick lane gives it back to a user-query thread, short
# enough to end well before any demotion.
DEMOTE_AFTER_S = 0.1
GUARD_S = 60.0


def nice_of(tid: int) -> int | None:
    """Thread ``tid``'s nice value (field 19 of its stat line), None once it has ended."""
    try:
        stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ended between the listing and the read
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def user_threads() -> dict[int, int | None]:
    """The live user-query threads: native id -> nice value."""
    return {
        t.native_id: nice_of(t.native_id)
        for t in threading.enumerate()
        if t.name == "user-query" and t.native_id is not None
    }


def demoted_thread() -> int | None:
    """The native id of a user-query thread running demoted, if any."""
    return next((tid for tid, n in user_threads().items() if n == DEMOTED_NICE), None)


@pytest.fixture
def app(tmp_path: Path, sample_db: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_store="file",
        sample=False,
        demote_after_s=DEMOTE_AFTER_S,
    )
    runtime = open_runtime(settings)
    runtime.connector.create_connection(
        ConnectionInput(name="sample", kind="sqlite", options={"path": str(sample_db)}),
        test=False,
    )
    assert runtime.api_key is not None
    try:
        with TestClient(
            create_app(runtime, close_runtime=False),
            base_url="http://localhost",
            headers={"X-API-KEY": runtime.api_key},
        ) as client:
            yield client
    finally:
        runtime.close()


class Posted:
    """One query posted from a thread of its own; ``answer`` once it has answered."""

    def __init__(self, client: TestClient, sql: str, timeout_s: float) -> None:
        self.answer: httpx.Response | None = None
        body = {"sql": sql, "timeout_s": timeout_s}
        self.thread = threading.Thread(
            target=lambda: setattr(
                self, "answer", client.post("/connections/sample/query", json=body)
            )
        )
        self.thread.start()

    def wait(self) -> httpx.Response:
        self.thread.join(GUARD_S)
        assert self.answer is not None, "the query did not answer"
        return self.answer


def test_a_long_query_is_demoted_and_can_be_cancelled_and_its_thread_retires(
    app: TestClient,
) -> None:
    posted = Posted(app, ENDLESS, 120)
    tid = wait_until(demoted_thread, within_s=GUARD_S, what="the query's thread demoted")
    assert posted.answer is None  # demoted while it runs
    running = [q for q in app.get("/queries").json() if q["sql"] == ENDLESS]
    assert len(running) == 1, running
    assert app.delete(f"/queries/{running[0]['query_id']}").status_code == 204
    assert_error(posted.wait(), 499, "cancelled")
    # The demoted thread ends; the next query runs on another thread, at full priority.
    wait_until(lambda: nice_of(tid) is None, within_s=GUARD_S, what="the demoted thread ending")
    # A limit past the quick lane's: the query runs on a user-query thread, and ends long
    # before DEMOTE_AFTER_S, so its thread stays (a longer query's may be demoted too).
    body = {"sql": "SELECT 1 AS one", "limit": QUICK_ROWS + 1}
    answer = app.post("/connections/sample/query", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [[1]]
    live = user_threads()
    assert live and tid not in live, live
    assert all(n == 0 for n in live.values()), live


def test_a_demoted_query_times_out(app: TestClient) -> None:
    posted = Posted(app, ENDLESS, 5)
    tid = wait_until(demoted_thread, within_s=GUARD_S, what="the query's thread demoted")
    assert_error(posted.wait(), 504, "timeout")
    wait_until(lambda: nice_of(tid) is None, within_s=GUARD_S, what="the demoted thread ending")


def test_a_thread_that_was_not_demoted_is_reused() -> None:
    threads = UserThreads()
    ran_on: list[int] = []

    def work() -> None:
        ran_on.append(threading.get_native_id())

    async def twice() -> None:
        await threads.run(work)
        await threads.run(work)

    try:
        anyio.run(twice)
    finally:
        threads.close()
    assert len(ran_on) == 2 and ran_on[0] == ran_on[1], ran_on


def test_a_demoted_thread_is_not_reused() -> None:
    threads = UserThreads()
    ran_on: list[tuple[int, bool, int | None]] = []

    def work(demote: bool) -> None:
        lane = current_lane()
        assert lane is not None
        if demote:
            assert lane.demote(lane.task)
        tid = threading.get_native_id()
        ran_on.append((tid, lane.demoted, nice_of(tid)))  # read while the thread runs

    async def three() -> None:
        await threads.run(work, False)
        await threads.run(work, True)
        await threads.run(work, False)

    try:
        anyio.run(three)
    finally:
        threads.close()
    (first, _, _), (second, demoted, lowered), (third, after, fresh) = ran_on
    assert first == second and demoted and lowered == DEMOTED_NICE  # reused until demoted
    assert third != second and not after and fresh == 0  # then a fresh thread


def test_threads_without_a_lane_and_ended_queries_are_never_demoted() -> None:
    # A thread that is not a user-query thread (an export's producer, the event loop).
    running = RunningQueries(demote_after_s=DEMOTE_AFTER_S)
    try:
        control = QueryControl("q_plain", "sample", "SELECT 1", 30.0)
        running.add(control)
        assert control.lane is None and not control.demote()
        running.remove(control)
    finally:
        running.close()
    # A demotion decided for a task that has ended is dropped.
    lane = Lane()
    task = lane.begin()
    assert not lane.end()
    lane.begin()
    assert not lane.demote(task) and not lane.demoted


def test_demotion_is_off_at_zero() -> None:
    running = RunningQueries(demote_after_s=0)
    result: list[Lane | None] = []

    def on_a_lane() -> None:
        from connector.priority import open_lane

        open_lane()
        control = QueryControl("q_off", "sample", "SELECT 1", 30.0)
        running.add(control)
        result.append(control.lane)
        running.remove(control)

    thread = threading.Thread(target=on_a_lane)
    thread.start()
    thread.join(GUARD_S)
    running.close()
    assert result == [None]
