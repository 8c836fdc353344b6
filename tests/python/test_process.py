"""The process the package lives in: the Go library loads at first use, so
importing and then forking (multiprocessing, Celery, Airflow) works, also
after the parent has ingested (the child loads a Go runtime of its own);
ingests on separate connections run in threads at once; and a Go panic is
an exception of the ingest, never the end of the interpreter."""

from __future__ import annotations

import decimal
import functools
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Iterator, List

import pyarrow as pa
import pytest
import sqlalchemy as sa
from helpers import connection_works, int_table, query, read_rows, rows_of, run_ingest, stored_high_watermark

from pg_bulk_ingest import IngestError, ingest
from pg_bulk_ingest import _native
from pg_bulk_ingest._protocol import (
    COMMIT,
    COPY_DATA,
    NEXT_CHUNK,
    ON_BEFORE_VISIBLE,
    PANIC_ENGINE,
    PANIC_HERE,
    PANIC_STEP,
)


def _python(code: str, timeout: float = 180) -> "subprocess.CompletedProcess[str]":
    """Runs code in a fresh interpreter that imports what this one does;
    a hang fails the test (TimeoutExpired) instead of hanging it."""
    prelude = f"import sys\nsys.path[:0] = {sys.path!r}\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )


def _child_ingest(url: str, schema: str, queue: Any) -> None:
    try:
        engine = sa.create_engine(url, future=True)  # SQLAlchemy 1.4 needs it; 2.x accepts it
        metadata = sa.MetaData()
        table = int_table(metadata, schema, name="from_child")
        run_ingest(engine, metadata, lambda hwm: [("child", None, rows_of(table, [(1, "forked")]))])
        queue.put("ok")
    except BaseException as e:  # report anything: the parent asserts on it
        queue.put(repr(e))


def test_import_then_fork_then_ingest_in_the_child(engine: sa.engine.Engine, schema: str) -> None:
    # A fresh interpreter, so that the library is surely not loaded before the fork.
    code = textwrap.dedent(
        f"""
        import multiprocessing, sys
        sys.path[:0] = {sys.path!r}
        import pg_bulk_ingest, test_process
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=test_process._child_ingest, args=({engine.url.render_as_string(hide_password=False)!r}, {schema!r}, queue))
        child.start()
        child.join(60)
        print(queue.get(timeout=5))
        print(child.exitcode)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["ok", "0"], out.stderr
    assert query(engine, f'SELECT id, value FROM "{schema}".from_child') == [(1, "forked")]


def test_library_not_loaded_by_import() -> None:
    code = "import pg_bulk_ingest._native as n, pg_bulk_ingest; print(n._lib is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


NO_PANDAS = """
import datetime, decimal, sys
import sqlalchemy as sa
from pg_bulk_ingest import ingest

engine = sa.create_engine({url!r}, future=True)
metadata = sa.MetaData()
table = sa.Table(
    "no_pandas", metadata, sa.Column("id", sa.BIGINT), sa.Column("name", sa.TEXT), sa.Column("at", sa.TIMESTAMP),
    sa.Column("amount", sa.NUMERIC), sa.Column("flag", sa.BOOLEAN), schema={schema!r},
)
rows = [(table, (i, f"n{{i}}", datetime.datetime(2024, 1, 1, 0, 0, i % 60), decimal.Decimal(i).scaleb(-2), i % 2 == 0))
        for i in range(1000)]
with engine.connect() as conn:
    ingest(conn, metadata, lambda hwm: [(None, None, rows)])
print("IMPORTED", "pandas" in sys.modules, "pyarrow.compute" in sys.modules)

import pandas as pd, pyarrow as pa
# pyarrow knows pandas objects once the user imports pandas: a NaN of a
# Series is a null, as pandas means it (a plain sequence's NaN is a value).
print("SERIES NULLS", pa.array(pd.Series([1.5, None])).null_count)
frame = pd.DataFrame({{"id": [1000], "name": ["frame"], "at": [datetime.datetime(2024, 2, 1)],
                      "amount": [decimal.Decimal("1.50")], "flag": [None]}})
with engine.connect() as conn:
    ingest(conn, metadata, lambda hwm: [(None, None, [(table, frame)])])
"""


def test_an_ingest_of_rows_imports_neither_pandas_nor_pyarrow_compute(engine: sa.engine.Engine, schema: str) -> None:
    """pyarrow imports pandas at its first conversion of Python values when
    pandas is installed (33 MiB, and 0.2 s), and pyarrow.compute takes 8
    MiB: an ingest of tuple rows needs neither. Once the user imports
    pandas, pyarrow knows its objects as usual."""
    pytest.importorskip("pandas")
    url = engine.url.render_as_string(hide_password=False)
    out = _python(NO_PANDAS.format(url=url, schema=schema))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["IMPORTED False False", "SERIES NULLS 1"], out.stderr
    assert query(engine, f'SELECT count(*), sum(amount) FROM "{schema}".no_pandas WHERE id < 1000') == [
        (1000, decimal.Decimal("4995.00"))
    ]
    assert query(engine, f'SELECT name, amount::text, flag FROM "{schema}".no_pandas WHERE id = 1000') == [
        ("frame", "1.50", None)
    ]


def test_ingests_in_threads_on_separate_connections(engine: sa.engine.Engine, schema: str) -> None:
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            metadata = sa.MetaData()
            table = int_table(metadata, schema, name=f"thread_{n}")
            rows = rows_of(table, [(i, f"t{n}-{i}") for i in range(20_000)])
            run_ingest(engine, metadata, lambda hwm: [(n, None, rows)])
        except BaseException as e:  # collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "an ingest thread hangs"
    assert errors == []
    for n in range(4):
        assert query(engine, f'SELECT count(*), max(value) FROM "{schema}".thread_{n}') == [(20_000, f"t{n}-9999")]


# --- forking after the engine has run -------------------------------------

FORK_AFTER_INGEST = """
import multiprocessing, os, sqlalchemy as sa
from helpers import int_table, rows_of, run_ingest
from pg_bulk_ingest import _native

URL, SCHEMA = {url!r}, {schema!r}

def ingest_into(name, rows):
    engine = sa.create_engine(URL, future=True)
    metadata = sa.MetaData()
    table = int_table(metadata, SCHEMA, name=name)
    run_ingest(engine, metadata, lambda hwm: [(name, None, rows_of(table, rows))])
    engine.dispose()

def grandchild(n, queue):
    try:
        ingest_into(f"grandchild_{{n}}", [(1, f"grandchild {{n}}")])
        queue.put(("grandchild", n, "ok", len(_native._inherited)))
    except BaseException as e:
        queue.put(("grandchild", n, repr(e), None))

def child(n, queue):
    try:
        # A thread of the child ingests too, on its own connection.
        import threading
        t = threading.Thread(target=ingest_into, args=(f"child_{{n}}_thread", [(7, "thread")]))
        t.start()
        ingest_into(f"child_{{n}}", [(i, f"child {{n}}") for i in range(1000)])
        t.join(60)
        # The child has run Go in turn: its own child gets a fresh copy too.
        g = ctx.Process(target=grandchild, args=(n, queue))
        g.start()
        g.join(60)
        status = "ok" if g.exitcode == 0 and not t.is_alive() else f"grandchild exit {{g.exitcode}}"
        queue.put(("child", n, status, len(_native._inherited)))
    except BaseException as e:
        queue.put(("child", n, repr(e), None))

ingest_into("parent", [(1, "before")])  # the Go runtime runs in this process now
assert _native._lib is not None
ctx = multiprocessing.get_context("fork")
queue = ctx.Queue()
children = [ctx.Process(target=child, args=(n, queue)) for n in range(3)]
for c in children:
    c.start()
for c in children:
    c.join(90)
hung = [c.pid for c in children if c.is_alive()]
for c in children:
    if c.is_alive():
        c.kill()
results = sorted(queue.get(timeout=10) for _ in range(6)) if not hung else []
ingest_into("parent", [(2, "after")])  # the parent's own runtime is untouched
print("RESULTS", results, "HUNG", hung, "EXIT", [c.exitcode for c in children], "INHERITED", len(_native._inherited))
"""


def test_fork_after_the_parent_ingested(engine: sa.engine.Engine, schema: str) -> None:
    """Celery / Airflow style: the parent has run an ingest (its Go runtime
    runs) and then forks children that ingest, in two threads, and fork
    grandchildren that ingest; the parent ingests again afterwards."""
    url = engine.url.render_as_string(hide_password=False)
    out = _python(FORK_AFTER_INGEST.format(url=url, schema=schema))
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    want_results = sorted(
        [("child", n, "ok", 1) for n in range(3)] + [("grandchild", n, "ok", 2) for n in range(3)]
    )
    assert line == f"RESULTS {want_results} HUNG [] EXIT [0, 0, 0] INHERITED 0", out.stderr
    for n in range(3):
        assert query(engine, f'SELECT count(*), min(value) FROM "{schema}".child_{n}') == [(1000, f"child {n}")]
        assert query(engine, f'SELECT id, value FROM "{schema}".child_{n}_thread') == [(7, "thread")]
        assert query(engine, f'SELECT id, value FROM "{schema}".grandchild_{n}') == [(1, f"grandchild {n}")]
    assert query(engine, f'SELECT id, value FROM "{schema}".parent ORDER BY id') == [(1, "before"), (2, "after")]


FORK_COPY_FAILS = """
import os
from pg_bulk_ingest import _native

_native.lib()
pid = os.fork()
if pid == 0:
    def fail():
        "a test"
        raise OSError("no copy here")
    _native._memfd_copy = _native._temp_file_copy = fail
    for _ in range(2):  # never falls back to the parent's library
        try:
            _native.lib()
            print("LOADED", flush=True)
        except RuntimeError as e:
            print("ERROR", "spawn" in str(e) and "no copy here" in str(e), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("PARENT", _native.stats()["sessions"])
"""


def test_fork_when_no_copy_loads_says_to_use_spawn() -> None:
    out = _python(FORK_COPY_FAILS, timeout=60)
    assert out.stdout.split() == ["ERROR", "True", "ERROR", "True", "PARENT", "0"], out.stderr


# --- threads ---------------------------------------------------------------


def _timed_ingests(
    engine: sa.engine.Engine, schema: str, prefix: str, threads: int, make_rows: Callable[[sa.Table], Any]
) -> float:
    """Seconds for `threads` threads to each ingest its rows into its own
    new table on its own connection (best of 3); asserts none hangs or
    fails, and the rows."""
    best = float("inf")
    for attempt in range(3):
        errors: List[BaseException] = []
        work = []
        for n in range(threads):
            metadata = sa.MetaData()
            table = int_table(metadata, schema, name=f"{prefix}_{attempt}_{n}", pk=())
            run_ingest(engine, metadata, lambda hwm: [])  # creates the table, outside the timing
            work.append((metadata, make_rows(table)))

        def run(metadata: sa.MetaData, batch: Any) -> None:
            try:
                run_ingest(engine, metadata, lambda hwm: [(1, None, batch)])
            except BaseException as e:  # collected for the assertion below
                errors.append(e)

        workers = [threading.Thread(target=run, args=w) for w in work]
        start = time.perf_counter()
        for t in workers:
            t.start()
        for t in workers:
            t.join(180)
        best = min(best, time.perf_counter() - start)
        assert not any(t.is_alive() for t in workers), "an ingest thread hangs"
        assert errors == []
        for metadata, _ in work:
            (table,) = metadata.tables.values()
            counts = query(engine, f'SELECT count(*), count(DISTINCT id), max(id), min(value) FROM "{schema}".{table.name}')
            assert counts == [(ROWS, ROWS, ROWS - 1, "v0")]
    return best


ROWS = 500_000


@pytest.mark.parametrize("source", ["tuples", "arrow"])
def test_two_threads_ingest_in_parallel(engine: sa.engine.Engine, schema: str, source: str) -> None:
    """Two threads ingest ROWS rows each into their own tables, with correct
    rows; the wall time against one thread is printed (run with -s), not
    asserted: it depends on the machine's cores and the server's load."""

    def make_rows(table: sa.Table) -> Any:
        if source == "arrow":
            data = pa.table({"id": pa.array(range(ROWS), pa.int32()), "value": [f"v{i}" for i in range(ROWS)]})
            return [(table, data)]
        return rows_of(table, [(i, f"v{i}") for i in range(ROWS)])

    one = _timed_ingests(engine, schema, "one", 1, make_rows)
    two = _timed_ingests(engine, schema, "two", 2, make_rows)
    print(
        f"\n[{engine.driver}, {source}] {ROWS:,} rows a thread, best of 3: 1 thread {one:.2f} s; "
        f"2 threads {two:.2f} s: {2 * one / two:.2f}x the rows/s of one thread"
    )


# --- Go panics ---------------------------------------------------------------

# The library with the test hooks: `python build.py --test-hooks` builds
# it (tests/run.py does); the installed package's library has none.
TEST_LIBRARY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "build", "test-hooks", "libpgbulkingest.so")
# Set in the child pytest of with_test_hooks, which loads the test library:
# this module points the package at it before its first use (the package
# itself takes no library path from its environment).
HOOKED_VARIABLE = "PBI_TEST_HOOKS_CHILD"
HOOKED = HOOKED_VARIABLE in os.environ
if HOOKED:
    assert _native._lib is None, "the package's library was loaded before the test library could replace it"
    _native.LIBRARY = TEST_LIBRARY


def with_test_hooks(test: Callable[..., None]) -> Callable[..., None]:
    """Runs test in a child pytest whose pg_bulk_ingest loads the library
    with the test hooks; skips it when that library is not built, or fails
    it if PBI_REQUIRE_TEST_HOOKS is set (tests/run.py sets it)."""
    if HOOKED:
        return test

    @functools.wraps(test)
    def in_child(*args: Any, **kwargs: Any) -> None:
        if not os.path.exists(TEST_LIBRARY):
            missing = f"no library with the test hooks at {TEST_LIBRARY}: python build.py --test-hooks"
            if os.environ.get("PBI_REQUIRE_TEST_HOOKS"):
                pytest.fail(f"{missing} (PBI_REQUIRE_TEST_HOOKS is set: the tests of Go panics must run)")
            pytest.skip(missing)
        case = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0].split("::", 1)[1]
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{os.path.abspath(__file__)}::{case}"],
            env=dict(os.environ, **{HOOKED_VARIABLE: "1"}),
            capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0 and " passed" in out.stdout, out.stdout + out.stderr

    return in_child


@pytest.fixture
def disarm() -> Iterator[None]:
    """Disarms the panic hooks after the test, had a panic not happened."""
    yield
    if HOOKED:
        _native._test_panic(PANIC_ENGINE, 0)
        _native._test_panic(PANIC_STEP, 0)


@with_test_hooks
def test_go_panic_in_an_exported_call_is_an_error() -> None:
    message = _native._test_panic(PANIC_HERE)
    assert message is not None
    assert "internal error (Go panic)" in message and "fault address 0x" in message
    assert _native.stats()["sessions"] == 0  # the library still answers


def _arm_after_first_batch(where: int, op: int, table: sa.Table) -> Callable[[Any], Iterator[Any]]:
    """batches(): a first batch that commits, then the panic armed, then a
    second batch, whose ingest the panic ends."""

    def batches(hwm: Any) -> Iterator[Any]:
        yield 1, None, rows_of(table, [(1, "first"), (2, "first")])
        _native._test_panic(where, op)
        arrow = pa.table({"id": pa.array([3], pa.int32()), "value": ["second"]})
        yield 2, None, [*rows_of(table, [(2, "second")]), (table, arrow)]

    return batches


@pytest.mark.parametrize(
    "where, op",
    [
        (PANIC_ENGINE, NEXT_CHUNK),
        (PANIC_ENGINE, COPY_DATA),
        (PANIC_ENGINE, ON_BEFORE_VISIBLE),
        (PANIC_ENGINE, COMMIT),
        (PANIC_STEP, NEXT_CHUNK),
        (PANIC_STEP, COPY_DATA),
    ],
    ids=[
        "engine-next-chunk", "engine-copy-data", "engine-on-before-visible", "engine-commit",
        "step-next-chunk", "step-copy-data",
    ],
)
@with_test_hooks
def test_go_panic_during_an_ingest_is_an_ingest_error(
    engine: sa.engine.Engine, schema: str, where: int, op: int, disarm: None
) -> None:
    """A panic in the engine's goroutine, or in the exported pbi_step call
    (after it imported the answer's Arrow record), fails the batch as any
    failure does: IngestError naming the panic, the batch rolled back,
    earlier batches kept, the connection usable, every Arrow batch
    released, and the next ingest in the process works."""
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    gc.collect()
    arrow_before = pa.total_allocated_bytes()
    with engine.connect() as conn:
        with pytest.raises(IngestError, match=r"internal error \(Go panic\): test panic"):
            ingest(conn, metadata, _arm_after_first_batch(where, op, table))
        assert connection_works(conn)
    assert read_rows(engine, table) == [(1, "first"), (2, "first")]
    assert stored_high_watermark(engine, schema, "t") == 1
    gc.collect()
    stats = _native.stats()
    assert (stats["sessions"], stats["arrow_arrays"]) == (0, 0)
    assert pa.total_allocated_bytes() == arrow_before

    def again(hwm: Any) -> Iterator[Any]:
        yield 3, None, rows_of(table, [(2, "again"), (4, "again")])

    run_ingest(engine, metadata, again)
    assert read_rows(engine, table) == [(1, "first"), (2, "again"), (4, "again")]
