"""The postgresql+pgarrow dialect (ADBC underneath): an ingest there makes
the same tables as under psycopg, exact NUMERIC and polars strings
included, in the connection's transaction."""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import uuid
from typing import Any, Callable, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from helpers import Batches, catalog_columns, execute, query, rows_of, run_ingest, stored_high_watermark

import pgcluster

if importlib.util.find_spec("pgarrow") is None or importlib.util.find_spec("psycopg") is None:
    pytest.skip(
        "pgarrow (Python >= 3.10, SQLAlchemy >= 2) or psycopg is not installed in this environment",
        allow_module_level=True,
    )

pl = pytest.importorskip("polars")

D = decimal.Decimal
UTC = datetime.timezone.utc


@pytest.fixture
def engines(database_url: str) -> Iterator[Tuple[sa.engine.Engine, sa.engine.Engine]]:
    """pgarrow's engine, and psycopg's to compare with and to read through."""
    arrow = sa.create_engine(pgcluster.with_driver(database_url, "pgarrow"))
    psycopg = sa.create_engine(pgcluster.with_driver(database_url, "psycopg"))
    yield arrow, psycopg
    arrow.dispose()
    psycopg.dispose()


@pytest.fixture
def schemas(engines: Tuple[sa.engine.Engine, sa.engine.Engine]) -> Iterator[Tuple[str, str]]:
    """A schema for pgarrow's ingest and one for psycopg's, dropped afterwards."""
    names = (f"test_{uuid.uuid4().hex[:12]}", f"test_{uuid.uuid4().hex[:12]}")
    yield names
    execute(engines[1], *(f'DROP SCHEMA IF EXISTS "{n}" CASCADE' for n in names))


def wide_table(metadata: sa.MetaData, schema: str, extra: Tuple[sa.Column, ...] = ()) -> sa.Table:
    return sa.Table(
        "t",
        metadata,
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("big", sa.BIGINT),
        sa.Column("n38", sa.NUMERIC(38, 10)),
        sa.Column("n", sa.NUMERIC),
        sa.Column("txt", sa.TEXT),
        sa.Column("js", sa.dialects.postgresql.JSONB),
        sa.Column("ints", sa.ARRAY(sa.INTEGER)),
        sa.Column("texts", sa.ARRAY(sa.TEXT)),
        sa.Column("bin", sa.dialects.postgresql.BYTEA),
        sa.Column("ts", sa.TIMESTAMP(timezone=True)),
        sa.Column("d", sa.DATE),
        sa.Column("u", sa.dialects.postgresql.UUID(as_uuid=True)),
        sa.Column("flag", sa.BOOLEAN),
        *extra,
        schema=schema,
    )


ROWS = [
    (1, 2**62, D("12345678901234567890.123456789"), D("0.1"), "plain", {"a": [1, "x"], "b": None}, [1, None, 3],
     ["a b", 'q"uote', "back\\slash", "tab\tnew\nline"], b"\x00\xff\\", datetime.datetime(2024, 2, 29, 23, 59, 59,
     999999, tzinfo=UTC), datetime.date(1, 1, 1), uuid.UUID("12345678-1234-5678-1234-567812345678"), True),
    (2, -1, D("-0.0000000001"), D("12345678901234567890.123456789"), "", [], [], [], b"", datetime.datetime(
     1970, 1, 1, tzinfo=UTC), datetime.date(9999, 12, 31), uuid.uuid4(), False),
    (3, None, None, None, None, None, None, None, None, None, None, None, None),
]


def polars_rows(table: sa.Table) -> Any:
    """Rows whose NUMERIC and TEXT come as polars strings (string views in
    Arrow), the other columns null."""
    given = {
        "id": pl.Series([10, 11, 12], dtype=pl.Int32),
        "n38": pl.Series(["1.5", None, "99999999999999999999999999.9999999999"], dtype=pl.String),
        "n": pl.Series(["12345678901234567890.123456789", "0.1", None], dtype=pl.String),
        "txt": pl.Series(["polars ✓", None, "a\\b\tc\nd"], dtype=pl.String),
    }
    return pl.DataFrame({c.name: given.get(c.name, pl.Series([None] * 3)) for c in table.columns})


def run_both(
    engines: Tuple[sa.engine.Engine, sa.engine.Engine],
    schemas: Tuple[str, str],
    make: Callable[[sa.MetaData, str], Any],
    **kwargs: Any,
) -> List[Tuple[sa.MetaData, Any]]:
    """Runs make's ingest under pgarrow and under psycopg, each in its
    schema; make(metadata, schema) returns ingest's batches."""
    made = []
    for engine, schema in zip(engines, schemas):
        metadata = sa.MetaData()
        batches = make(metadata, schema)
        run_ingest(engine, metadata, batches, **kwargs)
        made.append((metadata, batches))
    return made


def contents(engine: sa.engine.Engine, schema: str, name: str = "t") -> List[Tuple[Any, ...]]:
    """Every row of schema.name as the server writes it, in order of id."""
    return query(engine, f'SELECT t::text FROM "{schema}"."{name}" t ORDER BY id')


def assert_same(engines: Tuple[sa.engine.Engine, sa.engine.Engine], schemas: Tuple[str, str]) -> None:
    reader = engines[1]
    assert catalog_columns(reader, schemas[0], "t") == catalog_columns(reader, schemas[1], "t")
    assert contents(reader, schemas[0]) == contents(reader, schemas[1])
    assert query(reader, f"SELECT obj_description('\"{schemas[0]}\".t'::regclass)") == query(
        reader, f"SELECT obj_description('\"{schemas[1]}\".t'::regclass)"
    )


def test_same_tables_and_values_as_psycopg(engines: Any, schemas: Any) -> None:
    def make(metadata: sa.MetaData, schema: str) -> Any:
        table = wide_table(metadata, schema)
        return Batches((1, "one", rows_of(table, ROWS)), (2, "two", [(table, polars_rows(table))]))

    run_both(engines, schemas, make)
    assert_same(engines, schemas)
    reader = engines[1]
    exact = query(reader, f'SELECT id, n38::text, n::text, txt FROM "{schemas[0]}".t WHERE id IN (1, 10, 11) ORDER BY id')
    assert exact == [
        (1, "12345678901234567890.1234567890", "0.1", "plain"),
        (10, "1.5000000000", "12345678901234567890.123456789", "polars ✓"),
        (11, None, "0.1", None),
    ]
    assert stored_high_watermark(reader, schemas[0], "t") == 2


def test_upsert(engines: Any, schemas: Any) -> None:
    def make(metadata: sa.MetaData, schema: str) -> Any:
        table = wide_table(metadata, schema)
        changed = [(1, 5) + ROWS[0][2:], (4,) + ROWS[1][1:]]
        # A key twice in a batch: the last row wins.
        twice = [(2,) + ROWS[2][1:], (2,) + ROWS[0][1:]]
        return Batches((1, 1, rows_of(table, ROWS)), (2, 2, rows_of(table, changed + twice)))

    run_both(engines, schemas, make)
    assert_same(engines, schemas)
    assert [r[0][:4] for r in contents(engines[1], schemas[0])] == ["(1,5", "(2,4", "(3,,", "(4,-"]


def test_migration_adds_a_column(engines: Any, schemas: Any) -> None:
    for version in (1, 2):
        def make(metadata: sa.MetaData, schema: str) -> Any:
            extra = (sa.Column("added", sa.NUMERIC(20, 5)),) if version == 2 else ()
            table = wide_table(metadata, schema, extra)
            rows = ROWS if version == 1 else [(5,) + ROWS[0][1:] + (D("123456789012345.12345"),)]
            return Batches((version, version, rows_of(table, rows)))

        run_both(engines, schemas, make)
    assert_same(engines, schemas)
    assert ("added", "numeric(20,5)", True) in catalog_columns(engines[1], schemas[0], "t")
    assert query(engines[1], f'SELECT added::text FROM "{schemas[0]}".t WHERE id = 5') == [("123456789012345.12345",)]


def test_failure_mid_batch_rolls_back_its_sql_and_rows_and_keeps_earlier_batches(engines: Any, schemas: Any) -> None:
    arrow, reader = engines
    schema = schemas[0]
    metadata = sa.MetaData()
    table = wide_table(metadata, schema)
    run_ingest(arrow, metadata, Batches((1, 1, rows_of(table, ROWS))))

    # A migration (SQL) and rows, then the batches' iterator fails.
    metadata = sa.MetaData()
    table = wide_table(metadata, schema, (sa.Column("added", sa.TEXT),))

    def failing(_: Any) -> Iterator[Any]:
        yield 2, 2, iter([(table, (7,) + ROWS[0][1:] + ("x",)), (table, (8,) + ROWS[1][1:] + ("y",))])

        def rows() -> Iterator[Any]:
            yield table, (9,) + ROWS[2][1:] + ("z",)
            raise RuntimeError("failed mid-batch")

        yield 3, 3, rows()

    with pytest.raises(RuntimeError, match="failed mid-batch"):
        run_ingest(arrow, metadata, failing)
    # Batch 2 committed; batch 3's rows went nowhere.
    assert [r[0].split(",")[0] for r in contents(reader, schema)] == ["(1", "(2", "(3", "(7", "(8"]
    assert stored_high_watermark(reader, schema, "t") == 2
    committed = contents(reader, schema)

    # The server refuses a value while it casts a batch's text: its
    # migration and rows roll back.
    metadata = sa.MetaData()
    table = wide_table(metadata, schema, (sa.Column("added", sa.TEXT), sa.Column("again", sa.INTEGER)))
    overflow = (20,) + ROWS[0][1:2] + (D("1e30"),) + ROWS[0][3:] + ("a", 1)
    with pytest.raises(Exception, match="numeric field overflow"):
        run_ingest(arrow, metadata, Batches((4, 4, rows_of(table, [(19,) + ROWS[2][1:] + ("a", 1), overflow]))))
    assert "again" not in [c[0] for c in catalog_columns(reader, schema, "t")]
    assert contents(reader, schema) == committed
    assert stored_high_watermark(reader, schema, "t") == 2


def test_on_before_visible_sees_the_batch_in_its_transaction(engines: Any, schemas: Any) -> None:
    arrow, reader = engines
    schema = schemas[0]
    metadata = sa.MetaData()
    table = wide_table(metadata, schema)
    seen: List[Any] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        inside = conn.execute(sa.text(f'SELECT count(*) FROM "{schema}"."{ingest_table.name}"')).scalar()
        outside = query(reader, f'SELECT count(*) FROM "{schema}".t')[0][0] if batch_metadata == "b" else None
        seen.append((batch_metadata, inside, outside))

    batches = Batches((1, "a", rows_of(table, ROWS)), (2, "b", rows_of(table, [(4,) + ROWS[0][1:]])))
    run_ingest(arrow, metadata, batches, on_before_visible=on_before_visible)
    # Another session does not see batch 2's row yet.
    assert seen == [("a", 3, None), ("b", 4, 3)]


def test_high_watermark(engines: Any, schemas: Any) -> None:
    arrow, reader = engines
    schema = schemas[0]
    metadata = sa.MetaData()
    table = wide_table(metadata, schema)
    run_ingest(arrow, metadata, Batches(({"at": "2024-01-01", "n": 1}, 1, rows_of(table, ROWS[:1]))))
    again = Batches(({"at": "2024-01-02", "n": 2}, 2, rows_of(table, ROWS[1:])))
    run_ingest(arrow, metadata, again)
    assert again.calls == [{"at": "2024-01-01", "n": 1}]
    assert stored_high_watermark(reader, schema, "t") == {"at": "2024-01-02", "n": 2}
    assert len(contents(reader, schema)) == 3


def test_psycopg_sql_rows_run_in_order_among_tuple_rows(engines: Any, schemas: Any) -> None:
    """As upstream under pgarrow: a row may be a psycopg 3 sql.SQL or
    Composed; it is inserted where it stands, so under upsert the last row
    of a key wins whichever way it came."""
    from psycopg import sql

    arrow, reader = engines
    schema = schemas[0]
    metadata = sa.MetaData()
    table = sa.Table("kv", metadata, sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("v", sa.TEXT),
                     schema=schema)
    items = [
        (table, (1, "tuple first")),
        (table, sql.SQL("VALUES ({}, {}), (2, 'plain SQL')").format(sql.Literal(1), sql.Literal("it's SQL, 50%"))),
        (table, (2, "tuple last")),
        (table, sql.SQL("SELECT 3, 'select'")),
    ]
    run_ingest(arrow, metadata, Batches((1, 1, iter(items))))
    assert query(reader, f'SELECT id, v FROM "{schema}".kv ORDER BY id') == [
        (1, "it's SQL, 50%"), (2, "tuple last"), (3, "select")]
