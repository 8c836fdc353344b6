"""Soak: many batches, and many ingest calls, in one process leave memory
flat: the process's RSS, the Go heap, Go's goroutines and sessions, and
pyarrow's allocations (each Arrow batch handed to Go is released by it)
come back to what they were after a warm-up. Samples print with -s."""

from __future__ import annotations

import gc
import importlib.util
import os
import time
from typing import Any, Dict, Iterator, List

import pyarrow as pa
import pytest
import sqlalchemy as sa
from conftest import SQLALCHEMY_2
from helpers import int_table, query, run_ingest

from pg_bulk_ingest import _native

BATCHES = 10_000
CALLS = 1_000
MIB = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def driver() -> str:
    """One driver (psycopg 3 where there is one): the soak is about the
    process, not the driver, and takes a while."""
    for name in ("psycopg", "psycopg2"):
        if (name == "psycopg2" or SQLALCHEMY_2) and importlib.util.find_spec(name) is not None:
            return name
    pytest.skip("no driver installed")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def sample(label: int) -> Dict[str, Any]:
    gc.collect()
    go = _native.stats()
    return {
        "at": label,
        "rss": rss(),
        "go_heap": go["heap_alloc"],
        "go_objects": go["heap_objects"],
        "goroutines": go["goroutines"],
        "sessions": go["sessions"],
        "go_arrow": go["arrow_arrays"],
        "pa_bytes": pa.total_allocated_bytes(),
    }


def show(title: str, samples: List[Dict[str, Any]], seconds: float) -> None:
    print(f"\n{title}: {seconds:.1f} s")
    print(
        f"{'at':>6} {'RSS MiB':>8} {'Go heap KiB':>11} {'Go objects':>10} {'goroutines':>10} {'sessions':>8} "
        f"{'Go Arrow':>8} {'pa bytes':>9}"
    )
    for s in samples:
        print(
            f"{s['at']:>6} {s['rss'] / MIB:>8.1f} {s['go_heap'] / 1024:>11.0f} {s['go_objects']:>10} "
            f"{s['goroutines']:>10} {s['sessions']:>8} {s['go_arrow']:>8} {s['pa_bytes']:>9}"
        )


def assert_flat(samples: List[Dict[str, Any]], sessions: int) -> None:
    """The samples after the first (the warm-up) stay where it was."""
    warm, last = samples[0], samples[-1]
    assert last["rss"] - warm["rss"] < 20 * MIB, "RSS grows"
    for s in samples:
        assert s["sessions"] == sessions and s["go_arrow"] == 0, s
        assert s["goroutines"] == warm["goroutines"], "goroutines pile up"
        assert s["pa_bytes"] == warm["pa_bytes"], "Arrow memory is not released"
    # Live Go objects after a collection: a leak of one object per batch
    # or call would add hundreds; the runtime's own caches add a few dozen.
    assert last["go_objects"] - warm["go_objects"] < 500, "Go heap objects grow"
    assert last["go_heap"] - warm["go_heap"] < 256 * 1024, "the Go heap grows"


def tables(schema: str) -> Any:
    metadata = sa.MetaData()
    keyed = int_table(metadata, schema, name="keyed")  # primary key: the upsert path
    plain = int_table(metadata, schema, name="plain", pk=())  # appended
    return metadata, keyed, plain


def batch_rows(n: int, keyed: sa.Table, plain: sa.Table) -> List[Any]:
    """A few rows for each table; keys repeat across batches (updates), and
    every tenth batch brings one table's rows as a pyarrow table."""
    rows: List[Any] = [(keyed, (n % 500 + k, f"b{n}")) for k in range(3)]
    if n % 10 == 0:
        rows.append((plain, pa.table({"id": pa.array([n, n + 1], pa.int32()), "value": [f"a{n}", f"a{n}"]})))
    else:
        rows += [(plain, (n, f"p{n}")), (plain, (n + 1, None))]
    return rows


def test_ten_thousand_batches_in_one_ingest(engine: sa.engine.Engine, schema: str) -> None:
    metadata, keyed, plain = tables(schema)
    samples: List[Dict[str, Any]] = []

    def batches(hwm: Any) -> Iterator[Any]:
        for n in range(1, BATCHES + 1):
            yield n, None, batch_rows(n, keyed, plain)
            if n % 1000 == 0:  # batch n is committed once the next is asked for
                samples.append(sample(n))

    start = time.perf_counter()
    run_ingest(engine, metadata, batches)
    seconds = time.perf_counter() - start
    show(f"{BATCHES:,} batches in one ingest [{engine.driver}]", samples, seconds)
    assert [s["at"] for s in samples] == list(range(1000, BATCHES + 1, 1000))
    assert_flat(samples, sessions=1)
    assert query(engine, f'SELECT count(*) FROM "{schema}".plain') == [(2 * BATCHES,)]
    assert query(engine, f'SELECT count(*), max(value) FROM "{schema}".keyed WHERE id = 0') == [(1, f"b{BATCHES}")]


def test_a_thousand_ingest_calls(engine: sa.engine.Engine, schema: str) -> None:
    metadata, keyed, plain = tables(schema)
    samples: List[Dict[str, Any]] = []
    start = time.perf_counter()
    for n in range(1, CALLS + 1):
        run_ingest(engine, metadata, lambda hwm: [(n, None, batch_rows(n, keyed, plain))])
        if n % 100 == 0:
            samples.append(sample(n))
    seconds = time.perf_counter() - start
    show(f"{CALLS:,} ingest calls [{engine.driver}]", samples, seconds)
    assert_flat(samples, sessions=0)
    assert query(engine, f'SELECT count(*) FROM "{schema}".plain') == [(2 * CALLS,)]
