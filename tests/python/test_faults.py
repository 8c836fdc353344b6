"""Faults from outside the ingest: its backend terminated mid-statement,
statement and lock timeouts expiring, the server restarting between two
ingests, and two ingests into the same table at once.

Each checks the exception that reaches the caller, that the batches
committed before the fault and the stored high watermark are intact, that
no `_tmp_` table is left, and that a rerun on a new connection carries on
from the stored high watermark to the right rows. Faults are made
deterministic: a statement is held by a lock that another session takes
(or by the batch's rows waiting), and a watcher session acts once
pg_stat_activity or pg_locks shows the ingest's backend there."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pgcluster
import pytest
import sqlalchemy as sa
from helpers import (
    RecordingForceExecute,
    connection_works,
    driver_error,
    index_names,
    qi,
    query,
    read_rows,
    run_ingest,
    stored_high_watermark,
    tmp_tables,
)
from sqlalchemy.pool import NullPool

from pg_bulk_ingest import Upsert, _host_source, ingest

SQLALCHEMY_2 = int(sa.__version__.split(".")[0]) >= 2

ROWS = 120  # rows per batch
CHUNK = 50  # rows per chunk: a COPY starts once a chunk is ready
WAIT = 30.0  # seconds, at most, for anything awaited


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of CHUNK rows, so that a batch's COPY runs while its later
    rows are still to come (the default chunk is 10,000 rows)."""
    monkeypatch.setattr(_host_source, "CHUNK_ROWS", CHUNK)


def make_table(schema: str, indexed: bool = False) -> sa.Table:
    """t (id INTEGER PRIMARY KEY, value VARCHAR(32)); indexed adds an
    index on value, which makes the next ingest's first batch migrate."""
    return sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(32)),
        *([sa.Index(None, "value")] if indexed else []),
        schema=schema,
    )


class Source:
    """A `batches` callable: batch k (high watermark "hwm-k") holds ROWS
    new keys k*1000+i and, with updates, key 1000 (batch 1's first) again
    with a new value. Called with a stored high watermark "hwm-j", it
    yields batches j+1 to `last`. fault(k, i), when set, runs before row i
    of batch k."""

    def __init__(self, table: sa.Table, last: int, updates: bool = True) -> None:
        self.table, self.last, self.updates = table, last, updates
        self.calls: List[Any] = []
        self.fault: Optional[Tuple[int, int, Callable[[], None]]] = None

    def rows(self, k: int) -> List[Tuple[int, str]]:
        rows = [(k * 1000 + i, f"b{k}-{i}") for i in range(ROWS)]
        if self.updates and k > 1:
            rows.insert(ROWS // 2, (1000, f"b{k}"))
        return rows

    def __call__(self, high_watermark: Any) -> Iterator[Any]:
        self.calls.append(high_watermark)
        done = 0 if high_watermark is None else int(high_watermark.split("-")[1])
        for k in range(done + 1, self.last + 1):
            yield f"hwm-{k}", f"batch {k}", self._pairs(k)

    def _pairs(self, k: int) -> Iterator[Tuple[sa.Table, Tuple[int, str]]]:
        for i, row in enumerate(self.rows(k)):
            if self.fault is not None and self.fault[:2] == (k, i):
                self.fault[2]()
            yield self.table, row

    def expected(self, upto: int) -> List[Tuple[int, str]]:
        """The rows once batches 1 to upto are in."""
        rows: Dict[int, str] = {}
        for k in range(1, upto + 1):
            rows.update(self.rows(k))
        return sorted(rows.items())


def assert_kept(engine: sa.engine.Engine, source: Source, upto: int) -> None:
    """Batches 1 to upto are there, and no more; so is their high watermark."""
    schema = source.table.schema
    assert read_rows(engine, source.table, order_by=["id"]) == source.expected(upto)
    assert stored_high_watermark(engine, schema, "t") == f"hwm-{upto}"
    assert tmp_tables(engine, schema) == []


def rerun(engine: sa.engine.Engine, source: Source, stored: int, **kwargs: Any) -> None:
    """Ingests again on a new connection: it must start after batch
    `stored` and end with every batch in."""
    source.fault = None
    source.calls.clear()
    run_ingest(engine, source.table.metadata, source, max_rows_per_table_buffer=CHUNK, **kwargs)
    assert source.calls == [f"hwm-{stored}"]
    assert_kept(engine, source, source.last)


def backend_pid(conn: sa.engine.Connection) -> int:
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    conn.commit()  # ingest begins its own transactions
    return int(pid)


def new_engine(engine: sa.engine.Engine, **kwargs: Any) -> sa.engine.Engine:
    """Another engine on engine's URL (SQLAlchemy 2's API under 1.4 too)."""
    return sa.create_engine(engine.url, **kwargs, **({} if SQLALCHEMY_2 else {"future": True}))


def other_session(engine: sa.engine.Engine) -> sa.engine.Engine:
    """An engine for sessions beside the ingest's: watchers and blockers."""
    return new_engine(engine, poolclass=NullPool, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def blocker(engine: sa.engine.Engine) -> Iterator[Callable[[str], None]]:
    """Another session in an open transaction: take(sql) runs sql in it
    (taking a lock, say), which holds until the block ends."""
    own = new_engine(engine, poolclass=NullPool)
    conn = own.connect()
    conn.begin()

    def take(sql: str) -> None:
        conn.execute(sa.text(sql))

    try:
        yield take
    finally:
        conn.rollback()
        conn.close()
        own.dispose()


def poll(what: str, check: Callable[[], bool]) -> None:
    """Waits until check() holds, looking every few milliseconds."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Terminator:
    """Once armed, watches backend pid from another session and terminates
    it as soon as its statement starts with one of prefixes (and, with
    lock_wait, waits for a lock); `done` is set once the backend is gone.
    Arming it at the fault keeps it off the same statements of the
    batches before."""

    def __init__(self, engine: sa.engine.Engine, pid: int, prefixes: Sequence[str], lock_wait: bool = False) -> None:
        self.engine, self.pid, self.prefixes, self.lock_wait = other_session(engine), pid, prefixes, lock_wait
        self.armed = threading.Event()
        self.done = threading.Event()
        self.statement: Optional[str] = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="terminator", daemon=True)

    def __enter__(self) -> "Terminator":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.armed.set()  # for a test that failed before the fault
        self.thread.join(WAIT)
        self.engine.dispose()

    def arm(self) -> None:
        self.armed.set()

    def _run(self) -> None:
        try:
            if not self.armed.wait(WAIT):
                raise AssertionError("the fault was never reached")
            with self.engine.connect() as conn:
                activity = sa.text("SELECT query, state, wait_event_type FROM pg_stat_activity WHERE pid = :p")

                def ready() -> bool:
                    row = conn.execute(activity, {"p": self.pid}).first()
                    return (
                        row is not None
                        and row.state == "active"
                        and row.query.lstrip().startswith(tuple(self.prefixes))
                        and (not self.lock_wait or row.wait_event_type == "Lock")
                    )

                poll(f"backend {self.pid} to run {' or '.join(self.prefixes)}", ready)
                self.statement = conn.execute(activity, {"p": self.pid}).first().query
                conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": self.pid})
                poll(f"backend {self.pid} to end", lambda: conn.execute(activity, {"p": self.pid}).first() is None)
        except BaseException as e:  # noqa: B036 - reported by the test
            self.error = e
        finally:
            self.done.set()

    def arm_and_wait(self) -> None:
        """Arms the terminator and waits for the termination (from the
        batch's rows, which hold the COPY open meanwhile)."""
        self.arm()
        if not self.done.wait(WAIT) or self.error is not None:
            raise AssertionError(f"the backend was not terminated: {self.error!r}")


class NoForceExecute:
    """A get_pg_force_execute that terminates nobody."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, conn: Any, logger: Any) -> Any:
        self.calls += 1
        return contextlib.nullcontext()


def driver_exception(driver: str, name: str = "OperationalError") -> type:
    if name == "OperationalError":
        module = __import__(driver)
        return getattr(module, name)  # type: ignore[no-any-return]
    return driver_error(driver, name)


# The driver's words for a connection whose backend was terminated: the
# server's own message when the driver read it, else the driver's.
TERMINATED = re.compile(
    r"terminating connection due to administrator command|server closed the connection unexpectedly"
    r"|connection (is|already) closed|consuming input failed|sending copy data failed",
    re.IGNORECASE,
)


# --- the backend terminated mid-statement --------------------------------------


@pytest.mark.parametrize(
    "where",
    ["copy-live-table", "copy-staging-table", "copy-ingest-table", "upsert", "swap"],
)
def test_backend_terminated(engine: sa.engine.Engine, driver: str, schema: str, where: str) -> None:
    """pg_terminate_backend from another session while the ingest's backend
    runs a COPY (into the live table, an upsert's staging table, or a
    migration's new ingest table), the INSERT ... ON CONFLICT of an upsert,
    or the DROP TABLE of a migration's swap."""
    migrates = where in ("copy-ingest-table", "swap")
    upsert = Upsert.OFF if where in ("copy-live-table", "copy-ingest-table") else Upsert.IF_PRIMARY_KEY
    source = Source(make_table(schema), last=2, updates=upsert == Upsert.IF_PRIMARY_KEY)
    run_ingest(engine, source.table.metadata, source, upsert=upsert, max_rows_per_table_buffer=CHUNK)

    # A migration's first batch (3) is the faulty one; else batch 3 goes in
    # and batch 4 fails.
    fault = 3 if migrates else 4
    source.last = 5
    if migrates:
        source.table = make_table(schema, indexed=True)
    force = NoForceExecute()
    with blocker(engine) as take, engine.connect() as conn:
        pid = backend_pid(conn)
        if where.startswith("copy"):
            # Into the table that the variant is about.
            target = {"copy-live-table": f'"{schema}"."t" ', "copy-staging-table": '"_tmp_', "copy-ingest-table": f'"{schema}"."_tmp_'}
            prefixes, lock_wait = [f"COPY {target[where]}"], False
        elif where == "upsert":
            prefixes, lock_wait = ["INSERT INTO"], True
        else:
            prefixes, lock_wait = ["DROP TABLE", "ALTER TABLE", "DROP VIEW"], True
            # A reader in an open transaction: the swap waits for it.
            take(f"SELECT count(*) FROM {qi(schema, 't')}")
        with Terminator(engine, pid, prefixes, lock_wait) as terminator:
            if where.startswith("copy"):
                # The rows wait, mid-COPY (the third chunk), for the end of their backend.
                source.fault = (fault, 2 * CHUNK + 10, terminator.arm_and_wait)
            elif where == "upsert":
                # The upsert waits for batch 1's key 1000, locked here.
                def lock_key() -> None:
                    take(f"SELECT 1 FROM {qi(schema, 't')} WHERE id = 1000 FOR UPDATE")
                    terminator.arm()

                source.fault = (fault, 0, lock_key)
            else:
                terminator.arm()  # the migration's swap is the first to wait for a lock
            with pytest.raises(Exception) as info:
                ingest(
                    conn, source.table.metadata, source, upsert=upsert, max_rows_per_table_buffer=CHUNK,
                    get_pg_force_execute=force,
                )
        assert terminator.error is None, terminator.error
        assert terminator.statement is not None
        assert terminator.statement.startswith(tuple(prefixes))
        # The driver's own exception, as the server or the driver put it.
        raised = info.value
        print(f"\n[faults] terminated at {terminator.statement[:40]!r}: {type(raised).__name__}: {raised}")
        assert isinstance(raised, driver_exception(driver)), repr(raised)
        assert TERMINATED.search(str(raised)), str(raised)
        # The connection is dead: SQLAlchemy found out when rolling back.
        assert conn.invalidated
    assert force.calls == (1 if where == "swap" else 0)
    assert_kept(engine, source, fault - 1)
    if migrates:
        assert index_names(engine, schema, "t") == []  # the old table, as it was
    rerun(engine, source, fault - 1, upsert=upsert)
    if migrates:
        assert len(index_names(engine, schema, "t")) == 1


# --- statement_timeout and lock_timeout ------------------------------------------


@pytest.mark.parametrize(
    "setting, where",
    [
        ("lock_timeout", "copy"),
        ("lock_timeout", "upsert"),
        ("lock_timeout", "swap"),
        ("statement_timeout", "upsert"),
        ("statement_timeout", "on_before_visible"),
    ],
)
def test_timeout(engine: sa.engine.Engine, driver: str, schema: str, setting: str, where: str) -> None:
    """A timeout SET on the user's connection expires: lock_timeout while
    another session holds a lock that the COPY into the live table, the
    upsert or the swap needs; statement_timeout while the upsert waits for
    a row another session locked, or while on_before_visible runs a slow
    query."""
    migrates = where == "swap"
    upsert = Upsert.OFF if where == "copy" else Upsert.IF_PRIMARY_KEY
    source = Source(make_table(schema), last=2, updates=upsert == Upsert.IF_PRIMARY_KEY)
    run_ingest(engine, source.table.metadata, source, upsert=upsert, max_rows_per_table_buffer=CHUNK)
    fault = 3 if migrates else 4
    source.last = 5
    if migrates:
        source.table = make_table(schema, indexed=True)
    t = qi(schema, "t")

    def on_before_visible(conn: Any, table: Any, metadata: Any) -> None:
        if where == "on_before_visible" and metadata == f"batch {fault}":
            conn.execute(sa.text("SELECT pg_sleep(30)"))

    with blocker(engine) as take, engine.connect() as conn:
        # lock_timeout affects lock waits only, statement_timeout every statement.
        conn.execute(sa.text(f"SET {setting} = '{'300ms' if setting == 'lock_timeout' else '1s'}'"))
        conn.commit()
        if setting == "lock_timeout" and where in ("copy", "upsert"):
            # Taken once batch 3 is in: SHARE lets readers in, not writers.
            source.fault = (fault, 0, lambda: take(f"LOCK TABLE {t} IN SHARE MODE"))
        elif where == "upsert":
            source.fault = (fault, 0, lambda: take(f"SELECT 1 FROM {t} WHERE id = 1000 FOR UPDATE"))
        elif where == "swap":
            take(f"SELECT count(*) FROM {t}")  # a reader in an open transaction
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            ingest(
                conn, source.table.metadata, source, upsert=upsert, max_rows_per_table_buffer=CHUNK,
                on_before_visible=on_before_visible,
            )
        elapsed = time.monotonic() - started
        raised = info.value
        print(f"\n[faults] {setting} at {where} after {elapsed:.2f}s: {type(raised).__name__}: {raised}")
        if where == "on_before_visible":
            # The callback's own exception: SQLAlchemy's, around the driver's.
            assert isinstance(raised, sa.exc.OperationalError), repr(raised)
            raised = raised.orig
        name = "LockNotAvailable" if setting == "lock_timeout" else "QueryCanceled"
        assert isinstance(raised, driver_exception(driver, name)), repr(raised)
        assert f"canceling statement due to {setting.replace('_', ' ')}" in str(raised)
        assert elapsed < 10
        # Not a disconnection: the connection carries on.
        assert connection_works(conn)
        conn.execute(sa.text(f"RESET {setting}"))
        conn.commit()
    assert_kept(engine, source, fault - 1)
    if migrates:
        assert index_names(engine, schema, "t") == []
    rerun(engine, source, fault - 1, upsert=upsert)


# --- the server restarting between two ingests -----------------------------------


def restartable(engine: sa.engine.Engine) -> str:
    """The server's data directory, when pg_ctl here can restart it; skips
    the test (with the reason) otherwise."""
    try:
        data, port, version = query(
            engine,
            "SELECT current_setting('data_directory'), current_setting('port'), "
            "current_setting('server_version_num')::int",
        )[0]
    except sa.exc.DBAPIError as e:
        pytest.skip(f"restarting the server needs its data directory, which only a superuser may read: {e.orig}")
    pid_file = os.path.join(data, "postmaster.pid")
    try:
        with open(pid_file) as f:
            lines = f.read().splitlines()
    except OSError as e:
        pytest.skip(f"the server's data directory is not on this machine, or not readable (a remote server?): {e}")
    # postmaster.pid: the postmaster's PID, the directory, start time, port.
    if len(lines) < 4 or lines[3].strip() != str(port):
        pytest.skip(f"{pid_file} is not that of the server under test (port {port})")
    pg_ctl = pgcluster.pg_ctl_path()
    if pg_ctl is None:
        pytest.skip("no pg_ctl to restart the server with: pip install pgserver, or put PostgreSQL's pg_ctl on PATH")
    out = subprocess.run([pg_ctl, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"\)\s*(\d+)", out)
    if found is None or int(found.group(1)) != version // 10000:
        pytest.skip(f"{pg_ctl} is {out.strip()!r}, the server is version {version}")
    if os.geteuid() not in (0, os.stat(data).st_uid):
        pytest.skip("pg_ctl must run as the data directory's owner, or as root")
    if not pgcluster.is_throwaway(data) and os.environ.get("PBI_TEST_RESTART") != "1":
        pytest.skip(
            f"the server (data directory {data}) is not one that tests/pgcluster.py started for the tests: "
            "restarting it would end every session on it, other test runs' too; set PBI_TEST_RESTART=1 to allow"
        )
    return str(data)


def restart_server(engine: sa.engine.Engine, data: str) -> None:
    """pg_ctl restart -m fast (the server's options kept), then waits
    until the server accepts connections again, whatever happened."""
    probe = new_engine(engine, poolclass=NullPool)

    def started() -> Any:
        with probe.connect() as conn:
            return conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar()

    def accepting() -> bool:
        try:
            started()
            return True
        except sa.exc.DBAPIError:
            return False

    before = started()
    try:
        pgcluster.run_pg_ctl(data, "restart", "-m", "fast", "-w", "-t", "60")
    finally:
        poll("the server to accept connections", accepting)
        assert started() > before, "the server did not restart"
        probe.dispose()


def test_server_restart_between_ingests(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    """Batches go in, the server restarts (every session ends), and the
    same engines carry on from the stored high watermark: with
    pool_pre_ping straight away; without, the pooled connection from
    before the restart fails the first ingest at its first statement,
    changing nothing, and the next one connects anew."""
    data = restartable(engine)
    pinged = new_engine(engine, pool_pre_ping=True)
    try:
        source = Source(make_table(schema), last=2)
        run_ingest(pinged, source.table.metadata, source, max_rows_per_table_buffer=CHUNK)
        assert query(engine, "SELECT 1") == [(1,)]  # both pools hold a connection
        restart_server(engine, data)

        source.last = 4
        with engine.connect() as conn:
            with pytest.raises(Exception) as info:
                ingest(conn, source.table.metadata, source, max_rows_per_table_buffer=CHUNK)
            assert conn.invalidated
        print(f"\n[faults] after the restart: {type(info.value).__name__}: {info.value}")
        assert isinstance(info.value, driver_exception(driver)), repr(info.value)
        assert TERMINATED.search(str(info.value)), str(info.value)
        assert source.calls == [None]  # the stored high watermark was not even read
        assert_kept(pinged, source, 2)

        source.last = 3
        rerun(pinged, source, 2)
        source.last = 4
        rerun(engine, source, 3)
    finally:
        pinged.dispose()
        engine.dispose()


# --- two ingests into the same table at once ---------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("before", ["same", "migrating", "missing"])
def test_concurrent_ingests_take_turns(engine: sa.engine.Engine, schema: str, before: str) -> None:
    """Ingests A and B, three upsert batches each with keys overlapping
    the other's, into one table at once: A's first batch holds its
    transaction until B is seen waiting for it, then they go as they may.
    The table (there already as wanted, there with a definition both
    migrate from, or missing) ends as the batches applied one by one in
    the order they committed, the stored high watermark is the last
    batch's, B said it waited, and only the first first batch migrated."""
    initial: Dict[int, str] = {}
    if before != "missing":
        old = make_table(schema, indexed=before == "same")
        run_ingest(engine, old.metadata, lambda hwm: [("old", None, [(old, (100, "old")), (old, (1, "old"))])])
        initial = {100: "old", 1: "old"}

    def ids(label: str) -> range:
        start = (0 if label[0] == "A" else 5) + 10 * (int(label[1]) - 1)
        return range(start, start + 15)

    def batches_of(x: str, table: sa.Table) -> Callable[[Any], Iterator[Any]]:
        def batches(high_watermark: Any) -> Iterator[Any]:
            for b in (1, 2, 3):
                label = f"{x}{b}"
                yield label, label, [(table, (i, label)) for i in ids(label)]

        return batches

    order: List[str] = []  # batches in the order they committed: each holds the lock from here
    force = {"A": RecordingForceExecute(), "B": RecordingForceExecute()}
    lines = Lines()
    logger_b = logging.getLogger(f"tests.faults.{schema}.B")
    logger_b.setLevel(logging.INFO)
    logger_b.addHandler(lines)
    errors: List[BaseException] = []
    watcher = other_session(engine)
    table_a, table_b = make_table(schema, indexed=True), make_table(schema, indexed=True)
    try:
        with engine.connect() as conn_b, watcher.connect() as watch:
            pid_b = backend_pid(conn_b)

            def run_b() -> None:
                try:
                    ingest(
                        conn_b, table_b.metadata, batches_of("B", table_b), logger=logger_b,
                        on_before_visible=lambda conn, table, metadata: order.append(metadata),
                        get_pg_force_execute=force["B"],
                    )
                except BaseException as e:  # noqa: B036 - reported by the test
                    errors.append(e)

            thread_b = threading.Thread(target=run_b, name="ingest B", daemon=True)
            waiting = sa.text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = :p)")

            def on_before_visible_a(conn: Any, table: Any, metadata: Any) -> None:
                order.append(metadata)
                if metadata == "A1":
                    thread_b.start()
                    poll("ingest B to wait for ingest A", lambda: bool(watch.execute(waiting, {"p": pid_b}).scalar()))

            with engine.connect() as conn_a:
                ingest(
                    conn_a, table_a.metadata, batches_of("A", table_a),
                    on_before_visible=on_before_visible_a, get_pg_force_execute=force["A"],
                )
            thread_b.join(WAIT)
            assert not thread_b.is_alive(), "ingest B did not end"
    finally:
        logger_b.removeHandler(lines)
        watcher.dispose()
    assert errors == []

    assert sorted(order) == ["A1", "A2", "A3", "B1", "B2", "B3"] and order[0] == "A1", order
    expected = dict(initial)
    for label in order:
        expected.update((i, label) for i in ids(label))
    assert read_rows(engine, table_a, order_by=["id"]) == sorted(expected.items()), order
    assert stored_high_watermark(engine, schema, "t") == order[-1]
    assert order[-1] in ("A3", "B3")
    assert any(line == f"Waiting for another ingest into {schema}.t" for line in lines.lines), lines.lines
    # Only A's first batch migrated (or rebuilt the table it created): B's
    # first batch, after it, found the table as it wants it.
    assert (len(force["A"].calls), len(force["B"].calls)) == ((0, 0) if before == "same" else (1, 0))
    assert len(index_names(engine, schema, "t")) == 1
    assert tmp_tables(engine, schema) == []
