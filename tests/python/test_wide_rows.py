"""Wide rows in bounded memory: rows of megabyte BYTEA values, of hundreds
of kilobytes of TEXT, and Arrow input of such values go in with a peak
memory that does not grow with the rows' width times 10,000 (chunks are
cut by bytes as well as by rows), and what is stored is what was sent.

The memory is measured in a fresh interpreter, as its peak RSS during the
ingest above the peak before it (the Go library loaded, the input built)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator, Tuple

import pyarrow as pa
import pytest
import sqlalchemy as sa
from helpers import query, run_ingest
from sqlalchemy.dialects import postgresql

from pg_bulk_ingest import ingest

MIB = 1 << 20
# Peak RSS growth allowed, in MiB: the rows below are 150 MB of values,
# which chunks of 10,000 rows held several times over (over 1 GiB); chunks
# of a few megabytes stay well under this.
GROWTH_MIB = 200


def value(kind: str, i: int, width: int) -> Any:
    """Row i's value, `width` bytes: a 32-byte digest of i repeated (the
    server compresses it, keeping the test's disk and time low)."""
    digest = hashlib.sha256(str(i).encode()).digest()
    data = (digest * (width // 32 + 1))[:width]
    return data if kind == "bytea" else data.hex()[:width]


def wide_table(schema: str, kind: str) -> sa.Table:
    column_type = postgresql.BYTEA if kind == "bytea" else sa.TEXT
    return sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER), sa.Column("v", column_type), schema=schema)


def arrow_input(kind: str, count: int, width: int) -> pa.Table:
    """The rows as Arrow, in large_binary / large_string (64-bit offsets),
    written straight into the array's buffer: the values are held once."""
    data = bytearray(count * width)
    for i in range(count):
        v = value(kind, i, width)
        data[i * width : (i + 1) * width] = v if kind == "bytea" else v.encode()
    offsets = pa.array(range(0, (count + 1) * width, width), pa.int64()).buffers()[1]
    arrow_type = pa.large_binary() if kind == "bytea" else pa.large_string()
    values = pa.Array.from_buffers(arrow_type, count, [None, offsets, pa.py_buffer(data)])
    return pa.table({"id": pa.array(range(count), pa.int32()), "v": values})


def _child(url: str, schema: str, kind: str, count: int, width: int, arrow: bool) -> None:
    """Runs in a fresh interpreter: one warm-up ingest, then the wide one;
    prints the peak RSS growth in MiB."""
    import resource

    engine = sa.create_engine(url, future=True)  # SQLAlchemy 1.4 needs it
    table = wide_table(schema, kind)
    with engine.connect() as conn:  # loads the Go library, creates the table
        ingest(conn, table.metadata, lambda hwm: [(None, None, [(table, (-1, value(kind, -1, 10)))])])

    def rows() -> Iterator[Tuple[sa.Table, Any]]:
        if arrow:
            yield table, data
        else:
            for i in range(count):
                yield table, (i, value(kind, i, width))

    data = arrow_input(kind, count, width) if arrow else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with engine.connect() as conn:
        ingest(conn, table.metadata, lambda hwm: [(None, None, rows())])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mib": (after - before) / 1024}))


def ingest_in_child(engine: sa.engine.Engine, schema: str, kind: str, count: int, width: int, arrow: bool = False) -> float:
    url = engine.url.render_as_string(hide_password=False)
    code = f"""
        import sys
        sys.path[:0] = {sys.path!r}
        import test_wide_rows
        test_wide_rows._child({url!r}, {schema!r}, {kind!r}, {count}, {width}, {arrow})
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return float(json.loads(done.stdout.splitlines()[-1])["growth_mib"])


def assert_stored(engine: sa.engine.Engine, schema: str, kind: str, count: int, width: int) -> None:
    """Every row, with all its bytes, and a sample's values exactly."""
    rows = query(engine, f'SELECT count(*), sum(length(v)) FROM "{schema}".t WHERE id >= 0')
    assert rows == [(count, count * width)]
    sample = sorted({0, 1, count // 2, count - 1})
    got = dict(query(engine, f'SELECT id, md5(v) FROM "{schema}".t WHERE id = ANY(:ids)', ids=sample))
    for i in sample:
        v = value(kind, i, width)
        assert got[i] == hashlib.md5(v if kind == "bytea" else v.encode()).hexdigest(), i


@pytest.mark.parametrize(
    "kind, count, width, arrow",
    [
        ("bytea", 150, MIB, False),
        ("text", 700, 220_000, False),
        ("bytea", 150, MIB, True),
        ("text", 700, 220_000, True),
    ],
    ids=["bytea-1MB-rows", "text-220KB-rows", "bytea-1MB-arrow", "text-220KB-arrow"],
)
def test_wide_rows_in_bounded_memory(
    engine: sa.engine.Engine, schema: str, kind: str, count: int, width: int, arrow: bool
) -> None:
    growth = ingest_in_child(engine, schema, kind, count, width, arrow)
    assert growth < GROWTH_MIB, f"peak RSS grew by {growth:.0f} MiB for {count * width / MIB:.0f} MiB of values"
    assert_stored(engine, schema, kind, count, width)


def test_a_value_bigger_than_a_chunk_goes_as_a_chunk_of_its_own(engine: sa.engine.Engine, schema: str) -> None:
    """A 24 MB value among small ones, and one as the batch's first row."""
    table = wide_table(schema, "text")
    sizes: Dict[int, int] = {i: 10 for i in range(2_000)}
    sizes[0] = sizes[1_000] = 24 * MIB
    rows = [(table, (i, value("text", i, n))) for i, n in sizes.items()]
    run_ingest(engine, table.metadata, lambda hwm: [(None, None, rows)])
    assert query(engine, f'SELECT count(*), sum(length(v)) FROM "{schema}".t') == [(len(sizes), sum(sizes.values()))]
    got = dict(query(engine, f'SELECT id, md5(v) FROM "{schema}".t WHERE id IN (0, 999, 1000, 1001)'))
    assert got == {i: hashlib.md5(value("text", i, sizes[i]).encode()).hexdigest() for i in (0, 999, 1000, 1001)}


def test_max_rows_per_table_buffer_of_one_with_wide_rows_of_two_tables(engine: sa.engine.Engine, schema: str) -> None:
    """Interleaved rows of two tables, one wide: each table's rows all
    there, in any chunking max_rows_per_table_buffer makes."""
    metadata = sa.MetaData()
    wide = sa.Table("wide", metadata, sa.Column("id", sa.INTEGER), sa.Column("v", sa.TEXT), schema=schema)
    narrow = sa.Table("narrow", metadata, sa.Column("id", sa.INTEGER), schema=schema)
    rows = [item for i in range(200) for item in ((wide, (i, value("text", i, 100_000))), (narrow, (i,)))]
    run_ingest(engine, metadata, lambda hwm: [(None, None, rows)], max_rows_per_table_buffer=1)
    assert query(engine, f'SELECT count(*), sum(length(v)) FROM "{schema}".wide') == [(200, 200 * 100_000)]
    assert query(engine, f'SELECT count(*), sum(id) FROM "{schema}".narrow') == [(200, sum(range(200)))]
