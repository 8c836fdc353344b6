"""Metadata of several tables: interleaved rows, buffering, the high
watermark on the first table and on_before_visible per table."""

from __future__ import annotations

import json
from typing import Any, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from helpers import Batches, comment, ingest_name, query, read_rows, run_ingest

from pg_bulk_ingest import Upsert


def make_tables(schema: str) -> Tuple[sa.MetaData, sa.Table, sa.Table, sa.Table]:
    """A keyed table, a table without a key whose `ordinal` says the order
    rows were sent in, and a third, keyed table."""
    metadata = sa.MetaData()
    first = sa.Table(
        "first",
        metadata,
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.TEXT),
        schema=schema,
    )
    log = sa.Table(
        "log",
        metadata,
        sa.Column("ordinal", sa.BIGINT),
        sa.Column("key", sa.INTEGER),
        schema=schema,
    )
    third = sa.Table(
        "third",
        metadata,
        sa.Column("code", sa.VARCHAR(8), primary_key=True),
        schema=schema,
    )
    return metadata, first, log, third


def ordinals_in_storage_order(engine: sa.engine.Engine, schema: str) -> List[int]:
    """The log table's ordinals in the order the rows were stored (a fresh
    heap table appends, so ctid order is insertion order)."""
    return [r[0] for r in query(engine, f'SELECT ordinal FROM "{schema}".log ORDER BY ctid')]


@pytest.mark.parametrize("max_rows_per_table_buffer", [1, 3, 10_000])
@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_interleaved_rows_land_in_their_tables_in_order(
    engine: sa.engine.Engine, schema: str, max_rows_per_table_buffer: int, upsert: str
) -> None:
    metadata, first, log, third = make_tables(schema)
    n = 50

    def rows(batch: int) -> Iterator[Any]:
        base = batch * 1000
        for i in range(n):
            yield log, (base + 2 * i, i)
            if i % 3 == 0:
                yield first, (base + i, f"{batch}-{i}")
            yield log, (base + 2 * i + 1, -i)
            if i % 7 == 0:
                yield third, (f"{batch}-{i}",)

    run_ingest(
        engine,
        metadata,
        Batches((1, None, rows(1)), (2, None, rows(2))),
        upsert=upsert,
        max_rows_per_table_buffer=max_rows_per_table_buffer,
    )
    expected_log = [b * 1000 + k for b in (1, 2) for k in range(2 * n)]
    assert ordinals_in_storage_order(engine, schema) == expected_log
    assert read_rows(engine, log, order_by=["ordinal"]) == [
        (b * 1000 + 2 * i + j, i if j == 0 else -i) for b in (1, 2) for i in range(n) for j in (0, 1)
    ]
    assert read_rows(engine, first) == [(b * 1000 + i, f"{b}-{i}") for b in (1, 2) for i in range(0, n, 3)]
    assert sorted(read_rows(engine, third)) == sorted((f"{b}-{i}",) for b in (1, 2) for i in range(0, n, 7))


def test_many_rows_of_one_table_while_another_is_buffered(engine: sa.engine.Engine, schema: str) -> None:
    """More rows than the buffer holds for each table, in long runs."""
    metadata, first, log, third = make_tables(schema)

    def rows() -> Iterator[Any]:
        for i in range(10):
            yield first, (i, str(i))
        for k in range(30_000):
            yield log, (k, k)
        for i in range(10, 20):
            yield first, (i, str(i))

    run_ingest(engine, metadata, Batches((1, None, rows())), max_rows_per_table_buffer=3)
    assert ordinals_in_storage_order(engine, schema) == list(range(30_000))
    assert read_rows(engine, first) == [(i, str(i)) for i in range(20)]


def test_high_watermark_is_on_the_first_table_only(engine: sa.engine.Engine, schema: str) -> None:
    metadata, first, log, third = make_tables(schema)
    run_ingest(engine, metadata, Batches(({"page": 3}, None, [(log, (1, 1)), (third, ("x",))])))
    assert json.loads(comment(engine, schema, "first") or "") == {"pg-bulk-ingest": {"high-watermark": {"page": 3}}}
    assert comment(engine, schema, "log") is None
    assert comment(engine, schema, "third") is None
    batches = Batches()
    run_ingest(engine, metadata, batches)
    assert batches.calls == [{"page": 3}]


def test_on_before_visible_is_called_once_per_table_per_batch(engine: sa.engine.Engine, schema: str) -> None:
    metadata, first, log, third = make_tables(schema)
    calls: List[Tuple[str, Any, int]] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        count = conn.execute(sa.select(sa.func.count()).select_from(ingest_table)).scalar()
        calls.append((ingest_name(ingest_table.name), batch_metadata, count))

    run_ingest(
        engine,
        metadata,
        Batches(
            (1, "b1", [(log, (1, 1)), (first, (1, "a")), (log, (2, 2))]),
            (2, "b2", [(third, ("x",))]),
            (3, "b3", []),
        ),
        on_before_visible=on_before_visible,
    )
    # New tables with a primary key are swapped in by their first batch, as
    # upstream creates them without one: the callback sees the new table.
    assert sorted(calls) == sorted(
        [
            ("_tmp_", "b1", 1),
            ("log", "b1", 2),
            ("_tmp_", "b1", 0),
            ("first", "b2", 1),
            ("log", "b2", 2),
            ("third", "b2", 1),
            ("first", "b3", 1),
            ("log", "b3", 2),
            ("third", "b3", 1),
        ]
    )
    # Every call of a batch comes before any call of the next batch.
    assert [c[1] for c in calls] == ["b1"] * 3 + ["b2"] * 3 + ["b3"] * 3
