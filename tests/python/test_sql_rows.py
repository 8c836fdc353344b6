"""Rows that are SQL objects of the connection's driver (psycopg2.sql or
psycopg.sql, SQL or Composed): each runs as INSERT INTO the table's ingest
or staging table, in order among the batch's other rows."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, List, Tuple

import pytest
import sqlalchemy as sa

from helpers import Batches, driver_error, int_table, qi, query, read_rows, rows_of, run_ingest, tmp_tables
from pg_bulk_ingest import Delete


def sql_of(driver: str) -> Any:
    """The driver's sql module."""
    return importlib.import_module(f"{driver}.sql")


def in_order(engine: sa.engine.Engine, schema: str, name: str = "t") -> List[Tuple[Any, ...]]:
    """The table's rows in their physical order: the order they went in."""
    return query(engine, f"SELECT id, value FROM {qi(schema, name)} ORDER BY ctid")


def test_values_and_select_in_order_among_tuple_rows(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    sql = sql_of(driver)
    metadata = sa.MetaData()
    table = int_table(metadata, schema, pk=())
    rows = [
        (table, (1, "a")),
        (table, sql.SQL("VALUES (2, 'b'), (3, 'c')")),
        (table, (4, "d")),
        (table, sql.SQL("SELECT 5, 'e' UNION ALL SELECT 6, 'f'")),
        (table, (7, "g")),
    ]
    run_ingest(engine, metadata, Batches((1, None, rows)))
    assert in_order(engine, schema) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (6, "f"), (7, "g")]


def test_composed_with_literals_and_percent_signs(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    # No parameters go with the statement, so psycopg2 reads no % in it.
    sql = sql_of(driver)
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    composed = sql.SQL("VALUES ({}, {}), ({}, {})").format(
        sql.Literal(1), sql.Literal("it's 100%"), sql.Literal(2), sql.Literal("%s %(x)s")
    )
    rows = [(table, composed), (table, sql.SQL("VALUES (3, '50%')"))]
    run_ingest(engine, metadata, Batches((1, None, rows)))
    assert read_rows(engine, table) == [(1, "it's 100%"), (2, "%s %(x)s"), (3, "50%")]


@pytest.mark.parametrize("live", [False, True], ids=["first batch", "live table"])
def test_upsert_last_row_of_a_key_wins_across_copy_and_insert(
    engine: sa.engine.Engine, driver: str, schema: str, live: bool
) -> None:
    sql = sql_of(driver)
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    if live:
        run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "old"), (2, "old"), (9, "old")]))))
    rows = [
        (table, (1, "copy")),
        (table, sql.SQL("VALUES (1, 'sql'), (2, 'sql')")),
        (table, (2, "copy")),
        (table, sql.SQL("VALUES (3, 'sql')")),
        (table, (3, "copy")),
        (table, sql.SQL("VALUES (3, 'last')")),
    ]
    run_ingest(engine, metadata, Batches((2, None, rows)))
    expected = [(1, "sql"), (2, "copy"), (3, "last")] + ([(9, "old")] if live else [])
    assert read_rows(engine, table) == expected
    assert tmp_tables(engine, schema) == []


def test_delete_before_first_batch(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    sql = sql_of(driver)
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "old"), (5, "old")]))))
    rows = [(table, sql.SQL("VALUES (1, 'a'), (2, 'b')")), (table, (2, "c"))]
    run_ingest(engine, metadata, Batches((2, None, rows)), delete=Delete.BEFORE_FIRST_BATCH)
    assert read_rows(engine, table) == [(1, "a"), (2, "c")]


def test_migration_batch_adding_a_column(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    sql = sql_of(driver)
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a"), (2, "b")]))))
    wider_metadata = sa.MetaData()
    wider = int_table(wider_metadata, schema, extra=[sa.Column("extra", sa.VARCHAR(8), nullable=True)])
    rows = [(wider, sql.SQL("VALUES (2, 'B', 'x'), (3, 'c', 'y')")), (wider, (4, "d", "z"))]
    run_ingest(engine, wider_metadata, Batches((2, None, rows)))
    assert read_rows(engine, wider) == [(1, "a", None), (2, "B", "x"), (3, "c", "y"), (4, "d", "z")]


def test_tables_interleaved(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    sql = sql_of(driver)
    metadata = sa.MetaData()
    keyed = int_table(metadata, schema, "keyed")
    plain = int_table(metadata, schema, "plain", pk=())
    rows = [
        (keyed, (1, "a")),
        (plain, sql.SQL("VALUES (10, 'x')")),
        (keyed, sql.SQL("VALUES (2, 'b'), (1, 'sql')")),
        (plain, (11, "y")),
        (keyed, (2, "c")),
        (plain, sql.SQL("SELECT 12, 'z'")),
    ]
    run_ingest(engine, metadata, Batches((1, None, rows)))
    assert read_rows(engine, keyed) == [(1, "sql"), (2, "c")]
    assert in_order(engine, schema, "plain") == [(10, "x"), (11, "y"), (12, "z")]


def test_the_other_drivers_sql_is_refused(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    other = "psycopg" if driver == "psycopg2" else "psycopg2"
    if importlib.util.find_spec(other) is None:
        pytest.skip(f"{other} is not installed in this environment")
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    rows = [(table, (2, "b")), (table, sql_of(other).SQL("VALUES (3, 'c')"))]
    with pytest.raises(TypeError) as info:
        run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a")])), (2, None, rows)))
    message = str(info.value)
    assert f"{other}.sql" in message and f"{driver}.sql" in message
    assert "batch 2" in message and "row 1" in message
    assert read_rows(engine, table) == [(1, "a")]


def test_server_error_names_batch_table_and_row(engine: sa.engine.Engine, driver: str, schema: str) -> None:
    sql = sql_of(driver)
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    rows = [(table, (2, "b")), (table, sql.SQL("VALUES (3, 'c')")), (table, sql.SQL("SELECT 1/0, 'd'"))]
    with pytest.raises(driver_error(driver, "DivisionByZero")) as info:
        run_ingest(engine, metadata, Batches((1, None, rows_of(table, [(1, "a")])), (2, None, rows)))
    if sys.version_info >= (3, 11):  # exception notes (add_note)
        notes = "".join(getattr(info.value, "__notes__", []))
        assert "batch 2" in notes and qi(schema, "t") in notes and "row 2" in notes and "SELECT 1/0" in notes
    assert read_rows(engine, table) == [(1, "a")]
    assert tmp_tables(engine, schema) == []
