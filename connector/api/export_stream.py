"""An export's own producer thread, and the streamed response that reads it.

``ExportProducer`` runs one export on a thread of its own (taken from the ``exports``
limiter of ``connector.api.work``, never from the user or default pools): it opens the
stream (the statement runs and its first batch is read there), then encodes chunk after
chunk into a bounded channel. The response reads the channel on the event loop, so a
slow client holds the producer back (``BUFFER_CHUNKS`` chunks at most in memory) and no
thread is taken per batch. Handing a chunk over does not wait for the event loop: the
producer waits only while the channel is full, so it makes the next batch while the loop
sends the last one. An export waiting for a database connection waits on its own
thread, holding none that other work needs.

The client going away, while the export opens or while it streams, is seen on the event
loop (``http.disconnect``), never by a blocked thread: the query is stopped in the
database through its ``StopSignal`` on the control limiter, and the channel is closed so
the producer stops at its next chunk and releases the connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from connector.api.work import Pools, client_gone
from connector.errors import ConnectorError
from connector.running import StopSignal, current_stop
from connector.service import ManagedStream

log = logging.getLogger(__name__)

# Chunks (one per batch) the producer may be ahead of the client.
BUFFER_CHUNKS = 2


class _Opened:
    """The first item in the channel of a stream that opened."""


class _Closed(Exception):
    """The reader is gone: the producer stops."""


OPENED = _Opened()
Item = bytes | _Opened | BaseException


class _Channel:
    """Chunks from one producer thread to the event loop, at most ``size`` waiting.

    The thread's ``put`` hands a chunk to the loop without waiting for it to run (a call
    scheduled on the loop, in order) and waits only while ``size`` chunks are unread; the
    loop's ``get`` waits for the next chunk. Closing the reading end wakes a waiting
    producer, whose ``put`` then raises ``_Closed``."""

    def __init__(self, size: int) -> None:
        self._room = threading.Semaphore(size)
        self._items: deque[Item] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._ended = False  # the producer sent its last item
        self._closed = False  # the reader is gone

    def bind(self) -> None:
        """Called on the event loop before the producer starts."""
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()

    # the producer's thread

    def put(self, item: Item) -> None:
        self._room.acquire()
        if self._closed:
            self._room.release()  # for the next put, which raises too
            raise _Closed()
        self._call_soon(self._arrive, item)

    def end(self, on_loop: Callable[[], None]) -> None:
        """No more items; ``on_loop`` runs on the event loop once the last one is queued."""
        self._call_soon(self._finish, on_loop)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError as exc:  # the event loop is closed: the server stopped
            raise _Closed() from exc

    # the event loop

    def _arrive(self, item: Item) -> None:
        assert self._arrived is not None
        if self._closed:
            self._room.release()
            return
        self._items.append(item)
        self._arrived.set()

    def _finish(self, on_loop: Callable[[], None]) -> None:
        assert self._arrived is not None
        self._ended = True
        self._arrived.set()
        on_loop()

    async def get(self) -> Item:
        """The next item; ``_Closed()`` once the producer ended or the reader closed."""
        assert self._arrived is not None
        while not self._items:
            if self._ended or self._closed:
                return _Closed()
            self._arrived.clear()
            await self._arrived.wait()
        if self._closed:
            return _Closed()
        self._room.release()
        return self._items.popleft()

    def close(self) -> None:
        """The reader is gone: drop what waits and wake the producer."""
        if self._closed:
            return
        self._closed = True
        for _ in range(len(self._items)):
            self._room.release()
        self._items.clear()
        self._room.release()
        if self._arrived is not None:
            self._arrived.set()


class ExportProducer:
    """One export: its own thread making the bytes, a bounded channel to the response."""

    def __init__(
        self, open_stream: Callable[[], ManagedStream], pools: Pools, connection: str
    ) -> None:
        self._open_stream = open_stream
        self._pools = pools
        self._places = pools.exports(connection)
        self.signal = StopSignal()
        self._channel = _Channel(BUFFER_CHUNKS)

    # the event loop's side ----------------------------------------------------------------

    async def open(self, receive: Receive) -> None:
        """Start the producer and wait until the export has opened; raises the error of a
        statement that fails, and stops it if the client leaves meanwhile."""
        self._channel.bind()
        context = contextvars.copy_context()  # carries the caller, for history
        context.run(current_stop.set, self.signal)
        async with anyio.create_task_group() as group:
            # Left while waiting or opening: the statement is stopped (as it starts, if it
            # has not), and the error of its stopping comes through the channel.
            group.start_soon(self.stop_when_gone, receive, False)
            await self._places.acquire_on_behalf_of(self)
            thread = threading.Thread(
                target=context.run, args=(self._produce,), name="export", daemon=True
            )
            thread.start()
            first = await self._channel.get()
            group.cancel_scope.cancel()
        if isinstance(first, BaseException):
            self.release()
            raise first

    async def stop_when_gone(self, receive: Receive, release: bool = True) -> None:
        """When the client leaves: stop the query in the database (on the control
        limiter, since cancel hooks block), then (``release``) let the producer go."""
        await client_gone(receive)
        await anyio.to_thread.run_sync(self.signal.stop, limiter=self._pools.control)
        if release:
            self.release()

    def release(self) -> None:
        """Close the reading end: the producer stops at its next chunk."""
        self._channel.close()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The export's bytes; raises the error that ended it early."""
        while True:
            item = await self._channel.get()
            if isinstance(item, _Closed):
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, bytes):
                yield item

    # the producer's thread --------------------------------------------------------------

    def _produce(self) -> None:
        last: BaseException | None = None
        try:
            stream = self._open_stream()
        except BaseException as exc:
            self._end(exc)
            return
        try:
            self._channel.put(OPENED)
            for chunk in stream.chunks():
                self._channel.put(chunk)
        except _Closed:
            pass
        except Exception as exc:  # a ConnectorError from the stream: ends the response
            last = exc
        finally:
            try:
                stream.close()  # stops the statement if it did not end; history; connection
            finally:
                self._end(last)

    def _end(self, error: BaseException | None) -> None:
        """Send the error that ended the export (if any), end the channel and give the
        export's place back (on the event loop, after the chunks before it)."""
        try:
            if error is not None:
                self._channel.put(error)
        except _Closed:
            pass
        try:
            self._channel.end(functools.partial(self._places.release_on_behalf_of, self))
        except _Closed:
            log.debug("an export ended after the event loop")


class ExportResponse(StreamingResponse):
    """The export's bytes as they come, the client's leaving watched throughout (not only
    when a write fails, which a producer blocked in a fetch would never reach)."""

    def __init__(self, producer: ExportProducer, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(producer.chunks(), media_type=media_type, headers=headers)
        self.producer = producer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = self.producer
        failure: Exception | None = None

        async def watch() -> None:
            await producer.stop_when_gone(receive)
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                try:
                    await self.stream_response(send)
                except Exception as exc:  # raised below, not in the group's ExceptionGroup
                    failure = exc
                group.cancel_scope.cancel()
        finally:
            producer.release()
        if isinstance(failure, ConnectorError):
            # Stopped or failed mid-way (history has it): end without the final chunk, so
            # the client sees a transfer cut short, never a file that looks whole; one
            # line in the log rather than a traceback.
            log.warning("an export ended early: %s (%s)", failure.detail, failure.code)
            return
        if failure is not None:
            raise failure
