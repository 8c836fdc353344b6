"""Visibility.AFTER_EACH_BATCH: one transaction per batch, and the
on_before_visible callback inside it."""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest
import sqlalchemy as sa
from helpers import Batches, ingest_name, int_table, query, read_rows, rows_of, run_ingest

from pg_bulk_ingest import Visibility, ingest


def test_each_batch_is_visible_to_other_sessions_only_once_committed(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    # The table exists and is committed before the ingest, so that a second
    # session can read it while a batch is in flight.
    run_ingest(engine, metadata, Batches())
    seen: List[Tuple[Any, ...]] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        own = sorted(r[0] for r in conn.execute(sa.select(ingest_table.c.id)).fetchall())
        other = sorted(r[0] for r in query(engine, f'SELECT id FROM "{schema}".t'))
        seen.append((batch_metadata, own, other))

    run_ingest(
        engine,
        metadata,
        Batches(
            (1, "batch-1", rows_of(table, [(1, "a"), (2, "b")])),
            (2, "batch-2", rows_of(table, [(3, "c")])),
        ),
        visibility=Visibility.AFTER_EACH_BATCH,
        on_before_visible=on_before_visible,
    )
    assert seen == [
        ("batch-1", [1, 2], []),
        ("batch-2", [1, 2, 3], [1, 2]),
    ]
    assert read_rows(engine, table) == [(1, "a"), (2, "b"), (3, "c")]


def test_on_before_visible_arguments(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    calls: List[Tuple[Any, ...]] = []
    batch_metadata = {"any": "object"}

    with engine.connect() as conn:

        def on_before_visible(c: Any, ingest_table: Any, m: Any) -> None:
            calls.append(
                (c is conn, isinstance(ingest_table, sa.Table), ingest_table.schema, ingest_name(ingest_table.name), m)
            )
            assert [col.name for col in ingest_table.columns] == ["id", "value"]

        ingest(
            conn,
            metadata,
            Batches((1, batch_metadata, rows_of(table, [(1, "a")])), (2, None, rows_of(table, [(2, "b")]))),
            on_before_visible=on_before_visible,
        )
    # The new table with a primary key is swapped in by its first batch.
    assert calls == [(True, True, schema, "_tmp_", batch_metadata), (True, True, schema, "t", None)]
    assert calls[0][4] is batch_metadata


def test_what_on_before_visible_writes_on_conn_commits_with_the_batch(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches())
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{schema}".audit (batch text, n int)'))
    during: List[Any] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        n = conn.execute(sa.select(sa.func.count()).select_from(ingest_table)).scalar()
        conn.execute(sa.text(f'INSERT INTO "{schema}".audit VALUES (:b ::text, :n ::int)'), {"b": batch_metadata, "n": n})
        during.append(query(engine, f'SELECT batch, n FROM "{schema}".audit ORDER BY n'))

    def batches(high_watermark: Any) -> Any:
        yield 1, "one", rows_of(table, [(1, "a")])
        yield 2, "two", rows_of(table, [(2, "b"), (3, "c")])
        yield 3, "three", rows_of(table, [(4, "d")])

    run_ingest(engine, metadata, batches, on_before_visible=on_before_visible)
    # Not visible to others before its batch commits...
    assert during == [[], [("one", 1)], [("one", 1), ("two", 3)]]
    # ...and committed with it.
    assert query(engine, f'SELECT batch, n FROM "{schema}".audit ORDER BY n') == [("one", 1), ("two", 3), ("three", 4)]


def test_what_on_before_visible_writes_is_rolled_back_with_a_failing_batch(
    engine: sa.engine.Engine, schema: str
) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches())
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{schema}".audit (batch text)'))

    class Boom(Exception):
        pass

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        conn.execute(sa.text(f'INSERT INTO "{schema}".audit VALUES (:b ::text)'), {"b": batch_metadata})

    def hwm() -> Any:
        raise Boom()

    with pytest.raises(Boom):
        run_ingest(
            engine,
            metadata,
            Batches((1, "one", rows_of(table, [(1, "a")])), (hwm, "two", rows_of(table, [(2, "b")]))),
            on_before_visible=on_before_visible,
        )
    assert query(engine, f'SELECT batch FROM "{schema}".audit') == [("one",)]
    assert read_rows(engine, table) == [(1, "a")]
