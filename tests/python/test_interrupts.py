"""Ctrl-C during an ingest whose statement waits on another session's
lock: the statement is cancelled in the server, KeyboardInterrupt reaches
the caller while the lock is still held, the batch is rolled back and the
connection can be used again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator

import pytest
import sqlalchemy as sa
from helpers import int_table, query, read_rows, rows_of, run_ingest

from pg_bulk_ingest import ingest

# Longest the other session holds its lock: a safety net that ends the
# test should the interrupt never come, long enough for a loaded machine.
HOLD_SECONDS = 120

# The lock each statement waits for: the COPY into the table needs ROW
# EXCLUSIVE, which ACCESS EXCLUSIVE blocks; with upsert the COPY goes into
# a temporary table, and the INSERT ... ON CONFLICT into the table is what
# SHARE blocks.
CASES: Dict[str, Dict[str, Any]] = {
    "copy": {"pk": (), "lock": "ACCESS EXCLUSIVE"},
    "upsert": {"pk": ("id",), "lock": "SHARE"},
}


class LockHolder:
    """Another session holding a lock on a table until release(), or
    HOLD_SECONDS."""

    def __init__(self, engine: sa.engine.Engine, table: str, mode: str) -> None:
        self._release = threading.Event()
        self._locked = threading.Event()
        self.held = False
        self._thread = threading.Thread(target=self._hold, args=(engine, table, mode), daemon=True)
        self._thread.start()
        assert self._locked.wait(10), "the lock was not taken"

    def _hold(self, engine: sa.engine.Engine, table: str, mode: str) -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(f"LOCK TABLE {table} IN {mode} MODE"))
            self.held = True
            self._locked.set()
            self._release.wait(HOLD_SECONDS)
            self.held = False
            conn.rollback()

    def release(self) -> None:
        self._release.set()
        self._thread.join()


def interrupt_when_waiting(engine: sa.engine.Engine, pid: int) -> threading.Thread:
    """Sends SIGINT, as Ctrl-C does, to the main thread once backend pid
    waits for a lock."""
    main = threading.main_thread().ident
    assert main is not None

    def watch() -> None:
        while query(engine, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p", p=pid) != [("Lock",)]:
            threading.Event().wait(0.01)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("case", list(CASES))
def test_ctrl_c_cancels_a_statement_waiting_on_a_lock(engine: sa.engine.Engine, schema: str, case: str) -> None:
    """Run in a fresh interpreter, as a script a user interrupts: a process
    that ran other tests first (the polars one) was seen to take the
    signal only after the lock's release (see the README)."""
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.run(
        [sys.executable, "-c", f"import test_interrupts as t; t.interrupt_scenario({url!r}, {schema!r}, {case!r})"],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),  # this process's imports
        capture_output=True,
        text=True,
        timeout=HOLD_SECONDS + 60,
    )
    assert child.returncode == 0, child.stderr[-3000:]


def interrupt_scenario(url: str, schema: str, case: str) -> None:
    engine = sa.create_engine(url, future=True)  # SQLAlchemy 1.4 needs future=True
    metadata = sa.MetaData()
    table = int_table(metadata, schema, pk=CASES[case]["pk"])
    run_ingest(engine, metadata, lambda _: iter([(0, None, rows_of(table, [(0, "a")]))]))

    def batches(high_watermark: Any) -> Iterator[Any]:
        yield 1, None, rows_of(table, [(i, "b") for i in range(1, 1001)])

    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        conn.commit()
        holder = LockHolder(engine, f'"{schema}"."t"', CASES[case]["lock"])
        try:
            watcher = interrupt_when_waiting(engine, pid)
            with pytest.raises(KeyboardInterrupt):
                ingest(conn, metadata, batches)
            watcher.join()
            # Raised while the other session still holds its lock.
            assert holder.held
            # Nothing of ours still runs in the server, nor waits.
            assert query(engine, "SELECT state FROM pg_stat_activity WHERE pid = :p", p=pid) == [("idle",)]
        finally:
            holder.release()
        # The batch was rolled back, and the connection works again.
        assert read_rows(engine, table) == [(0, "a")]
        ingest(conn, metadata, batches)
    assert sorted(r[0] for r in read_rows(engine, table)) == list(range(1001))
