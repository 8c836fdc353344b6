"""Creating tables, appending, upserting, skipping rows of unknown tables,
ingests without batches and empty batches."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, List, Tuple

import pytest
import sqlalchemy as sa
from helpers import (
    Batches,
    catalog_columns,
    comment,
    ingest_name,
    int_table,
    primary_key,
    qi,
    query,
    read_rows,
    rows_of,
    run_ingest,
    schema_exists,
    set_comment,
    stored_high_watermark,
    table_exists,
)

from pg_bulk_ingest import Upsert


def test_creates_schema_and_table_with_columns_types_nullability_and_primary_key(
    engine: sa.engine.Engine, schema: str
) -> None:
    metadata = sa.MetaData()
    table = sa.Table(
        "my_table",
        metadata,
        sa.Column("id_1", sa.INTEGER, primary_key=True),
        sa.Column("id_2", sa.VARCHAR(8), primary_key=True),
        sa.Column("n", sa.NUMERIC(10, 3), nullable=False),
        sa.Column("s", sa.VARCHAR(16), nullable=True),
        sa.Column("t", sa.TEXT),
        sa.Column("ts", sa.TIMESTAMP(timezone=True)),
        sa.Column("b", sa.BIGINT, nullable=False),
        schema=schema,
    )
    assert not schema_exists(engine, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a", 1.5, None, None, None, 7)]))))
    assert schema_exists(engine, schema)
    assert catalog_columns(engine, schema, "my_table") == [
        ("id_1", "integer", False),
        ("id_2", "character varying(8)", False),
        ("n", "numeric(10,3)", False),
        ("s", "character varying(16)", True),
        ("t", "text", True),
        ("ts", "timestamp with time zone", True),
        ("b", "bigint", False),
    ]
    assert primary_key(engine, schema, "my_table") == ["id_1", "id_2"]
    assert len(read_rows(engine, table)) == 1


def test_creates_table_without_primary_key(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema, pk=())
    run_ingest(engine, metadata, Batches())
    assert catalog_columns(engine, schema, "t") == [
        ("id", "integer", True),
        ("value", "character varying(32)", True),
    ]
    assert primary_key(engine, schema, "t") == []
    assert read_rows(engine, table) == []


def test_creates_table_in_existing_schema(engine: sa.engine.Engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f'CREATE TABLE "{schema}".other (x int)'))
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a")]))))
    assert read_rows(engine, table) == [(1, "a")]
    assert table_exists(engine, schema, "other")


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_appends_rows_across_batches_and_ingests(engine: sa.engine.Engine, schema: str, upsert: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(
        engine,
        metadata,
        Batches(
            (1, None, rows_of(table, [(1, "a"), (2, "b")])),
            (2, None, rows_of(table, [(3, "c")])),
        ),
        upsert=upsert,
    )
    assert read_rows(engine, table) == [(1, "a"), (2, "b"), (3, "c")]
    run_ingest(engine, metadata, Batches((3, None, rows_of(table, [(4, "d"), (5, None)]))), upsert=upsert)
    assert read_rows(engine, table) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, None)]


def test_rows_may_be_a_generator(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)

    def batches(high_watermark: Any) -> Any:
        for b in range(3):
            yield b, None, ((table, (b * 100 + i, str(i))) for i in range(50))

    run_ingest(engine, metadata, batches)
    got = read_rows(engine, table)
    assert [r[0] for r in got] == [b * 100 + i for b in range(3) for i in range(50)]


def test_upsert_updates_existing_keys_and_inserts_new_ones(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a"), (2, "b"), (3, "c")]))))
    run_ingest(
        engine,
        metadata,
        Batches(
            (2, None, rows_of(table, [(2, "B"), (4, "d")])),
            (3, None, rows_of(table, [(3, None), (5, "e"), (1, "A")])),
        ),
    )
    assert read_rows(engine, table) == [(1, "A"), (2, "B"), (3, None), (4, "d"), (5, "e")]


@pytest.mark.parametrize("gap", [0, 1, 10_001, 25_000], ids=lambda g: f"gap{g}")
def test_upsert_duplicates_within_one_batch_keep_the_last(engine: sa.engine.Engine, schema: str, gap: int) -> None:
    """Duplicates of a key in one batch: the last occurrence wins, also when
    they are in different internal chunks (more than 10,000 rows apart)."""
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "old"), (2, "old")]))))
    filler = [(1000 + i, "filler") for i in range(gap)]
    rows = [(1, "first"), (3, "first")] + filler + [(1, "second"), (3, "second"), (2, "only")] + [(1, "last")]
    run_ingest(engine, metadata, Batches((2, None, rows_of(table, rows))))
    got = read_rows(engine, table)
    assert got[:3] == [(1, "last"), (2, "only"), (3, "second")]
    assert len(got) == 3 + gap


def test_large_resend_keeps_unchanged_rows(engine: sa.engine.Engine, schema: str) -> None:
    """A batch re-sending a table's rows, large enough (12,000) for the
    engine to weigh how it upserts them: unchanged rows, NULLs included,
    keep their row version (xmin) and are not even locked (xmax 0); changed ones (to and from NULL, a
    NUMERIC's scale) are rewritten; of a key sent twice the last row wins,
    also when it is the stored one; new keys are added."""
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("v", sa.VARCHAR(32)),
                     sa.Column("x", sa.NUMERIC), schema=schema)
    n = 12_000

    def stored(i: int) -> Tuple[Any, ...]:
        return (i, None if i % 7 == 0 else f"v-{i}", None if i % 11 == 0 else Decimal(f"{i}.5"))

    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [stored(i) for i in range(n)]))))
    read = f"SELECT id, v, x::text, xmin::text, xmax::text FROM {qi(schema, 't')} ORDER BY id"
    before = {row[0]: row[3] for row in query(engine, read)}
    changed = {1: (1, "changed", Decimal("1.5")), 2: (2, None, Decimal("2.5")), 3: (3, "v-3", Decimal("3.50")),
               4: (4, "stale", Decimal("4.5")), 7: (7, "set", None)}
    rows = [changed.get(i, stored(i)) for i in range(n)]
    rows += [(n, "new-a", None), stored(4), (5, "five", Decimal("5.5")), (n + 1, "new", Decimal(1)), (n, "new-b", None)]
    run_ingest(engine, metadata, Batches((2, None, rows_of(table, rows))))
    got = query(engine, read)
    last = {row[0]: row for row in rows}
    assert [row[:3] for row in got] == [(i, v, None if x is None else str(x)) for i, v, x in sorted(last.values())]
    assert [row[0] for row in got if row[0] < n and row[3] != before[row[0]]] == [1, 2, 3, 5, 7]
    assert [row[0] for row in got if row[4] != "0"] == [1, 2, 3, 5, 7]  # an upsert's update leaves its xmax


def test_upsert_with_composite_primary_key(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = sa.Table(
        "t",
        metadata,
        sa.Column("a", sa.INTEGER, primary_key=True),
        sa.Column("b", sa.VARCHAR(8), primary_key=True),
        sa.Column("v", sa.INTEGER),
        schema=schema,
    )
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "x", 1), (1, "y", 2), (2, "x", 3)]))))
    run_ingest(
        engine,
        metadata,
        Batches((2, None, rows_of(table, [(1, "y", 20), (2, "y", 4), (2, "y", 40), (1, "x", 10), (3, "x", 5)]))),
    )
    assert read_rows(engine, table) == [(1, "x", 10), (1, "y", 20), (2, "x", 3), (2, "y", 40), (3, "x", 5)]
    assert primary_key(engine, schema, "t") == ["a", "b"]


def test_upsert_off_inserts_plainly(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(2, "b"), (1, "a")]))), upsert=Upsert.OFF)
    run_ingest(engine, metadata, Batches((2, None, rows_of(table, [(3, "c")]))), upsert=Upsert.OFF)
    assert read_rows(engine, table) == [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_table_without_primary_key_appends_duplicates(engine: sa.engine.Engine, schema: str, upsert: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema, pk=())
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a"), (1, "a")]))), upsert=upsert)
    run_ingest(engine, metadata, Batches((2, None, rows_of(table, [(1, "a"), (1, "b")]))), upsert=upsert)
    assert read_rows(engine, table) == [(1, "a"), (1, "a"), (1, "a"), (1, "b")]


def test_rows_for_tables_not_in_the_metadata_are_skipped(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    # A Table of the same name and schema is refused (test_compat.py).
    stranger = int_table(sa.MetaData(), schema, name="stranger")
    rows = [(table, (1, "a")), (stranger, (3, "c")), (table, (4, "d")), (stranger, ("x", "y", "z"))]
    run_ingest(engine, metadata, Batches((1, None, rows)))
    assert read_rows(engine, table) == [(1, "a"), (4, "d")]
    assert not table_exists(engine, schema, "stranger")


def test_no_batches_creates_the_table_and_writes_no_high_watermark(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    batches = Batches()
    run_ingest(engine, metadata, batches)
    assert batches.calls == [None]
    assert table_exists(engine, schema, "t")
    assert read_rows(engine, table) == []
    assert comment(engine, schema, "t") is None


@pytest.mark.parametrize("existing", ["not json", '{"other": 1, "pg-bulk-ingest": {"high-watermark": "x"}}'])
def test_no_batches_leaves_an_existing_comment_unchanged(
    engine: sa.engine.Engine, schema: str, existing: str
) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a")]))))
    set_comment(engine, schema, "t", existing)
    run_ingest(engine, metadata, Batches())
    assert comment(engine, schema, "t") == existing
    assert read_rows(engine, table) == [(1, "a")]


def test_empty_batch_stores_its_high_watermark_and_calls_on_before_visible(
    engine: sa.engine.Engine, schema: str
) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    calls: List[Any] = []
    run_ingest(
        engine,
        metadata,
        Batches(("empty-hwm", "meta", ())),
        on_before_visible=lambda conn, t, m: calls.append((ingest_name(t.name), m)),
    )
    assert calls == [("_tmp_", "meta")]  # a new table with a primary key is swapped in by its first batch
    assert stored_high_watermark(engine, schema, "t") == "empty-hwm"
    assert read_rows(engine, table) == []
