"""Columns appended: when the wanted table differs from the live one only by
nullable columns after its last (no key, no UNIQUE, no index on them), and
no on_before_visible of the user's runs, the first batch adds them with
ALTER TABLE ... ADD COLUMN instead of rebuilding the table: the same
columns, rows, indexes, views and high watermark as a rebuild gives, and
the table itself kept, with what a rebuild would lose. A failing batch
leaves the table as it was; the ALTER waits for readers as a swap does."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List

import pytest
import sqlalchemy as sa
from helpers import (
    Batches,
    RecordingForceExecute,
    catalog_columns,
    execute,
    ingest_name,
    query,
    qi,
    relation_identity,
    rows_of,
    run_ingest,
    stored_high_watermark,
    tmp_tables,
)

from pg_bulk_ingest import Delete, Upsert, ingest


def narrow(schema: str) -> sa.Table:
    return sa.Table(
        "t", sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        sa.Index(None, "value"),
        schema=schema,
    )


def wide(schema: str, **extra: Any) -> sa.Table:
    """narrow with a column "note" appended (keyword arguments: its options)."""
    return sa.Table(
        "t", sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        sa.Column("note", sa.TEXT, **{"nullable": True, **extra}),
        sa.Index(None, "value"),
        schema=schema,
    )


def seed(engine: sa.engine.Engine, schema: str) -> None:
    t = narrow(schema)
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a"), (2, "b")]))))


def rows(engine: sa.engine.Engine, schema: str) -> List[Any]:
    return query(engine, f"SELECT * FROM {qi(schema, 't')} ORDER BY id")


def info_lines(caplog: Any) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pg_bulk_ingest" and r.levelno == logging.INFO]


def kept(engine: sa.engine.Engine, schema: str) -> Dict[str, Any]:
    """What a rebuild would lose or change, and ADD COLUMN keeps."""
    t = "CAST(:t AS regclass)"
    (row,) = query(
        engine,
        f"""SELECT (SELECT relacl::text FROM pg_class WHERE oid = {t}),
            (SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = {t} AND NOT tgisinternal),
            (SELECT array_agg(polname::text) FROM pg_policy WHERE polrelid = {t}),
            col_description({t}, 2),
            (SELECT count(*) FROM pg_publication_rel WHERE prrelid = {t}),
            (SELECT count(*) FROM pg_stats WHERE schemaname = :s AND tablename = 't'),
            (SELECT reloptions::text FROM pg_class WHERE oid = {t}),
            (SELECT array_agg(conname::text) FROM pg_constraint WHERE confrelid = {t}),
            (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = {t}),
            (SELECT array_agg(oid::bigint ORDER BY relname) FROM pg_class WHERE relnamespace = CAST(:s AS regnamespace) AND relkind IN ('v', 'm')),
            (SELECT array_agg(attname || ' ' || attacl::text) FROM pg_attribute WHERE attrelid = {t} AND attacl IS NOT NULL),
            (SELECT relowner::regrole::text FROM pg_class WHERE oid = {t})
        """,
        s=schema,
        t=qi(schema, "t"),
    )
    keys = ["privileges", "triggers", "policies", "column comment", "publications", "statistics", "options",
            "foreign keys to it", "index names", "view oids", "column privileges", "owner"]
    return dict(zip(keys, row))


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_column_appended_in_place(engine: sa.engine.Engine, schema: str, upsert: str, caplog: Any) -> None:
    seed(engine, schema)
    t = qi(schema, "t")
    publication = f"pbi_add_column_{schema}"
    execute(
        engine,
        f"CREATE VIEW {qi(schema, 'v')} AS SELECT * FROM {t}",
        f"CREATE MATERIALIZED VIEW {qi(schema, 'm')} AS SELECT count(*) AS n FROM {t}",
        f"GRANT SELECT ON {t}, {qi(schema, 'v')} TO PUBLIC",
        f"GRANT INSERT, UPDATE (value) ON {t} TO PUBLIC",
        f"CREATE TABLE {qi(schema, 'child')} (id INTEGER REFERENCES {t} (id))",
        f"CREATE TABLE {qi(schema, 'audit')} (id INTEGER)",
        f"CREATE FUNCTION {qi(schema, 'audit')}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$BEGIN INSERT INTO {qi(schema, 'audit')} VALUES (NEW.id); RETURN NEW; END$$",
        f"CREATE TRIGGER audit AFTER INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {qi(schema, 'audit')}()",
        f"CREATE POLICY mine ON {t} USING (true)",
        f"COMMENT ON COLUMN {t}.value IS 'a value'",
        f"CREATE PUBLICATION {qi(publication)} FOR TABLE {t}",
        f"ALTER TABLE {t} SET (fillfactor = 90)",
        f"ANALYZE {t}",
    )
    try:
        identity, before = relation_identity(engine, schema, "t"), kept(engine, schema)
        assert all(before[k] for k in ("column privileges", "triggers", "policies", "publications", "statistics",
                                        "options", "foreign keys to it", "column comment")), before
        views = query(engine, "SELECT pg_get_viewdef(CAST(:v AS regclass))", v=qi(schema, "v"))
        caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
        force = RecordingForceExecute()
        new = wide(schema)
        run_ingest(
            engine, new.metadata, Batches((2, None, rows_of(new, [(3, "c", "n3")]))), upsert=upsert,
            get_pg_force_execute=force,
        )

        assert relation_identity(engine, schema, "t") == identity, "the table was rewritten or rebuilt"
        assert catalog_columns(engine, schema, "t") == [
            ("id", "integer", False), ("value", "character varying(16)", True), ("note", "text", True)]
        assert rows(engine, schema) == [(1, "a", None), (2, "b", None), (3, "c", "n3")]
        assert stored_high_watermark(engine, schema, "t") == 2
        # The view's columns are the ones it had (as a rebuild recreates it);
        # the materialized view counts the batch's row, as a recreated one.
        assert query(engine, "SELECT pg_get_viewdef(CAST(:v AS regclass))", v=qi(schema, "v")) == views
        assert query(engine, f"SELECT n FROM {qi(schema, 'm')}") == [(3,)]
        assert kept(engine, schema) == before
        # The trigger fired for the batch's row, as in a batch that does not migrate.
        assert query(engine, f"SELECT id FROM {qi(schema, 'audit')}") == [(3,)]
        assert tmp_tables(engine, schema) == []
        lines = info_lines(caplog)
        assert f"Ingesting via ADD COLUMN of note to {schema}.t: no new ingest table" in lines
        assert f'Adding columns: ALTER TABLE "{schema}"."t" ADD COLUMN "note" TEXT' in lines
        assert f'Refreshing materialized view {schema}.m' in lines
        assert "Ingesting via new ingest table" not in lines
        assert len(force.calls) == 2  # the ALTER, the refresh
    finally:
        execute(engine, f"DROP PUBLICATION IF EXISTS {qi(publication)}")


def test_appended_again_changes_nothing(engine: sa.engine.Engine, schema: str) -> None:
    seed(engine, schema)
    new = wide(schema)
    run_ingest(engine, new.metadata, Batches((2, None, rows_of(new, [(3, "c", "n3")]))))
    identity = relation_identity(engine, schema, "t")
    force = RecordingForceExecute()
    run_ingest(engine, new.metadata, Batches((3, None, rows_of(new, [(4, "d", "n4")]))), get_pg_force_execute=force)
    assert relation_identity(engine, schema, "t") == identity
    assert force.calls == []
    assert rows(engine, schema)[-1] == (4, "d", "n4")


class Boom(Exception):
    pass


def fail(_: Any) -> Any:
    raise Boom("the high watermark")


def failing_rows(new: sa.Table) -> Any:
    yield new, (3, "c", "n")
    raise Boom("the rows")


FAILURES: Dict[str, Callable[[sa.Table], Dict[str, Any]]] = {
    # After the ALTER: the staged rows meet an old key, without upsert.
    "duplicate key": lambda new: {"upsert": Upsert.OFF, "batches": Batches((2, None, rows_of(new, [(3, "c", "n"), (1, "x", "n")])))},
    # After the ALTER and the rows: the high watermark's callable raises.
    "high watermark": lambda new: {"batches": Batches((lambda: fail(None), None, rows_of(new, [(3, "c", "n")])))},
    # Before the ALTER: the generator raises within the batch.
    "generator": lambda new: {"batches": lambda hwm: iter([(2, None, failing_rows(new))])},
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_a_failing_batch_leaves_the_table_as_it_was(
    engine: sa.engine.Engine, schema: str, failure: Callable[[sa.Table], Dict[str, Any]]
) -> None:
    seed(engine, schema)
    identity, columns, old_rows = relation_identity(engine, schema, "t"), catalog_columns(engine, schema, "t"), rows(engine, schema)
    new = wide(schema)
    options = failure(new)
    with pytest.raises(Exception) as info, engine.connect() as conn:
        ingest(conn, new.metadata, options.pop("batches"), **options)
    assert isinstance(info.value, (Boom, sa.exc.IntegrityError)) or "duplicate key" in str(info.value), repr(info.value)
    assert relation_identity(engine, schema, "t") == identity
    assert catalog_columns(engine, schema, "t") == columns
    assert rows(engine, schema) == old_rows
    assert stored_high_watermark(engine, schema, "t") == 1
    assert tmp_tables(engine, schema) == []
    run_ingest(engine, new.metadata, Batches((2, None, rows_of(new, [(3, "c", "n")]))))
    assert relation_identity(engine, schema, "t") == identity
    assert rows(engine, schema) == [(1, "a", None), (2, "b", None), (3, "c", "n")]


REBUILDS: Dict[str, Callable[[str], Dict[str, Any]]] = {
    "on_before_visible given": lambda s: {"table": wide(s), "on_before_visible": lambda conn, table, m: None},
    "indexed column": lambda s: {"table": wide(s, index=True)},
    "unique column": lambda s: {"table": wide(s, unique=True)},
    "delete before the first batch": lambda s: {"table": wide(s), "delete": Delete.BEFORE_FIRST_BATCH},
    "column not at the end": lambda s: {"table": sa.Table(
        "t", sa.MetaData(), sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("note", sa.TEXT),
        sa.Column("value", sa.VARCHAR(16)), sa.Index(None, "value"), schema=s)},
}


@pytest.mark.parametrize("case", REBUILDS.values(), ids=REBUILDS.keys())
def test_other_changes_still_rebuild(engine: sa.engine.Engine, schema: str, case: Callable[[str], Dict[str, Any]]) -> None:
    seed(engine, schema)
    identity = relation_identity(engine, schema, "t")
    options = case(schema)
    new = options.pop("table")
    seen: List[str] = []
    callback = options.pop("on_before_visible", None)
    if callback is not None:
        options["on_before_visible"] = lambda conn, table, m: seen.append(ingest_name(table.name))
    values = {"id": 3, "value": "c", "note": "n"}
    run_ingest(engine, new.metadata, Batches((2, None, [(new, tuple(values[c.name] for c in new.columns))])), **options)
    assert relation_identity(engine, schema, "t")[0] != identity[0], "not rebuilt"
    assert [c[0] for c in catalog_columns(engine, schema, "t")] == [c.name for c in new.columns]
    if callback is not None:
        assert seen == ["_tmp_"]  # the new ingest table, as upstream's rebuild
    assert tmp_tables(engine, schema) == []


def test_add_column_waits_for_readers_as_a_swap(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    """A reader in an open transaction holds the table: the ALTER waits in
    bounded waits, so that other readers get through meanwhile, and goes on
    once the reader commits."""
    seed(engine, schema)
    t = qi(schema, "t")
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    new = wide(schema)
    errors: List[BaseException] = []

    def run() -> None:
        try:
            run_ingest(engine, new.metadata, Batches((2, None, rows_of(new, [(3, "c", "n3")]))))
        except BaseException as e:  # noqa: BLE001 -- reported by the test
            errors.append(e)

    with engine.connect() as reader, engine.connect() as other:
        reader.execute(sa.text(f"SELECT count(*) FROM {t}"))  # its transaction stays open
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.3)
        waits = []
        for _ in range(5):
            started = time.monotonic()
            other.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
            other.commit()
            waits.append(time.monotonic() - started)
        assert thread.is_alive(), "the ALTER did not wait for the reader"
        reader.commit()
        thread.join(30)
    assert not thread.is_alive() and errors == []
    print(f"\n[add column] reads while the ALTER waited: longest {max(waits) * 1000:.0f} ms")
    assert max(waits) < 1
    assert f"Waiting for readers of {schema}.t: retrying ADD COLUMN's locks (attempt 2)" in info_lines(caplog)
    assert rows(engine, schema) == [(1, "a", None), (2, "b", None), (3, "c", "n3")]


@pytest.mark.parametrize("count, in_place", [(10_000, True), (10_001, False)])
def test_a_large_first_batch_rebuilds(engine: sa.engine.Engine, schema: str, count: int, in_place: bool, caplog: Any) -> None:
    """More than 10,000 rows would go in under ADD COLUMN's lock: the table
    is rebuilt instead, from the same staged rows."""
    seed(engine, schema)
    identity = relation_identity(engine, schema, "t")
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    new = wide(schema)
    run_ingest(engine, new.metadata, Batches((2, None, rows_of(new, [(i, "v", "n") for i in range(2, 2 + count)]))))
    assert (relation_identity(engine, schema, "t") == identity) is in_place
    lines = info_lines(caplog)
    assert (f"More than 10000 rows for {schema}.t in the batch: too many to add the columns in place, under ADD COLUMN's lock"
            in lines) is not in_place
    assert query(engine, f"SELECT count(*), count(note), min(value) FROM {qi(schema, 't')}") == [(count + 1, count, "a")]
    assert stored_high_watermark(engine, schema, "t") == 2
    assert tmp_tables(engine, schema) == []
