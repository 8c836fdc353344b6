"""What differs between psycopg2 and psycopg 3: running SQL and COPY on the
driver connection underneath the user's SQLAlchemy connection."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterable, List, Sequence, TypeVar

from to_file_like_obj import to_file_like_obj

from ._errors import IngestError
from ._protocol import CopyBeginRequest

SUPPORTED = ("psycopg2", "psycopg", "pgarrow")

# pgarrow's DBAPI is ADBC's, which takes the engine's $n parameters as they
# are and runs no COPY FROM STDIN: rows come as Arrow (copy).
ADBC = ("pgarrow",)

# Seconds to wait for the driver to return once the server was asked to
# cancel its statement: the server answers at once, unless unreachable.
CANCEL_WAIT = 10

T = TypeVar("T")


class Driver:
    def __init__(self, conn: Any) -> None:
        name = conn.engine.driver
        if name not in SUPPORTED:
            raise ValueError(
                f"unsupported driver {name!r}: use postgresql+psycopg2://, postgresql+psycopg:// "
                "or postgresql+pgarrow://"
            )
        self.name = name
        self.adbc = name in ADBC
        self._busy: Any = None  # the cursor of the COPY under way, for cancel
        self._sa_conn = conn
        # psycopg2's statements run in a worker thread (_interruptible),
        # started on the first.
        self._jobs: queue.SimpleQueue[Any] | None = None

    def _cursor(self) -> Any:
        return self._sa_conn.connection.driver_connection.cursor()

    def execute(self, sql: str, params: Sequence[Any] | None) -> None:
        self._interruptible(lambda: self._run(sql, params, fetch=False))

    def query(self, sql: str, params: Sequence[Any] | None) -> list[Any]:
        return self._interruptible(lambda: self._run(sql, params, fetch=True))

    def _run(self, sql: str, params: Sequence[Any] | None, fetch: bool) -> Any:
        with self._cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if fetch else None

    def _interruptible(self, run: Callable[[], T]) -> T:
        """Runs a statement so that an interrupt (Ctrl-C) cancels it. psycopg
        3 does so itself; psycopg2 waits for the server in C, where Python
        cannot raise the interrupt, so the statement runs in a worker thread
        while this one waits."""
        if self.name != "psycopg2":
            return run()
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self._jobs,), name="pg_bulk_ingest statements", daemon=True).start()
        outcome: List[Any] = []
        # Not Thread.join: an interrupt of it makes Python 3.11 take the
        # thread for ended.
        done = threading.Event()
        self._jobs.put((run, outcome, done))
        try:
            done.wait()
        except BaseException:  # noqa: B036 - Ctrl-C, or another signal's exception
            self.cancel(done)
            raise
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Ends the worker thread, if any."""
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None

    def cancel(self, done: threading.Event) -> None:
        """Asks the server to cancel the statement that a worker thread runs
        on the connection, and waits for the driver to return there, which
        sets done."""
        conn = self._sa_conn.connection.driver_connection
        if self.adbc:
            if self._busy is not None:  # else the COPY's thread has yet to start it
                self._busy.adbc_cancel()
        elif hasattr(conn, "cancel_safe"):  # psycopg 3.2: interruptible, bounded
            conn.cancel_safe(timeout=CANCEL_WAIT)
        else:
            conn.cancel()
        if not done.wait(CANCEL_WAIT):
            raise IngestError(
                f"the server did not end a statement within {CANCEL_WAIT} s of a request to cancel it: "
                "the connection is still busy with it, and cannot be used"
            )

    def copy(self, begin: CopyBeginRequest, chunks: Iterable[bytes]) -> None:
        """Runs the COPY that begin asks for, fed with chunks; on ADBC,
        creates begin's temporary table from chunks, an Arrow IPC stream."""
        with self._cursor() as cur:
            if self.adbc:
                import pyarrow as pa

                self._busy = cur
                rows = pa.ipc.open_stream(to_file_like_obj(chunks, bytes))
                cur.adbc_ingest(begin["table"], rows, mode="create", temporary=True)
            elif self.name == "psycopg2":
                cur.copy_expert(begin["sql"], to_file_like_obj(chunks, bytes), size=1 << 20)
            else:
                with cur.copy(begin["sql"]) as copy:
                    for chunk in chunks:
                        copy.write(chunk)


def _serve(jobs: queue.SimpleQueue[Any]) -> None:
    """Runs the statements put in jobs, each with the list to append its
    result or exception to and the event to set then, until None."""
    while True:
        job = jobs.get()
        if job is None:
            return
        run, outcome, done = job
        try:
            outcome.append(run())
        except BaseException as e:  # noqa: B036 - handed to the waiting thread
            outcome.append(e)
        finally:
            done.set()
