"""No identifier or value is ever spliced into SQL unquoted, and no
connection string or password reaches a log line or an exception."""

from __future__ import annotations

import datetime
import logging
import re
import traceback
import uuid
from typing import Any, Iterator, List, Tuple

import pgcluster
import pytest
import sqlalchemy as sa
from conftest import SQLALCHEMY_2
from helpers import (
    TMP_NAME,
    Batches,
    catalog_columns,
    connection_works,
    execute,
    index_definitions,
    index_names,
    primary_key,
    qi,
    query,
    read_rows,
    rows_of,
    run_ingest,
    stored_high_watermark,
    tmp_tables,
)

from pg_bulk_ingest import HighWatermark, IngestError, Upsert, ingest

# Everything that could end a quoted identifier or literal, start a
# parameter (%s for psycopg, $1 for the server, $pbi$ for a dollar quote),
# a comment or a second statement; case, dots and emoji. Each under 63
# bytes, so that the server keeps it whole.
SCHEMA = 'S "sch\'.%s$1 \\;--😀'
TABLE = 'T"ab\'le.%s$1 \\;--😀$pbi$'
PK = 'i"d\'%s'
COLUMNS = [
    'va"l\'ue', "%s %(x)s %%", "$1 $2", "back\\slash\\", "semi;colon -- x", "emoji😀 ñ", "E'\\x'", "UPPER Case",
]
NEW_COLUMN = 'new"; DROP TABLE x; --'
VIEW = 'v "\'%s$1 \\;--😀'


@pytest.fixture
def odd_schema(engine: sa.engine.Engine) -> Iterator[str]:
    name = SCHEMA + uuid.uuid4().hex[:8]
    yield name
    execute(engine, f"DROP SCHEMA IF EXISTS {qi(name)} CASCADE")


def odd_table(schema: str, new_column: bool) -> sa.Table:
    return sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column(PK, sa.INTEGER, primary_key=True),
        sa.Column(COLUMNS[0], sa.VARCHAR(64)),
        *(sa.Column(c, sa.TEXT) for c in COLUMNS[1:]),
        *([sa.Column(NEW_COLUMN, sa.INTEGER)] if new_column else []),
        sa.Index('ix "\'%s$1;--😀', COLUMNS[0], COLUMNS[1]),
        sa.Index(None, COLUMNS[5], unique=True),
        sa.Index(None, COLUMNS[2], postgresql_include=[COLUMNS[4]]),
        schema=schema,
    )


def odd_row(key: int, tag: str, new: Any = ()) -> Tuple[Any, ...]:
    return (key, *(f"{tag}{key}-{c}" for c in COLUMNS), *new)


def view_definition(engine: sa.engine.Engine, schema: str, name: str) -> str:
    sql = "SELECT pg_get_viewdef(format('%I.%I', :s ::text, :n ::text)::regclass)"
    return query(engine, sql, s=schema, n=name)[0][0]


def test_odd_identifiers_through_create_migration_and_upsert(
    engine: sa.engine.Engine, odd_schema: str, caplog: Any
) -> None:
    schema = odd_schema
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    first = odd_table(schema, new_column=False)
    # A new table with a primary key: created, then rebuilt by its first batch.
    run_ingest(engine, first.metadata, Batches(("hwm-1", "b1", rows_of(first, [odd_row(k, "a") for k in (1, 2, 3)]))))
    t = qi(schema, TABLE)
    execute(
        engine,
        f"CREATE TABLE {qi(schema, 'x')} (n integer)",
        f"INSERT INTO {qi(schema, 'x')} VALUES (1)",
        f"CREATE VIEW {qi(schema, VIEW)} AS SELECT {qi(PK)}, {qi(COLUMNS[0])}, {qi(COLUMNS[4])} FROM {t} "
        f"WHERE {qi(COLUMNS[6])} <> 'it''s; --'",
    )
    definition = view_definition(engine, schema, VIEW)
    indexes = index_definitions(engine, schema, TABLE)
    assert len(indexes) == 4  # the key's and the three sa.Index

    # Batch 1 adds a column (a migration: the batch goes into a new table
    # with the old rows, upserting key 1); batch 2 upserts into the live table.
    second = odd_table(schema, new_column=True)
    run_ingest(
        engine,
        second.metadata,
        Batches(
            ("hwm-2", "b2 %s $1", rows_of(second, [odd_row(1, "b", (10,)), odd_row(4, "b", (40,))])),
            ("hwm-3", "b3 %(x)s", rows_of(second, [odd_row(2, "c", (20,)), odd_row(5, "c", (50,))])),
        ),
    )

    assert [c[0] for c in catalog_columns(engine, schema, TABLE)] == [PK, *COLUMNS, NEW_COLUMN]
    assert primary_key(engine, schema, TABLE) == [PK]
    assert index_definitions(engine, schema, TABLE) == indexes
    assert all(re.match(TMP_NAME, n) for n in index_names(engine, schema, TABLE))
    assert read_rows(engine, second, order_by=[PK]) == [
        odd_row(1, "b", (10,)),
        odd_row(2, "c", (20,)),
        odd_row(3, "a", (None,)),
        odd_row(4, "b", (40,)),
        odd_row(5, "c", (50,)),
    ]
    assert view_definition(engine, schema, VIEW) == definition
    assert query(engine, f"SELECT {qi(PK)} FROM {qi(schema, VIEW)} ORDER BY 1") == [(k,) for k in (1, 2, 3, 4, 5)]
    assert query(engine, f"SELECT n FROM {qi(schema, 'x')}") == [(1,)]
    assert stored_high_watermark(engine, schema, TABLE) == "hwm-3"
    assert tmp_tables(engine, schema) == []
    # Every log line formats (a name holding %s is an argument, not part
    # of the format) and names the table as it is.
    lines = [r.getMessage() for r in caplog.records if r.name == "pg_bulk_ingest"]
    assert f"Creating target table {schema}.{TABLE} if it doesn't already exist" in lines
    assert "Ingesting batch b2 %s $1 with high watermark value hwm-2" in lines


# --- values ------------------------------------------------------------------------

SENTINEL = "sentinel"


def nasty_values(schema: str) -> List[str]:
    """Text that would do harm if spliced into SQL or COPY data."""
    return [
        f"'); DROP TABLE {qi(schema, SENTINEL)}; --",
        f"\"); DROP TABLE {qi(schema, SENTINEL)}; --",
        "%s", "%(x)s", "%%", "%", "$1", "$pbi$", "$$ $$", ":name",
        "\\", "\\\\", "\\N", "\\.", "\\.\n", "\\x41", "E'\\''", "\\\t\\n",
        "tab\tnew\nline\rcr",
        "".join(map(chr, range(1, 32))) + "\x7f",
        '"quoted"', "{a,b}", "{\"a\"}", "NULL", "null", "", " ", "a,b", "(1,2)",
        "ñ€😀 \u2028 \ufeff",
    ]


@pytest.mark.parametrize("copy_format", ["binary", "text"])
@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_values_are_never_spliced_into_sql(
    engine: sa.engine.Engine, schema: str, copy_format: str, upsert: str
) -> None:
    """TEXT, VARCHAR, JSONB and TEXT[] values round-trip exactly, through
    binary COPY and text COPY (a str for the DATE column makes the chunk
    text), into a new table, then into the live one (upserting the same
    keys, or appending), and nothing else happens."""
    values = nasty_values(schema)
    execute(engine, f"CREATE SCHEMA {qi(schema)}", f"CREATE TABLE {qi(schema, SENTINEL)} (n integer)",
            f"INSERT INTO {qi(schema, SENTINEL)} VALUES (1)")
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("n", sa.INTEGER),
        sa.Column("t", sa.TEXT),
        sa.Column("v", sa.VARCHAR(100)),
        sa.Column("j", sa.dialects.postgresql.JSONB),
        sa.Column("a", sa.ARRAY(sa.TEXT)),
        sa.Column("d", sa.DATE),
        schema=schema,
    )
    day = datetime.date(2024, 1, 2) if copy_format == "binary" else "2024-01-02"

    def row(key: int, n: int, v: str) -> Tuple[Any, ...]:
        return (key, n, v, v, {"k": v, v: [v, None]}, [v, None, v], day)

    first = [row(k, 1, v) for k, v in enumerate(values)]
    second = [row(k if upsert == Upsert.IF_PRIMARY_KEY else k + 1000, 2, v) for k, v in enumerate(reversed(values))]
    batches = Batches(("hwm-1", None, rows_of(table, first)), ("hwm-2", None, rows_of(table, second)))
    run_ingest(engine, table.metadata, batches, upsert=upsert)

    kept = second if upsert == Upsert.IF_PRIMARY_KEY else first + second
    expected = [(*r[:6], datetime.date(2024, 1, 2)) for r in kept]
    assert read_rows(engine, table, order_by=["id"]) == expected
    # The text as stored, byte for byte, with no driver conversion between.
    assert query(engine, f"SELECT t FROM {qi(schema, 't')} WHERE n = 2 ORDER BY id") == [(v,) for v in reversed(values)]
    assert query(engine, f"SELECT n FROM {qi(schema, SENTINEL)}") == [(1,)]
    tables = "SELECT relname::text FROM pg_class WHERE relnamespace = to_regnamespace(:s ::text) AND relkind = 'r'"
    assert query(engine, tables + " ORDER BY 1", s=schema) == [(SENTINEL,), ("t",)]


NASTY_HIGH_WATERMARKS = {
    "string": "2024-01-02'); DROP TABLE x; -- %s %(x)s $1 $pbi$ \\ \\N \" ñ€😀",
    "object": {
        "at": "2024-01-02T03:04:05+00:00",
        "quote'\"key": "'); DROP TABLE x; --",
        "%s": ["$1", "\\", "\\N", "\n\t", None, True, False, 0, -1, 2.5, 10**30],
        "nested": {"deep": [{"$pbi$": "ñ€😀"}, []], "empty": {}},
    },
}


@pytest.mark.parametrize("kind", list(NASTY_HIGH_WATERMARKS))
def test_high_watermark_is_stored_and_given_back_exactly(engine: sa.engine.Engine, schema: str, kind: str) -> None:
    hwm = NASTY_HIGH_WATERMARKS[kind]
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER), schema=schema)
    run_ingest(engine, table.metadata, Batches((hwm, "'); --", rows_of(table, [(1,)]))))
    assert stored_high_watermark(engine, schema, "t") == hwm
    batches = Batches(("next", None, rows_of(table, [(2,)])))
    run_ingest(engine, table.metadata, batches, high_watermark=HighWatermark.LATEST)
    assert batches.calls == [hwm]
    assert read_rows(engine, table) == [(1,), (2,)]


# --- connection strings and passwords --------------------------------------------

PASSWORD = "S3cr3t-pa55"


@pytest.fixture
def secret_url(engine: sa.engine.Engine, database_url: str, driver: str) -> Iterator[str]:
    """The URL, password included, of a new role that may create schemas;
    the role is dropped afterwards. The server trusts local connections, so
    the password is not checked, but it is in the URL."""
    role = f"pbi_secret_{uuid.uuid4().hex[:10]}"
    database = query(engine, "SELECT current_database()")[0][0]
    execute(
        engine,
        f"CREATE ROLE {qi(role)} LOGIN PASSWORD '{PASSWORD}'",
        f"GRANT CREATE ON DATABASE {qi(database)} TO {qi(role)}",
    )
    url = sa.engine.make_url(pgcluster.with_driver(database_url, driver)).set(username=role, password=PASSWORD)
    yield url.render_as_string(hide_password=False)
    execute(
        engine,
        f"REASSIGN OWNED BY {qi(role)} TO CURRENT_USER",
        f"DROP OWNED BY {qi(role)}",
        f"DROP ROLE {qi(role)}",
    )


def test_no_password_or_url_in_logs_or_exceptions(secret_url: str, schema: str, caplog: Any) -> None:
    assert PASSWORD in secret_url
    # Every record: ours, SQLAlchemy's statements and pool, the drivers'.
    for name in (None, "pg_bulk_ingest", "sqlalchemy", "psycopg", "psycopg2"):
        caplog.set_level(logging.DEBUG, logger=name)
    engine = sa.create_engine(secret_url, **({} if SQLALCHEMY_2 else {"future": True}))
    raised: List[BaseException] = []
    try:
        v1 = sa.Table(
            "t", sa.MetaData(), sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("a", sa.TEXT), schema=schema
        )
        v2 = sa.Table(
            "t", sa.MetaData(), sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("a", sa.TEXT),
            sa.Column("b", sa.INTEGER), schema=schema,
        )
        run_ingest(engine, v1.metadata, Batches(("hwm-1", None, rows_of(v1, [(1, "a")]))))  # created, then rebuilt
        run_ingest(engine, v2.metadata, Batches(("hwm-2", None, rows_of(v2, [(2, "b", 2)]))))  # a migration
        failing = [
            ({}, [(3, "c", "not a number")]),  # refused here: IngestError
            ({"upsert": Upsert.OFF}, [(2, "b", 2)]),  # refused by the server: UniqueViolation
        ]
        for kwargs, rows in failing:
            with engine.connect() as conn:
                with pytest.raises(Exception) as info:
                    ingest(conn, v2.metadata, Batches(("hwm-3", None, rows_of(v2, rows))), **kwargs)
                assert connection_works(conn)
            raised.append(info.value)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            with pytest.raises(sa.exc.InvalidRequestError) as info:
                ingest(conn, v2.metadata, Batches())
            raised.append(info.value)
        assert read_rows(engine, v2) == [(1, "a", None), (2, "b", 2)]
    finally:
        engine.dispose()

    assert isinstance(raised[0], IngestError)
    assert type(raised[1]).__name__ == "UniqueViolation"
    assert {r.name for r in caplog.records} >= {"pg_bulk_ingest", "sqlalchemy.engine.Engine"}
    secrets = (PASSWORD, secret_url, secret_url.split("://", 1)[1])
    for secret in secrets:
        assert secret not in caplog.text
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for secret in secrets:
            assert secret not in text, (record.name, text)
    for error in raised:
        shown = "".join(traceback.format_exception(type(error), error, error.__traceback__)) + repr(error)
        for secret in secrets:
            assert secret not in shown, shown
