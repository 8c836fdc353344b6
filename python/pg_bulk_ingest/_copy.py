"""A driver's COPY run in a worker thread, fed through a short queue: the
thread waits for the server to take the data while the ingest's own thread
builds the next chunk."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional, Union

from ._drivers import Driver
from ._protocol import CopyBeginRequest

# Chunks queued at most, and their bytes: enough to ride out the server's
# pauses, few enough to keep memory flat (a chunk is a few megabytes, or
# one wide row: one is always taken, however big).
QUEUE_CHUNKS = 4
QUEUE_BYTES = 16 << 20

# Seconds an aborted COPY may take to end before the server is asked to
# cancel it.
ABORT_WAIT = 1

_END = None
Item = Union[bytes, BaseException, None]


class _BytesQueue(queue.Queue):  # type: ignore[type-arg]
    """A queue whose put also waits while it holds QUEUE_BYTES."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.bytes = 0

    def _qsize(self) -> int:
        # Full (maxsize) once over the bytes, unless empty: get() waits
        # only while this is 0, put() while it is maxsize or more.
        n = len(self.queue)
        return max(n, self.maxsize) if n and self.bytes >= QUEUE_BYTES else n

    def _put(self, item: Item) -> None:
        super()._put(item)
        self.bytes += _size(item)

    def _get(self) -> Item:
        item = super()._get()
        self.bytes -= _size(item)
        return item  # type: ignore[no-any-return]


def _size(item: Item) -> int:
    return len(item) if isinstance(item, bytes) else 0


class BackgroundCopy:
    def __init__(self, driver: Driver, begin: CopyBeginRequest) -> None:
        self._queue = _BytesQueue(QUEUE_CHUNKS)
        self._error: Optional[BaseException] = None
        self._told_to_end = False  # the thread has taken _END or an abort
        self._driver = driver
        # Set when the thread ends: unlike Thread.join, Event.wait is left
        # intact by an interrupt (Python 3.11's join then takes the thread
        # for ended).
        self._done = threading.Event()
        # Whether the thread began the COPY, or abort() came first: an
        # interrupt in start() leaves the thread started or not.
        self._lock = threading.Lock()
        self._began = self._aborted = False
        self._begin = begin

    def start(self) -> None:
        """Starts the thread that runs the COPY. Apart from the constructor,
        so that the caller can abort() whatever an interrupt interrupts:
        Thread.start waits for the thread, and an interrupt in that wait
        would leave a COPY running that nobody knows of."""
        threading.Thread(target=self._run, name="pg_bulk_ingest COPY", daemon=True).start()

    def _run(self) -> None:
        with self._lock:
            if self._aborted:
                self._done.set()
                return
            self._began = True
        try:
            self._driver.copy(self._begin, self._chunks())
        except BaseException as e:  # noqa: B036 - handed to the ingest's thread
            self._error = e
            # Keep taking chunks until told to end, so that write() never
            # waits on a full queue that nobody reads.
            while not self._told_to_end:
                self._take()
        finally:
            self._done.set()

    def _take(self) -> Item:
        item = self._queue.get()
        self._told_to_end = item is _END or isinstance(item, BaseException)
        return item

    def _chunks(self) -> Iterator[bytes]:
        while True:
            item = self._take()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item  # aborts the COPY
            yield item

    def write(self, data: bytes) -> None:
        """Queues data; raises the COPY's error if it has failed."""
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def finish(self) -> None:
        """Ends the COPY and waits for it; raises its error if it failed."""
        self._queue.put(_END)
        self._done.wait()
        if self._error is not None:
            raise self._error

    def abort(self, error: BaseException, interrupted: bool = False) -> None:
        """Makes the driver abort the COPY with error, and waits for it. The
        server is asked to cancel the COPY on an interrupt (Ctrl-C), or
        when the driver does not return at once: it waits for the server,
        for a lock say, and would not see the error until then."""
        if self._done.is_set():
            return
        with self._lock:
            self._aborted = True
            if not self._began:  # the thread, if any, will not begin
                self._done.set()
                return
        # What the thread has yet to send is dropped, so that the error
        # goes in without waiting for it to take anything.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(error)
        if not self._done.wait(0 if interrupted else ABORT_WAIT):
            self._driver.cancel(self._done)
