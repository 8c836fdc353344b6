"""A driver's COPY run in a worker thread, fed through a short queue: the
thread waits for the server to take the data while the ingest's own thread
builds the next chunk."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Optional, Union

from ._drivers import Driver

# Chunks queued at most: enough to ride out the server's pauses, few enough
# to keep memory flat (a chunk is about a megabyte).
QUEUE_CHUNKS = 4

_END = None


class BackgroundCopy:
    def __init__(self, driver: Driver, sql: str) -> None:
        self._queue: queue.Queue[Union[bytes, BaseException, None]] = queue.Queue(QUEUE_CHUNKS)
        self._error: Optional[BaseException] = None
        self._told_to_end = False  # the thread has taken _END or an abort
        self._thread = threading.Thread(target=self._run, args=(driver, sql), name="pg_bulk_ingest COPY", daemon=True)
        self._thread.start()

    def _run(self, driver: Driver, sql: str) -> None:
        try:
            driver.copy(sql, self._chunks())
        except BaseException as e:  # noqa: B036 - handed to the ingest's thread
            self._error = e
            # Keep taking chunks until told to end, so that write() never
            # waits on a full queue that nobody reads.
            while not self._told_to_end:
                self._take()

    def _take(self) -> Union[bytes, BaseException, None]:
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
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self, error: BaseException) -> None:
        """Makes the driver abort the COPY with error, and waits for it."""
        if self._thread.is_alive():
            self._queue.put(error)
            self._thread.join()
