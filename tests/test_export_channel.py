"""The channel from an export's producer thread to the event loop
(``connector.api.export_stream._Channel``): a chunk is handed over without waiting for the
loop to run, the producer waits only while the channel is full, and the reader leaving
wakes a waiting producer."""

from __future__ import annotations

import asyncio
import threading

import pytest

from connector.api.export_stream import _Channel, _Closed

# Bounds on waits for another thread: generous, since a loaded two-core machine can be
# slow to schedule it; a test only waits this long when it is about to fail.
WAIT_S = 10.0
# How long a put that must be waiting is watched before the test goes on.
STILL_WAITING_S = 0.3


def test_a_put_needs_no_turn_of_the_event_loop_until_the_channel_is_full() -> None:
    async def main() -> None:
        channel = _Channel(2)
        channel.bind()
        two = threading.Event()
        third = threading.Event()

        def produce() -> None:
            channel.put(b"a")
            channel.put(b"b")
            two.set()
            channel.put(b"c")
            third.set()

        thread = threading.Thread(target=produce)
        thread.start()
        # This blocks the event loop: the first two puts returned without it.
        assert two.wait(WAIT_S)
        assert not third.wait(STILL_WAITING_S)  # the third waits for room
        assert await channel.get() == b"a"
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, third.wait, WAIT_S)
        assert [await channel.get(), await channel.get()] == [b"b", b"c"]
        thread.join(WAIT_S)

    asyncio.run(main())


def test_the_reader_leaving_wakes_a_waiting_producer() -> None:
    async def main() -> None:
        channel = _Channel(1)
        channel.bind()
        outcome: list[str] = []

        def produce() -> None:
            try:
                while True:
                    channel.put(b"x")
            except _Closed:
                outcome.append("closed")
            try:
                channel.put(b"late")
            except _Closed:
                outcome.append("closed again")

        thread = threading.Thread(target=produce)
        thread.start()
        assert await channel.get() == b"x"
        channel.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, thread.join, WAIT_S)
        assert outcome == ["closed", "closed again"]
        assert isinstance(await channel.get(), _Closed)

    asyncio.run(main())


def test_the_end_comes_after_every_chunk_and_runs_its_callback_on_the_loop() -> None:
    async def main() -> None:
        channel = _Channel(4)
        channel.bind()
        loop_thread = threading.get_ident()
        ran_on: list[int] = []

        def produce() -> None:
            channel.put(b"1")
            channel.put(ValueError("failed mid-way"))
            channel.end(lambda: ran_on.append(threading.get_ident()))

        thread = threading.Thread(target=produce)
        thread.start()
        assert await channel.get() == b"1"
        error = await channel.get()
        assert isinstance(error, ValueError)
        assert isinstance(await channel.get(), _Closed)
        assert ran_on == [loop_thread]
        thread.join(WAIT_S)

    asyncio.run(main())


def test_a_put_after_the_event_loop_closed_raises_closed() -> None:
    channel = _Channel(2)

    async def bind() -> None:
        channel.bind()

    asyncio.run(bind())  # the loop is closed when run returns
    with pytest.raises(_Closed):
        channel.put(b"x")
