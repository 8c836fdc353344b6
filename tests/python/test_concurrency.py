"""Swaps under load: get_pg_force_execute is used only around a swap, ends
sessions that block it, and readers of the table and of a view on it never
see an error, a missing relation or part of a batch."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest
import sqlalchemy as sa
from helpers import (
    Batches,
    RecordingForceExecute,
    catalog_columns,
    execute,
    qi,
    query,
    relation_identity,
    rows_of,
    run_ingest,
    stored_high_watermark,
    tmp_tables,
)
from sqlalchemy.pool import NullPool

from pg_bulk_ingest import Delete, ingest


def keyed(schema: str, width: int = 16) -> sa.Table:
    return sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(width)),
        sa.Index(None, "value"),
        schema=schema,
    )


# --- get_pg_force_execute --------------------------------------------------


def test_get_pg_force_execute_is_called_only_for_a_swap(engine: sa.engine.Engine, schema: str) -> None:
    logger = logging.getLogger("tests.force_execute_calls")
    force = RecordingForceExecute()
    t = sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER), sa.Column("value", sa.VARCHAR(16)), schema=schema)
    # Created without key or index: nothing to swap.
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a")]))), get_pg_force_execute=force, logger=logger)
    assert force.calls == []
    # Unchanged: no swap, several batches.
    run_ingest(
        engine, t.metadata, Batches((2, None, rows_of(t, [(2, "b")])), (3, None, [])), get_pg_force_execute=force, logger=logger
    )
    assert force.calls == []
    # Changed: one swap, on the first batch only.
    changed = keyed(schema, 32)
    with engine.connect() as conn:
        ingest(
            conn,
            changed.metadata,
            Batches((4, None, rows_of(changed, [(4, "d")])), (5, None, rows_of(changed, [(5, "e")]))),
            get_pg_force_execute=force,
            logger=logger,
        )
        [(called_conn, called_logger)] = force.calls
        assert called_conn is conn
        assert called_logger is logger
    # Delete before the first batch: one more swap.
    run_ingest(
        engine, changed.metadata, Batches((6, None, rows_of(changed, [(6, "f")])), (7, None, [])),
        delete=Delete.BEFORE_FIRST_BATCH, get_pg_force_execute=force, logger=logger,
    )
    assert len(force.calls) == 2
    # No batches: no swap, even with delete and a changed definition.
    run_ingest(engine, keyed(schema, 64).metadata, Batches(), delete=Delete.BEFORE_FIRST_BATCH, get_pg_force_execute=force)
    assert len(force.calls) == 2
    assert query(engine, f"SELECT id FROM {qi(schema, 't')} ORDER BY 1") == [(6,)]


def test_the_swap_runs_inside_get_pg_force_execute(engine: sa.engine.Engine, schema: str) -> None:
    """While the context is open, the ingest table is there and the swap has
    not happened; once it exits, it has."""
    t = keyed(schema)
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a")]))))
    old_oid = relation_identity(engine, schema, "t")[0]
    events: List[Tuple[str, Any]] = []

    class Recording:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def oid(self) -> Any:
            return self.conn.execute(
                sa.text("SELECT to_regclass(format('%I.t', CAST(:s AS text)))::oid::bigint"), {"s": schema}
            ).scalar()

        def __enter__(self) -> None:
            events.append(("enter", self.oid()))

        def __exit__(self, *exc: Any) -> None:
            events.append(("exit", self.oid()))

    changed = keyed(schema, 32)
    run_ingest(
        engine,
        changed.metadata,
        Batches((2, None, rows_of(changed, [(2, "b")]))),
        get_pg_force_execute=lambda conn, logger: Recording(conn),
    )
    assert events[0] == ("enter", old_oid)
    assert events[1][0] == "exit" and events[1][1] not in (None, old_oid)
    assert len(events) == 2


@pytest.mark.parametrize("how", ["migration", "delete"])
def test_a_blocking_session_is_terminated_so_the_swap_completes(engine: sa.engine.Engine, schema: str, how: str) -> None:
    t = keyed(schema)
    run_ingest(engine, t.metadata, Batches(("hwm-1", None, rows_of(t, [(1, "a"), (2, "b")]))))
    execute(engine, f"CREATE VIEW {qi(schema, 'v')} AS SELECT id FROM {qi(schema, 't')}")
    force = RecordingForceExecute(delay=datetime.timedelta(seconds=1))

    blocker = engine.connect()
    try:
        # An open transaction that has read the table holds a lock on it
        # (and on the view) until it ends.
        blocker.begin()
        assert blocker.execute(sa.text(f"SELECT count(*) FROM {qi(schema, 'v')}")).scalar() == 2
        blocker_pid = blocker.execute(sa.text("SELECT pg_backend_pid()")).scalar()

        new = keyed(schema, 32) if how == "migration" else t
        started = time.monotonic()
        with engine.connect() as conn:
            # A safety net: the test fails rather than hangs if nothing ends the blocker.
            conn.execute(sa.text("SET lock_timeout = '30s'"))
            conn.commit()
            ingest(
                conn,
                new.metadata,
                Batches(("hwm-2", None, rows_of(new, [(3, "c")]))),
                delete=Delete.BEFORE_FIRST_BATCH if how == "delete" else Delete.OFF,
                get_pg_force_execute=force,
            )
        elapsed = time.monotonic() - started
        assert len(force.calls) == 1
        assert elapsed < 20
        # The blocker's session is gone.
        with pytest.raises(sa.exc.DBAPIError):
            blocker.execute(sa.text("SELECT 1")).scalar()
        assert not query(engine, "SELECT 1 FROM pg_stat_activity WHERE pid = :p", p=blocker_pid)
    finally:
        blocker.invalidate()
        blocker.close()
    expected = [(1,), (2,), (3,)] if how == "migration" else [(3,)]
    assert query(engine, f"SELECT id FROM {qi(schema, 'v')} ORDER BY 1") == expected
    assert stored_high_watermark(engine, schema, "t") == "hwm-2"
    assert tmp_tables(engine, schema) == []


# --- readers during swaps ----------------------------------------------------

READERS = 50
ROWS_PER_BATCH = 400
BATCHES_PER_INGEST = 3
DURATION = 15.0  # seconds of ingesting, at most (plus the ingest in flight)
MIN_INGESTS = 4


def variant(schema: str, n: int) -> sa.Table:
    """Two definitions that differ in a column's length: alternating them
    makes every ingest swap."""
    return sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("batch", sa.INTEGER, nullable=False),
        sa.Column("i", sa.INTEGER, nullable=False),
        sa.Column("note", sa.VARCHAR(16 if n % 2 == 0 else 32)),
        sa.Index(None, "batch"),
        schema=schema,
    )


class Reader(threading.Thread):
    """Loops over the queries on its own connection until told to stop,
    recording errors and anything inconsistent."""

    def __init__(self, engine: sa.engine.Engine, queries: List[str], stop: threading.Event, rows_per_batch: int) -> None:
        super().__init__(daemon=True)
        self.engine, self.queries, self.stop, self.rows_per_batch = engine, queries, stop, rows_per_batch
        self.count = 0
        self.errors: List[str] = []
        self.inconsistent: List[Tuple[str, Any]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SET statement_timeout = '10s'"))
                self.ready.set()
                last_max: Dict[str, int] = {}
                while not self.stop.is_set():
                    for sql in self.queries:
                        try:
                            n, lo, hi = conn.execute(sa.text(sql)).one()
                        except Exception as e:  # noqa: BLE001 - every error is a failure here
                            self.errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")
                            if len(self.errors) > 20:
                                return
                            continue
                        self.count += 1
                        # Each batch adds rows_per_batch rows and they are
                        # never updated: a complete view of batches lo..hi.
                        if n == 0 or n != (hi - lo + 1) * self.rows_per_batch:
                            self.inconsistent.append((sql, (n, lo, hi)))
                        # Commits become visible in order: the newest batch seen never goes back.
                        if hi is not None:
                            if hi < last_max.get("hi", 0):
                                self.inconsistent.append(("went back", (last_max["hi"], hi)))
                            last_max["hi"] = hi
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"connection: {type(e).__name__}: {e}")
        finally:
            self.ready.set()


def test_readers_never_see_a_missing_relation_or_a_partial_batch(engine: sa.engine.Engine, schema: str) -> None:
    first = variant(schema, 0)
    next_batch = 1

    def batches_for(t: sa.Table, count: int) -> Batches:
        nonlocal next_batch
        made = []
        for _ in range(count):
            b = next_batch
            next_batch += 1
            made.append((b, None, rows_of(t, ((b, i, f"n{i}") for i in range(ROWS_PER_BATCH)))))
        return Batches(*made)

    run_ingest(engine, first.metadata, batches_for(first, 2))
    s = qi(schema)
    execute(
        engine,
        f"CREATE VIEW {s}.v AS SELECT batch, i FROM {s}.t",
        f"CREATE VIEW {s}.v_on_v AS SELECT batch FROM {s}.v WHERE i >= 0",
    )
    queries = [
        f"SELECT count(*), min(batch), max(batch) FROM {s}.t",
        f"SELECT count(*), min(batch), max(batch) FROM {s}.v",
        f"SELECT count(*), min(batch), max(batch) FROM {s}.v_on_v",
    ]

    readers_engine = sa.create_engine(engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    stop = threading.Event()
    readers = [Reader(readers_engine, queries, stop, ROWS_PER_BATCH) for _ in range(READERS)]
    force = RecordingForceExecute(delay=datetime.timedelta(seconds=30))
    ingests = 0
    ingest_errors: List[str] = []
    try:
        for r in readers:
            r.start()
        for r in readers:
            r.ready.wait(30)
        started = time.monotonic()
        while ingests < MIN_INGESTS or time.monotonic() - started < DURATION:
            ingests += 1
            t = variant(schema, ingests)
            # Every third ingest also deletes what was there before.
            delete = Delete.BEFORE_FIRST_BATCH if ingests % 3 == 0 else Delete.OFF
            try:
                run_ingest(engine, t.metadata, batches_for(t, BATCHES_PER_INGEST), delete=delete, get_pg_force_execute=force)
            except Exception as e:  # noqa: BLE001 - reported below, with the figures
                ingest_errors.append(f"ingest {ingests}: {type(e).__name__}: {str(e).splitlines()[0]}")
                break
            if ingests >= 60:
                break
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for r in readers:
            r.join(30)
        readers_engine.dispose()

    total = sum(r.count for r in readers)
    errors = [e for r in readers for e in r.errors]
    inconsistent = [x for r in readers for x in r.inconsistent]
    print(
        f"\n[concurrency] readers={READERS} ingests={ingests} swaps={len(force.calls)} "
        f"batches={next_batch - 1} rows/batch={ROWS_PER_BATCH} queries={total} "
        f"({total / max(elapsed, 1e-9):.0f}/s over {elapsed:.1f}s) reader errors={len(errors)} "
        f"inconsistent={len(inconsistent)} ingest errors={ingest_errors}"
        + "".join(f"\n  reader error x{errors.count(e)}: {e}" for e in sorted(set(errors)))
    )
    assert ingest_errors == []
    assert errors == [], errors[:10]
    assert inconsistent == [], inconsistent[:10]
    assert len(force.calls) == ingests, "every ingest should have swapped"
    assert all(r.count > 0 for r in readers)
    assert catalog_columns(engine, schema, "t")[2][1] == ("character varying(16)" if ingests % 2 == 0 else "character varying(32)")
    assert tmp_tables(engine, schema) == []
