"""Migrations: on a table's first batch the live table is compared with the
wanted one and, on a difference or with Delete.BEFORE_FIRST_BATCH, rebuilt
as a `_tmp_` ingest table that is swapped in. An unchanged definition is not
rebuilt; a failed migration leaves the old table as it was."""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import pytest
import sqlalchemy as sa
from helpers import (
    TMP_NAME,
    Batches,
    RecordingForceExecute,
    catalog_columns,
    comment,
    connection_works,
    driver_error,
    index_definitions,
    index_names,
    primary_key,
    query,
    qi,
    relation_identity,
    rows_of,
    run_ingest,
    set_comment,
    stored_high_watermark,
    tmp_tables,
    unique_constraints,
)
from sqlalchemy.dialects import postgresql

from pg_bulk_ingest import Delete, Upsert, ingest


class Boom(Exception):
    pass


def table(schema: str, *items: Any, name: str = "t") -> sa.Table:
    """A table of its own MetaData: columns and sa.Index objects."""
    return sa.Table(name, sa.MetaData(), *items, schema=schema)


def rows(engine: sa.engine.Engine, schema: str, select: str = "*", name: str = "t") -> List[Tuple[Any, ...]]:
    return query(engine, f"SELECT {select} FROM {qi(schema, name)} ORDER BY 1, 2")


def state(engine: sa.engine.Engine, schema: str, name: str = "t") -> dict:
    """Everything a user would compare to tell whether a table changed."""
    return {
        "identity": relation_identity(engine, schema, name),
        "columns": catalog_columns(engine, schema, name),
        "primary_key": primary_key(engine, schema, name),
        "indexes": index_definitions(engine, schema, name),
        "index_names": index_names(engine, schema, name),
        "uniques": unique_constraints(engine, schema, name),
        "rows": query(engine, f"SELECT * FROM {qi(schema, name)} ORDER BY 1"),
        "comment": comment(engine, schema, name),
    }


def ID(pk: bool = True) -> sa.Column:
    return sa.Column("id", sa.INTEGER, primary_key=pk, nullable=not pk)


def PK_INDEX(schema: str) -> str:
    return f"CREATE UNIQUE INDEX ON {schema}.t USING btree (id)"


# --- a changed definition migrates the live table ------------------------


@dataclass
class Case:
    before: Callable[[str], sa.Table]
    after: Callable[[str], sa.Table]
    rows_before: Sequence[Tuple[Any, ...]]
    rows_after: Sequence[Tuple[Any, ...]]
    expected_rows: Sequence[Tuple[Any, ...]]
    columns: Sequence[Tuple[str, str, bool]]
    primary_key: Sequence[str] = ("id",)
    indexes: Callable[[str], List[str]] = lambda s: [PK_INDEX(s)]
    uniques: Sequence[Sequence[str]] = ()
    select: str = "*"
    upsert: str = Upsert.IF_PRIMARY_KEY


V16 = ("value", "character varying(16)", True)

CASES = {
    # Unindexed, a column added at the end is added in place (test_add_column.py).
    "add indexed column at end": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Column("extra", sa.INTEGER, index=True)),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c", 30)],
        expected_rows=[(1, "a", None), (2, "b", None), (3, "c", 30)],
        columns=[("id", "integer", False), V16, ("extra", "integer", True)],
        indexes=lambda s: [PK_INDEX(s), f"CREATE INDEX ON {s}.t USING btree (extra)"],
    ),
    "add column not at end": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, ID(), sa.Column("extra", sa.INTEGER), sa.Column("value", sa.VARCHAR(16))),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, 30, "c")],
        expected_rows=[(1, None, "a"), (2, None, "b"), (3, 30, "c")],
        columns=[("id", "integer", False), ("extra", "integer", True), V16],
    ),
    "remove column": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Column("extra", sa.INTEGER)),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        rows_before=[(1, "a", 10), (2, "b", 20)],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), V16],
    ),
    "varchar(16) to varchar(32)": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(32))),
        rows_before=[(1, "a" * 16), (2, "b")],
        rows_after=[(3, "c" * 32)],
        expected_rows=[(1, "a" * 16), (2, "b"), (3, "c" * 32)],
        columns=[("id", "integer", False), ("value", "character varying(32)", True)],
    ),
    "integer to bigint": Case(
        before=lambda s: table(s, ID(), sa.Column("n", sa.INTEGER)),
        after=lambda s: table(s, ID(), sa.Column("n", sa.BIGINT)),
        rows_before=[(1, 2**31 - 1), (2, -5)],
        rows_after=[(3, 2**40)],
        expected_rows=[(1, 2**31 - 1), (2, -5), (3, 2**40)],
        columns=[("id", "integer", False), ("n", "bigint", True)],
    ),
    "timestamp to timestamptz": Case(
        before=lambda s: table(s, ID(), sa.Column("ts", sa.TIMESTAMP)),
        after=lambda s: table(s, ID(), sa.Column("ts", sa.TIMESTAMP(timezone=True))),
        rows_before=[(1, datetime.datetime(2020, 1, 1, 12, 30)), (2, None)],
        rows_after=[(3, "2021-06-01 08:00")],
        # The server casts the old values in the session's time zone, and
        # to_char renders them in it: the wall-clock time is kept.
        select="id, to_char(ts, 'YYYY-MM-DD HH24:MI')",
        expected_rows=[(1, "2020-01-01 12:30"), (2, None), (3, "2021-06-01 08:00")],
        columns=[("id", "integer", False), ("ts", "timestamp with time zone", True)],
    ),
    "numeric precision": Case(
        before=lambda s: table(s, ID(), sa.Column("n", sa.NUMERIC(6, 2))),
        after=lambda s: table(s, ID(), sa.Column("n", sa.NUMERIC(12, 4))),
        rows_before=[(1, "1234.56")],
        rows_after=[(2, "12345678.1234")],
        select="id, n::text",
        expected_rows=[(1, "1234.5600"), (2, "12345678.1234")],
        columns=[("id", "integer", False), ("n", "numeric(12,4)", True)],
    ),
    "nullable to not null": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16), nullable=False)),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), ("value", "character varying(16)", False)],
    ),
    "not null to nullable": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16), nullable=False)),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, None)],
        expected_rows=[(1, "a"), (2, "b"), (3, None)],
        columns=[("id", "integer", False), V16],
    ),
    "primary key widened": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16), nullable=False)),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16), primary_key=True)),
        rows_before=[(1, "a"), (2, "b")],
        # (1, "c") is a new key under (id, value): added, not an update of id 1.
        rows_after=[(1, "c")],
        expected_rows=[(1, "a"), (1, "c"), (2, "b")],
        columns=[("id", "integer", False), ("value", "character varying(16)", False)],
        primary_key=["id", "value"],
        indexes=lambda s: [f"CREATE UNIQUE INDEX ON {s}.t USING btree (id, value)"],
    ),
    "primary key added": Case(
        before=lambda s: table(s, sa.Column("id", sa.INTEGER, nullable=False), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        rows_before=[(1, "a"), (2, "b")],
        # Upserted on the new key.
        rows_after=[(2, "z")],
        expected_rows=[(1, "a"), (2, "z")],
        columns=[("id", "integer", False), V16],
    ),
    "primary key removed": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, sa.Column("id", sa.INTEGER, nullable=False), sa.Column("value", sa.VARCHAR(16))),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(2, "z")],
        expected_rows=[(1, "a"), (2, "b"), (2, "z")],
        columns=[("id", "integer", False), V16],
        primary_key=[],
        indexes=lambda s: [],
    ),
    "unique added": Case(
        before=lambda s: table(s, ID(), sa.Column("code", sa.VARCHAR(8))),
        after=lambda s: table(s, ID(), sa.Column("code", sa.VARCHAR(8), unique=True)),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), ("code", "character varying(8)", True)],
        indexes=lambda s: [PK_INDEX(s), f"CREATE UNIQUE INDEX ON {s}.t USING btree (code)"],
        uniques=[["code"]],
    ),
    "index added": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value")),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), V16],
        indexes=lambda s: [PK_INDEX(s), f"CREATE INDEX ON {s}.t USING btree (value)"],
    ),
    "index removed": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value")),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16))),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), V16],
    ),
    "index made unique": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value")),
        after=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value", unique=True)),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), V16],
        indexes=lambda s: [PK_INDEX(s), f"CREATE UNIQUE INDEX ON {s}.t USING btree (value)"],
    ),
    "gin index on jsonb added": Case(
        before=lambda s: table(s, ID(), sa.Column("data", postgresql.JSONB)),
        after=lambda s: table(s, ID(), sa.Column("data", postgresql.JSONB), sa.Index(None, "data", postgresql_using="gin")),
        rows_before=[(1, {"a": 1}), (2, None)],
        rows_after=[(3, {"b": [1, 2]})],
        select="id, data::text",
        expected_rows=[(1, '{"a": 1}'), (2, None), (3, '{"b": [1, 2]}')],
        columns=[("id", "integer", False), ("data", "jsonb", True)],
        indexes=lambda s: [PK_INDEX(s), f"CREATE INDEX ON {s}.t USING gin (data)"],
    ),
    "index made multi-column": Case(
        before=lambda s: table(s, ID(), sa.Column("a", sa.INTEGER), sa.Column("b", sa.INTEGER), sa.Index(None, "a")),
        after=lambda s: table(s, ID(), sa.Column("a", sa.INTEGER), sa.Column("b", sa.INTEGER), sa.Index(None, "a", "b")),
        rows_before=[(1, 10, 100)],
        rows_after=[(2, 20, 200)],
        expected_rows=[(1, 10, 100), (2, 20, 200)],
        columns=[("id", "integer", False), ("a", "integer", True), ("b", "integer", True)],
        indexes=lambda s: [PK_INDEX(s), f"CREATE INDEX ON {s}.t USING btree (a, b)"],
    ),
    "multi-column index order changed": Case(
        before=lambda s: table(s, ID(), sa.Column("a", sa.INTEGER), sa.Column("b", sa.INTEGER), sa.Index(None, "a", "b")),
        after=lambda s: table(s, ID(), sa.Column("a", sa.INTEGER), sa.Column("b", sa.INTEGER), sa.Index(None, "b", "a")),
        rows_before=[(1, 10, 100)],
        rows_after=[(2, 20, 200)],
        expected_rows=[(1, 10, 100), (2, 20, 200)],
        columns=[("id", "integer", False), ("a", "integer", True), ("b", "integer", True)],
        indexes=lambda s: [PK_INDEX(s), f"CREATE INDEX ON {s}.t USING btree (b, a)"],
    ),
    "include added to index": Case(
        before=lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value")),
        after=lambda s: table(
            s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value", postgresql_include=["id"])
        ),
        rows_before=[(1, "a"), (2, "b")],
        rows_after=[(3, "c")],
        expected_rows=[(1, "a"), (2, "b"), (3, "c")],
        columns=[("id", "integer", False), V16],
        indexes=lambda s: [PK_INDEX(s), f"CREATE INDEX ON {s}.t USING btree (value) INCLUDE (id)"],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_changed_definition_migrates_on_next_ingest(engine: sa.engine.Engine, schema: str, case: Case) -> None:
    before = case.before(schema)
    run_ingest(engine, before.metadata, Batches((1, None, rows_of(before, case.rows_before))), upsert=case.upsert)
    old = state(engine, schema)

    after = case.after(schema)
    force = RecordingForceExecute()
    run_ingest(
        engine,
        after.metadata,
        Batches((2, None, rows_of(after, case.rows_after)), (3, None, [])),
        upsert=case.upsert,
        get_pg_force_execute=force,
    )

    assert relation_identity(engine, schema, "t")[0] != old["identity"][0], "the table was not rebuilt"
    assert catalog_columns(engine, schema, "t") == list(case.columns)
    assert primary_key(engine, schema, "t") == list(case.primary_key)
    assert index_definitions(engine, schema, "t") == sorted(case.indexes(schema))
    assert unique_constraints(engine, schema, "t") == [list(u) for u in case.uniques]
    assert rows(engine, schema, case.select) == list(case.expected_rows)
    # Indexes are created afresh, with new random names.
    names = index_names(engine, schema, "t")
    assert all(re.match(TMP_NAME, n) for n in names), names
    assert not set(names) & set(old["index_names"])
    assert tmp_tables(engine, schema) == []
    assert stored_high_watermark(engine, schema, "t") == 3
    assert len(force.calls) == 1  # the first batch only


def test_migrated_table_is_not_rebuilt_again(engine: sa.engine.Engine, schema: str) -> None:
    case = CASES["add indexed column at end"]
    run_ingest(engine, case.before(schema).metadata, Batches((1, None, [])))
    after = case.after(schema)
    run_ingest(engine, after.metadata, Batches((2, None, rows_of(after, [(1, "a", 1)]))))
    migrated = state(engine, schema)
    run_ingest(engine, after.metadata, Batches((3, None, rows_of(after, [(2, "b", 2)]))))
    assert relation_identity(engine, schema, "t") == migrated["identity"]
    assert rows(engine, schema) == [(1, "a", 1), (2, "b", 2)]


# --- an unchanged definition is not rebuilt ------------------------------


UNCHANGED = {
    "no primary key": lambda s: table(s, sa.Column("id", sa.INTEGER), sa.Column("value", sa.VARCHAR(16))),
    "primary key": lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16), nullable=False)),
    "composite primary key": lambda s: table(
        s, ID(), sa.Column("value", sa.VARCHAR(16), primary_key=True), sa.Column("n", sa.INTEGER)
    ),
    "unique column": lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16), unique=True)),
    "two unique columns": lambda s: table(
        s,
        sa.Column("id", sa.INTEGER, unique=True),
        sa.Column("value", sa.VARCHAR(16), unique=True, nullable=False),
    ),
    "unique index": lambda s: table(s, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value", unique=True)),
    "several indexes": lambda s: table(
        s,
        ID(),
        sa.Column("value", sa.VARCHAR(16)),
        sa.Column("data", postgresql.JSONB),
        sa.Column("n", sa.INTEGER),
        sa.Index(None, "value"),
        sa.Index(None, "value", "n"),
        sa.Index(None, "n", "value"),
        sa.Index(None, "data", postgresql_using="gin"),
        sa.Index(None, "n", postgresql_include=["value"]),
        sa.Index(None, "value", unique=True),
    ),
    "many types": lambda s: table(
        s,
        ID(),
        sa.Column("value", sa.VARCHAR(16)),
        sa.Column("text", sa.TEXT),
        sa.Column("any_length", sa.VARCHAR),
        sa.Column("n", sa.NUMERIC(10, 2)),
        sa.Column("free_n", sa.NUMERIC),
        sa.Column("big", sa.BIGINT),
        sa.Column("small", sa.SMALLINT),
        sa.Column("real", sa.REAL),
        sa.Column("double", postgresql.DOUBLE_PRECISION),
        sa.Column("flag", sa.BOOLEAN),
        sa.Column("day", sa.DATE),
        sa.Column("ts", sa.TIMESTAMP),
        sa.Column("tstz", sa.TIMESTAMP(timezone=True)),
        sa.Column("tm", sa.TIME),
        sa.Column("data", postgresql.JSONB),
        sa.Column("json", postgresql.JSON),
        sa.Column("ints", sa.ARRAY(sa.INTEGER)),
        sa.Column("texts", sa.ARRAY(sa.VARCHAR(8))),
        sa.Column("uid", postgresql.UUID),
        sa.Column("raw", postgresql.BYTEA),
        sa.Column("span", postgresql.INTERVAL),
    ),
}


def first_rows(t: sa.Table, batch: int) -> List[Tuple[sa.Table, Tuple[Any, ...]]]:
    """Two rows for the first two columns (an int and a string), NULL elsewhere."""
    width = len(t.columns)
    return [(t, (batch * 10 + i, f"v{batch}-{i}") + (None,) * (width - 2)) for i in range(2)]


@pytest.mark.parametrize("make", UNCHANGED.values(), ids=UNCHANGED.keys())
def test_unchanged_definition_is_not_rebuilt(engine: sa.engine.Engine, schema: str, make: Callable[[str], sa.Table]) -> None:
    t = make(schema)
    run_ingest(engine, t.metadata, Batches((1, None, first_rows(t, 1))))
    first = state(engine, schema)
    force = RecordingForceExecute()
    seen: List[sa.Table] = []
    for batch in (2, 3):
        again = make(schema)  # a new but equal definition, as a new process would build
        run_ingest(
            engine,
            again.metadata,
            Batches((batch, None, first_rows(again, batch))),
            get_pg_force_execute=force,
            on_before_visible=lambda conn, ingest_table, m: seen.append(ingest_table),
        )
        assert seen[-1] is again
        now = state(engine, schema)
        assert now["identity"] == first["identity"], "the table was rebuilt"
        for key in ("columns", "primary_key", "indexes", "index_names", "uniques"):
            assert now[key] == first[key], key
    assert force.calls == []
    assert len(rows(engine, schema, "id, value")) == 6
    assert tmp_tables(engine, schema) == []


def test_indexes_differing_only_by_name_are_not_rebuilt(engine: sa.engine.Engine, schema: str) -> None:
    def make(name: Optional[str]) -> sa.Table:
        return table(
            schema,
            ID(),
            sa.Column("value", sa.VARCHAR(16)),
            sa.Column("n", sa.INTEGER),
            sa.Index(name, "value", "n"),
            sa.Index(None, "n", unique=True),
        )

    t = make(None)
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a", 1)]))))
    # A user renames one index; then the definition names it differently again.
    [multi] = [n for n in index_names(engine, schema, "t") if "value" in query(
        engine, "SELECT pg_get_indexdef(format('%I.%I', :s ::text, :n ::text)::regclass)", s=schema, n=n
    )[0][0]]
    with engine.begin() as conn:
        conn.execute(sa.text(f'ALTER INDEX {qi(schema, multi)} RENAME TO "renamed by hand"'))
    before = state(engine, schema)
    force = RecordingForceExecute()
    named = make("my_named_index")
    run_ingest(engine, named.metadata, Batches((2, None, rows_of(named, [(2, "b", 2)]))), get_pg_force_execute=force)
    after = state(engine, schema)
    assert after["identity"] == before["identity"]
    assert after["index_names"] == before["index_names"]
    assert "renamed by hand" in after["index_names"]
    assert force.calls == []


# --- Delete.BEFORE_FIRST_BATCH -------------------------------------------


def indexed(schema: str) -> sa.Table:
    return table(schema, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value"))


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_delete_before_first_batch_keeps_only_the_ingests_rows(engine: sa.engine.Engine, schema: str, upsert: str) -> None:
    t = indexed(schema)
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a"), (2, "b"), (3, "c")]))))
    old = state(engine, schema)
    force = RecordingForceExecute()
    run_ingest(
        engine,
        t.metadata,
        Batches((2, None, rows_of(t, [(2, "x"), (10, "y")])), (3, None, rows_of(t, [(11, "z")]))),
        delete=Delete.BEFORE_FIRST_BATCH,
        upsert=upsert,
        get_pg_force_execute=force,
    )
    assert rows(engine, schema) == [(2, "x"), (10, "y"), (11, "z")]
    new = state(engine, schema)
    assert new["identity"][0] != old["identity"][0]
    for key in ("columns", "primary_key", "indexes"):
        assert new[key] == old[key], key
    assert all(re.match(TMP_NAME, n) for n in new["index_names"])
    assert stored_high_watermark(engine, schema, "t") == 3
    assert len(force.calls) == 1
    assert tmp_tables(engine, schema) == []


def test_delete_before_first_batch_with_a_changed_definition(engine: sa.engine.Engine, schema: str) -> None:
    t = indexed(schema)
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a"), (2, "b")]))))
    after = table(schema, ID(), sa.Column("value", sa.VARCHAR(32)), sa.Column("extra", sa.INTEGER))
    run_ingest(engine, after.metadata, Batches((2, None, rows_of(after, [(5, "e", 50)]))), delete=Delete.BEFORE_FIRST_BATCH)
    assert rows(engine, schema) == [(5, "e", 50)]
    assert catalog_columns(engine, schema, "t") == [
        ("id", "integer", False),
        ("value", "character varying(32)", True),
        ("extra", "integer", True),
    ]
    assert index_definitions(engine, schema, "t") == [PK_INDEX(schema)]


def test_delete_with_no_batches_deletes_nothing(engine: sa.engine.Engine, schema: str) -> None:
    t = indexed(schema)
    run_ingest(engine, t.metadata, Batches(("hwm-1", None, rows_of(t, [(1, "a"), (2, "b")]))))
    before = state(engine, schema)
    force = RecordingForceExecute()
    run_ingest(engine, t.metadata, Batches(), delete=Delete.BEFORE_FIRST_BATCH, get_pg_force_execute=force)
    assert state(engine, schema) == before
    assert stored_high_watermark(engine, schema, "t") == "hwm-1"
    assert force.calls == []


def test_delete_with_an_empty_first_batch_still_deletes(engine: sa.engine.Engine, schema: str) -> None:
    t = indexed(schema)
    run_ingest(engine, t.metadata, Batches(("hwm-1", None, rows_of(t, [(1, "a"), (2, "b")]))))
    old = state(engine, schema)
    run_ingest(engine, t.metadata, Batches(("hwm-2", None, ())), delete=Delete.BEFORE_FIRST_BATCH)
    assert rows(engine, schema) == []
    assert stored_high_watermark(engine, schema, "t") == "hwm-2"
    assert index_definitions(engine, schema, "t") == old["indexes"]
    assert tmp_tables(engine, schema) == []


def test_delete_before_first_batch_then_more_batches_append(engine: sa.engine.Engine, schema: str) -> None:
    t = table(schema, sa.Column("id", sa.INTEGER), sa.Column("value", sa.VARCHAR(16)))
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a")]))))
    run_ingest(
        engine,
        t.metadata,
        Batches((2, None, ()), (3, None, rows_of(t, [(2, "b")])), (4, None, rows_of(t, [(3, "c")]))),
        delete=Delete.BEFORE_FIRST_BATCH,
    )
    assert rows(engine, schema) == [(2, "b"), (3, "c")]


# --- no batches, no migration --------------------------------------------


def test_no_batches_no_migration_even_when_the_definition_differs(engine: sa.engine.Engine, schema: str) -> None:
    t = indexed(schema)
    run_ingest(engine, t.metadata, Batches(("hwm-1", None, rows_of(t, [(1, "a")]))))
    before = state(engine, schema)
    changed = table(
        schema,
        sa.Column("id", sa.BIGINT, primary_key=True),
        sa.Column("value", sa.VARCHAR(16), nullable=False),
        sa.Column("extra", sa.INTEGER),
        sa.Index(None, "value", unique=True),
    )
    force = RecordingForceExecute()
    batches = Batches()
    run_ingest(engine, changed.metadata, batches, get_pg_force_execute=force)
    assert batches.calls == ["hwm-1"]
    assert state(engine, schema) == before
    assert force.calls == []


# --- a failed migration leaves the old table -----------------------------


def old_and_state(engine: sa.engine.Engine, schema: str) -> Tuple[sa.Table, dict]:
    old = table(schema, ID(), sa.Column("value", sa.VARCHAR(32)), sa.Column("note", sa.VARCHAR(16)), sa.Index(None, "value"))
    run_ingest(engine, old.metadata, Batches(("hwm-1", None, rows_of(old, [(1, "abc", None), (2, "def", "x")]))))
    return old, state(engine, schema)


@pytest.mark.parametrize(
    "change, errors",
    [
        # Upstream copies the old rows with INSERT ... SELECT: the server
        # refuses VARCHAR into INTEGER (with or without an explicit cast).
        ("varchar to integer", ("DatatypeMismatch", "InvalidTextRepresentation")),
        ("not null where nulls exist", ("NotNullViolation",)),
        ("unique where duplicates exist", ("UniqueViolation",)),
    ],
)
def test_migration_failing_in_the_first_batch_leaves_the_old_table(
    engine: sa.engine.Engine, schema: str, driver: str, change: str, errors: Tuple[str, ...]
) -> None:
    old, before = old_and_state(engine, schema)
    if change == "unique where duplicates exist":
        run_ingest(engine, old.metadata, Batches(("hwm-1", None, rows_of(old, [(3, "abc", "x")]))))
        before = state(engine, schema)
    new = {
        "varchar to integer": table(schema, ID(), sa.Column("value", sa.INTEGER), sa.Column("note", sa.VARCHAR(16))),
        "not null where nulls exist": table(
            schema, ID(), sa.Column("value", sa.VARCHAR(32)), sa.Column("note", sa.VARCHAR(16), nullable=False)
        ),
        "unique where duplicates exist": table(
            schema, ID(), sa.Column("value", sa.VARCHAR(32), unique=True), sa.Column("note", sa.VARCHAR(16))
        ),
    }[change]
    batches = Batches(("hwm-2", None, rows_of(new, [(10, 10 if change == "varchar to integer" else "zz", "n")])))
    with engine.connect() as conn:
        with pytest.raises(tuple(driver_error(driver, e) for e in errors)):
            ingest(conn, new.metadata, batches)
        assert connection_works(conn)
    assert state(engine, schema) == before
    assert stored_high_watermark(engine, schema, "t") == "hwm-1"
    assert tmp_tables(engine, schema) == []


@pytest.mark.parametrize("where", ["rows", "on_before_visible", "high watermark"])
def test_user_exception_during_a_migration_leaves_the_old_table(engine: sa.engine.Engine, schema: str, where: str) -> None:
    old, before = old_and_state(engine, schema)
    new = table(schema, ID(), sa.Column("value", sa.VARCHAR(64)), sa.Column("note", sa.VARCHAR(16)))
    error = Boom(where)

    def new_rows() -> Iterator[Any]:
        yield new, (5, "e", None)
        if where == "rows":
            raise error

    def on_before_visible(conn: Any, ingest_table: Any, m: Any) -> None:
        if where == "on_before_visible":
            raise error

    def hwm() -> Any:
        if where == "high watermark":
            raise error
        return "hwm-2"

    with engine.connect() as conn:
        with pytest.raises(Boom) as info:
            ingest(conn, new.metadata, Batches((hwm, None, new_rows())), on_before_visible=on_before_visible)
        assert connection_works(conn)
    assert info.value is error
    assert state(engine, schema) == before
    assert tmp_tables(engine, schema) == []


def test_failure_in_a_later_batch_keeps_the_committed_migration(engine: sa.engine.Engine, schema: str) -> None:
    old, _ = old_and_state(engine, schema)
    new = table(schema, ID(), sa.Column("value", sa.VARCHAR(64)), sa.Column("extra", sa.INTEGER))

    def batches(high_watermark: Any) -> Iterator[Any]:
        yield "hwm-2", None, rows_of(new, [(5, "e", 50)])
        yield "hwm-3", None, rows_of(new, [(6, "f", 60)])
        raise Boom("later")

    with engine.connect() as conn:
        with pytest.raises(Boom):
            ingest(conn, new.metadata, batches)
    assert catalog_columns(engine, schema, "t") == [
        ("id", "integer", False),
        ("value", "character varying(64)", True),
        ("extra", "integer", True),
    ]
    assert rows(engine, schema) == [(1, "abc", None), (2, "def", None), (5, "e", 50), (6, "f", 60)]
    assert stored_high_watermark(engine, schema, "t") == "hwm-3"
    assert tmp_tables(engine, schema) == []


# --- on_before_visible gets the table the rows went into -----------------


def test_on_before_visible_gets_the_ingest_table_when_swapping(engine: sa.engine.Engine, schema: str) -> None:
    old = table(schema, ID(), sa.Column("value", sa.VARCHAR(16)))
    run_ingest(engine, old.metadata, Batches((1, None, rows_of(old, [(1, "a")]))))
    new = table(schema, ID(), sa.Column("value", sa.VARCHAR(16)), sa.Column("extra", sa.INTEGER))
    seen: List[Tuple[Any, ...]] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        visible = [tuple(r) for r in conn.execute(sa.select(ingest_table).order_by(ingest_table.c.id)).fetchall()]
        others = query(engine, f"SELECT * FROM {qi(schema, 't')} ORDER BY 1")
        seen.append(
            (
                batch_metadata,
                ingest_table is new,
                ingest_table.name,
                ingest_table.schema,
                [c.name for c in ingest_table.columns],
                visible,
                others,
            )
        )

    run_ingest(
        engine,
        new.metadata,
        Batches((2, "b2", rows_of(new, [(2, "b", 20)])), (3, "b3", rows_of(new, [(3, "c", 30)]))),
        on_before_visible=on_before_visible,
    )
    first, second = seen
    assert first[0] == "b2"
    assert first[1] is False
    assert re.match(TMP_NAME, first[2]), first[2]
    assert first[3] == schema
    assert first[4] == ["id", "value", "extra"]
    assert first[5] == [(1, "a", None), (2, "b", 20)]
    assert first[6] == [(1, "a")]  # other sessions still see the old table
    # After the swap, the live table is the ingest table.
    assert second[:4] == ("b3", True, "t", schema)
    assert second[5] == [(1, "a", None), (2, "b", 20), (3, "c", 30)]
    assert tmp_tables(engine, schema) == []


def test_on_before_visible_gets_the_users_table_without_swap(engine: sa.engine.Engine, schema: str) -> None:
    t = table(schema, sa.Column("id", sa.INTEGER), sa.Column("value", sa.VARCHAR(16)))
    seen: List[Any] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        seen.append((ingest_table is t, conn.execute(sa.select(sa.func.count()).select_from(ingest_table)).scalar()))

    # The first ingest creates the table (no key, no index): no swap.
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a")]))), on_before_visible=on_before_visible)
    run_ingest(engine, t.metadata, Batches((2, None, rows_of(t, [(2, "b")]))), on_before_visible=on_before_visible)
    assert seen == [(True, 1), (True, 2)]


def test_on_before_visible_with_delete_gets_the_ingest_table(engine: sa.engine.Engine, schema: str) -> None:
    t = table(schema, sa.Column("id", sa.INTEGER), sa.Column("value", sa.VARCHAR(16)))
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a"), (2, "b")]))))
    seen: List[Any] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        n = conn.execute(sa.select(sa.func.count()).select_from(ingest_table)).scalar()
        seen.append((ingest_table.name, ingest_table.schema, n))

    run_ingest(
        engine, t.metadata, Batches((2, None, rows_of(t, [(3, "c")]))), delete=Delete.BEFORE_FIRST_BATCH,
        on_before_visible=on_before_visible,
    )
    [(name, s, n)] = seen
    assert re.match(TMP_NAME, name) and s == schema and n == 1


# --- several tables -------------------------------------------------------


def two_tables(schema: str, second_extra: bool = False, first_extra: bool = False) -> Tuple[sa.MetaData, sa.Table, sa.Table]:
    metadata = sa.MetaData()
    first = sa.Table(
        "first",
        metadata,
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        *([sa.Column("extra", sa.INTEGER)] if first_extra else []),
        schema=schema,
    )
    second = sa.Table(
        "second",
        metadata,
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        *([sa.Column("extra", sa.INTEGER)] if second_extra else []),
        sa.Index(None, "value"),
        schema=schema,
    )
    return metadata, first, second


def test_only_the_changed_table_of_several_is_rebuilt(engine: sa.engine.Engine, schema: str) -> None:
    metadata, first, second = two_tables(schema)
    run_ingest(engine, metadata, Batches(("hwm-1", None, [(first, (1, "a")), (second, (1, "x"))])))
    first_before = state(engine, schema, "first")
    second_before = state(engine, schema, "second")

    metadata, first, second = two_tables(schema, second_extra=True)
    calls: List[Tuple[Any, ...]] = []
    force = RecordingForceExecute()

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        calls.append((batch_metadata, ingest_table is first, ingest_table is second, ingest_table.name))

    run_ingest(
        engine,
        metadata,
        Batches(
            ("hwm-2", "b2", [(second, (2, "y", 20)), (first, (2, "b"))]),
            ("hwm-3", "b3", [(first, (3, "c"))]),
        ),
        on_before_visible=on_before_visible,
        get_pg_force_execute=force,
    )
    assert relation_identity(engine, schema, "first") == first_before["identity"]
    assert relation_identity(engine, schema, "second")[0] != second_before["identity"][0]
    assert rows(engine, schema, name="first") == [(1, "a"), (2, "b"), (3, "c")]
    assert rows(engine, schema, name="second") == [(1, "x", None), (2, "y", 20)]
    assert stored_high_watermark(engine, schema, "first") == "hwm-3"
    second_comment = comment(engine, schema, "second")
    assert second_comment is None or "pg-bulk-ingest" not in json.loads(second_comment)
    assert len(force.calls) == 1
    # Once per table per batch, with the Table the rows went into.
    assert len(calls) == 4
    b2 = [c for c in calls if c[0] == "b2"]
    assert ("b2", True, False, "first") in b2
    [tmp] = [c for c in b2 if c[3] != "first"]
    assert tmp[1:3] == (False, False) and re.match(TMP_NAME, tmp[3]), tmp
    assert sorted(c for c in calls if c[0] == "b3") == [("b3", False, True, "second"), ("b3", True, False, "first")]
    assert tmp_tables(engine, schema) == []


def test_high_watermark_and_comment_survive_a_migration_of_the_first_table(engine: sa.engine.Engine, schema: str) -> None:
    metadata, first, second = two_tables(schema)
    run_ingest(engine, metadata, Batches(("hwm-1", None, [(first, (1, "a"))])))
    set_comment(engine, schema, "first", json.dumps({"owner": "team-x", "pg-bulk-ingest": {"high-watermark": "hwm-1"}}))
    metadata, first, second = two_tables(schema, first_extra=True)
    batches = Batches(("hwm-2", None, [(first, (2, "b", 2))]))
    run_ingest(engine, metadata, batches)
    assert batches.calls == ["hwm-1"]
    assert json.loads(comment(engine, schema, "first") or "") == {
        "owner": "team-x",
        "pg-bulk-ingest": {"high-watermark": "hwm-2"},
    }
    assert rows(engine, schema, name="first") == [(1, "a", None), (2, "b", 2)]


# --- a new table ------------------------------------------------------------


def test_new_table_is_created_like_upstream_then_migrated_by_its_first_batch(engine: sa.engine.Engine, schema: str) -> None:
    """Upstream creates a missing table with its columns only (no primary
    key, no indexes); its first batch then finds it differs and swaps."""
    t = indexed(schema)
    run_ingest(engine, t.metadata, Batches())
    assert catalog_columns(engine, schema, "t") == [("id", "integer", False), V16]
    assert primary_key(engine, schema, "t") == []
    assert index_definitions(engine, schema, "t") == []
    seen: List[str] = []
    force = RecordingForceExecute()
    run_ingest(
        engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a")]))), get_pg_force_execute=force,
        on_before_visible=lambda conn, ingest_table, m: seen.append(ingest_table.name),
    )
    assert len(seen) == 1 and re.match(TMP_NAME, seen[0]), seen
    assert len(force.calls) == 1
    assert primary_key(engine, schema, "t") == ["id"]
    assert index_definitions(engine, schema, "t") == sorted([PK_INDEX(schema), f"CREATE INDEX ON {schema}.t USING btree (value)"])
