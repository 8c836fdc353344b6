"""Details that an existing job depends on: the comment's exact text, no
need for PL/pgSQL, exception classes, identifier limits, and refusing rows
of a Table that is not the MetaData's."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from pg_bulk_ingest import IngestError
from helpers import Batches, comment, int_table, query, read_rows, rows_of, run_ingest, set_comment



@pytest.mark.parametrize(
    "existing, hwm",
    [
        (None, 3),
        (None, "2015-01-01"),
        (None, {"day": "café 😀", "n": [1, 2.5, None, True]}),
        ('{"owner":"team-x","pg-bulk-ingest":{"x":1,"high-watermark":0},"z":{"a":[1]}}', 7),
        ('{"b": 1, "pg-bulk-ingest": "not an object"}', "x"),
    ],
)
def test_the_comment_is_the_text_json_dumps_writes(
    engine: sa.engine.Engine, schema: str, existing: Any, hwm: Any
) -> None:
    metadata = sa.MetaData()
    t = int_table(metadata, schema)
    if existing is not None:
        run_ingest(engine, metadata, Batches())  # creates the table
        set_comment(engine, schema, "t", existing)
    run_ingest(engine, metadata, Batches((hwm, None, rows_of(t, [(1, "a")]))))

    # What upstream writes: json.dumps of the parsed comment, ours set in place.
    parsed = json.loads(existing) if existing is not None else {}
    if not isinstance(parsed.get("pg-bulk-ingest"), dict):
        parsed["pg-bulk-ingest"] = {}
    parsed["pg-bulk-ingest"]["high-watermark"] = hwm
    assert comment(engine, schema, "t") == json.dumps(parsed)


@pytest.fixture
def database_without_plpgsql(engine: sa.engine.Engine, driver: str) -> Iterator[sa.engine.Engine]:
    """A fresh database from which PL/pgSQL was dropped, as on hardened
    servers."""
    name = f"no_plpgsql_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.ProgrammingError as e:
            pytest.skip(f"cannot create a database on this server: {e}")
    url = engine.url.set(database=name)
    other = sa.create_engine(url, future=True)
    try:
        with other.begin() as conn:
            conn.execute(sa.text("DROP EXTENSION plpgsql"))
        yield other
    finally:
        other.dispose()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))


def test_no_plpgsql_is_needed(database_without_plpgsql: sa.engine.Engine) -> None:
    engine = database_without_plpgsql
    assert query(engine, "SELECT count(*) FROM pg_language WHERE lanname = 'plpgsql'") == [(0,)]
    metadata = sa.MetaData()
    t = int_table(metadata, "s")
    t2 = int_table(metadata, "s", name="t2", extra=[sa.Column("x", sa.INTEGER)])
    run_ingest(engine, metadata, Batches((1, None, rows_of(t, [(1, "a")])), (2, None, rows_of(t2, [(2, "b", 3)]))))
    assert read_rows(engine, t) == [(1, "a")]
    assert read_rows(engine, t2) == [(2, "b", 3)]
    assert comment(engine, "s", "t") == '{"pg-bulk-ingest": {"high-watermark": 2}}'


@pytest.mark.parametrize("text", ["1_000", "1_000.5_5", "0x1F", "0b101", " 12 ", "1e3", "abc", "1__0", "1e999999"])
def test_numeric_text_is_read_as_this_server_reads_it(engine: sa.engine.Engine, schema: str, text: str) -> None:
    """PostgreSQL 16 reads 1_000 and 0x1F as numbers, 15 refuses them:
    the stored value, or the driver's exception, is the server's own."""
    metadata = sa.MetaData()
    t = sa.Table("t", metadata, sa.Column("x", sa.NUMERIC), schema=schema)
    with engine.connect() as conn:
        try:
            expected: Any = conn.execute(sa.text("SELECT CAST(:v AS numeric)::text"), {"v": text}).scalar()
        except sa.exc.DBAPIError as e:
            expected = type(e.orig)
    run_ingest(engine, metadata, Batches((0, None, [])))
    try:
        run_ingest(engine, metadata, Batches((1, None, rows_of(t, [("1",), (text,)]))))
    except Exception as e:  # noqa: BLE001 - compared with the server's below
        assert type(e) is expected, f"{text!r}: {type(e)} raised, the server raises {expected}"
        assert query(engine, f'SELECT count(*) FROM "{schema}".t') == [(0,)]
        assert "row 1" in "".join(getattr(e, "__notes__", [])) or not hasattr(e, "add_note")
    else:
        assert query(engine, f'SELECT x::text FROM "{schema}".t ORDER BY x') == sorted(
            [("1",), (expected,)], key=lambda r: float(r[0])
        )


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "column_type, value, upstream_class",
    [
        (sa.INTEGER, "not-an-int", ValueError),  # int('not-an-int')
        (sa.BIGINT, float("nan"), ValueError),  # int(nan)
        (sa.INTEGER, float("inf"), OverflowError),  # int(inf)
        (sa.INTEGER, [1], TypeError),  # int([1])
        (postgresql.JSONB, {1, 2}, TypeError),  # json.dumps of a set
        (postgresql.JSON, _nested(10_000), RecursionError),  # json.dumps, too deep
        (postgresql.BYTEA, "text", AttributeError),  # 'text'.hex()
    ],
)
def test_a_bad_value_raises_what_upstream_raises_too(
    engine: sa.engine.Engine, schema: str, column_type: Any, value: Any, upstream_class: type
) -> None:
    metadata = sa.MetaData()
    t = sa.Table("t", metadata, sa.Column("id", sa.INTEGER), sa.Column("x", column_type), schema=schema)
    run_ingest(engine, metadata, Batches((1, None, rows_of(t, [(1, None)]))))
    with pytest.raises(upstream_class) as caught:
        run_ingest(engine, metadata, Batches((2, None, rows_of(t, [(2, None), (3, value)]))))
    assert isinstance(caught.value, IngestError)
    message = str(caught.value)
    for part in ("batch 1", f"{schema}.t", "'x'", "row 1"):
        assert part in message, f"{part!r} not in {message!r}"
    assert len(message) < 1000
    assert query(engine, f'SELECT id FROM "{schema}".t') == [(1,)]
    assert json.loads(comment(engine, schema, "t") or "")["pg-bulk-ingest"]["high-watermark"] == 1


@pytest.mark.parametrize("where", ["table", "column"])
def test_a_name_longer_than_63_bytes_is_refused_before_any_sql(
    engine: sa.engine.Engine, schema: str, where: str
) -> None:
    long = "é" * 32  # 64 bytes in UTF-8, 32 characters
    metadata = sa.MetaData()
    sa.Table(
        long if where == "table" else "t",
        metadata,
        sa.Column("id", sa.INTEGER),
        sa.Column(long if where == "column" else "c", sa.INTEGER),
        schema=schema,
    )
    with pytest.raises(ValueError, match=f"{where} name \"{long}\" is 64 bytes long in UTF-8: PostgreSQL's limit is 63"):
        run_ingest(engine, metadata, Batches((1, None, [])))
    assert query(engine, "SELECT count(*) FROM pg_namespace WHERE nspname = :s", s=schema) == [(0,)]


@pytest.mark.parametrize("how", ["to_metadata", "another MetaData", "arrow item"])
def test_rows_of_a_namesake_table_object_are_refused(engine: sa.engine.Engine, schema: str, how: str) -> None:
    """Upstream skips them silently: the rows are lost while the high
    watermark moves on."""
    metadata = sa.MetaData()
    t = int_table(metadata, schema)
    other = t.to_metadata(sa.MetaData()) if how == "to_metadata" else int_table(sa.MetaData(), schema)
    rows: Any = [(other, (2, "b"))]
    if how == "arrow item":
        import pyarrow as pa

        rows = [(other, pa.table({"id": [2], "value": ["b"]}))]
    run_ingest(engine, metadata, Batches((1, None, rows_of(t, [(1, "a")]))))
    with pytest.raises(ValueError, match=r"batch 1: rows of <Table .*\.t> \(id 0x[0-9a-f]+\) are for a Table object"):
        run_ingest(engine, metadata, Batches((2, None, rows_of(t, [(3, "c")]) + rows)))
    assert query(engine, f'SELECT id FROM "{schema}".t') == [(1,)]
    assert json.loads(comment(engine, schema, "t") or "")["pg-bulk-ingest"]["high-watermark"] == 1


def test_rows_of_a_table_not_in_the_metadata_are_skipped_as_upstream(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    t = int_table(metadata, schema)
    elsewhere = int_table(sa.MetaData(), schema, name="elsewhere")
    run_ingest(engine, metadata, Batches((1, None, rows_of(t, [(1, "a")]) + rows_of(elsewhere, [(2, "b")]))))
    assert query(engine, f'SELECT id FROM "{schema}".t') == [(1,)]
