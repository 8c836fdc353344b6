"""Bad input: a connection, metadata or batches of the wrong shape, a high
watermark that is not JSON, on_before_visible failing in a rebuild. Each
raises a clear error naming what was given and what is expected; nothing
of the failing batch is visible, earlier batches and the stored high
watermark stay, and the connection stays usable."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any, Iterator, List

import pytest
import sqlalchemy as sa
from conftest import SQLALCHEMY_2
from helpers import (
    Batches,
    comment,
    connection_works,
    ingest_name,
    primary_key,
    query,
    read_rows,
    rows_of,
    run_ingest,
    schema_exists,
    stored_high_watermark,
    table_exists,
    tmp_tables,
)

from pg_bulk_ingest import Delete, IngestError, ingest


class Boom(Exception):
    pass


def make_table(schema: str, metadata: Any = None) -> sa.Table:
    return sa.Table(
        "t",
        metadata if metadata is not None else sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        schema=schema,
    )


def seed(engine: sa.engine.Engine, table: sa.Table) -> None:
    """Two committed batches: ids 1-3, high watermark "hwm-2"."""
    run_ingest(
        engine,
        table.metadata,
        Batches(("hwm-1", None, rows_of(table, [(1, "a"), (2, "b")])), ("hwm-2", None, rows_of(table, [(3, "c")]))),
    )


def assert_seeded(engine: sa.engine.Engine, table: sa.Table) -> None:
    assert read_rows(engine, table, order_by=["id"]) == [(1, "a"), (2, "b"), (3, "c")]
    assert stored_high_watermark(engine, table.schema, table.name) == "hwm-2"
    assert tmp_tables(engine, table.schema) == []


def third_batch_fails(engine: sa.engine.Engine, table: sa.Table, third: Any, **kwargs: Any) -> BaseException:
    """Seeds the table, then ingests again: a good batch (id 4), then
    `third` as the next item of batches. Returns the exception raised,
    having checked that the connection works afterwards."""
    seed(engine, table)

    def batches(high_watermark: Any) -> Iterator[Any]:
        assert high_watermark == "hwm-2"
        yield "hwm-3", None, rows_of(table, [(4, "d")])
        yield third

    with engine.connect() as conn:
        with pytest.raises(Exception) as info:
            ingest(conn, table.metadata, batches, **kwargs)
        assert connection_works(conn)
    assert read_rows(engine, table, order_by=["id"]) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert stored_high_watermark(engine, table.schema, "t") == "hwm-3"
    assert tmp_tables(engine, table.schema) == []
    return info.value


# --- the connection --------------------------------------------------------


@pytest.mark.parametrize("how", ["conn.begin()", "autobegin"])
def test_conn_in_a_transaction_is_refused_before_any_sql(engine: sa.engine.Engine, schema: str, how: str) -> None:
    """Upstream's own conn.begin() fails here with SQLAlchemy's message; the
    same exception class, with a message that says what to do."""
    table = make_table(schema)
    seed(engine, table)
    batches = Batches(("hwm-3", None, rows_of(table, [(4, "d")])))
    with engine.connect() as conn:
        trans = conn.begin() if how == "conn.begin()" else None
        conn.execute(sa.text("CREATE TEMPORARY TABLE mine (x integer)"))
        conn.execute(sa.text("INSERT INTO mine VALUES (1)"))
        with pytest.raises(sa.exc.InvalidRequestError) as info:
            ingest(conn, table.metadata, batches)
        message = str(info.value)
        assert "conn is in a transaction" in message
        assert "pass a connection with no transaction begun" in message
        # The user's transaction is theirs still, open and intact.
        assert conn.in_transaction()
        assert conn.execute(sa.text("SELECT x FROM mine")).scalar() == 1
        if trans is not None:
            trans.commit()
        else:
            conn.commit()
        assert connection_works(conn)
    assert batches.calls == []
    assert_seeded(engine, table)


def test_a_driver_other_than_psycopg_is_refused_before_any_sql(schema: str) -> None:
    table = make_table(schema)
    engine = sa.create_engine("sqlite://", **({} if SQLALCHEMY_2 else {"future": True}))
    batches = Batches(("hwm", None, rows_of(table, [(1, "a")])))
    with engine.connect() as conn:
        with pytest.raises(ValueError) as info:
            ingest(conn, table.metadata, batches)
        assert not conn.in_transaction()
        assert conn.execute(sa.text("SELECT count(*) FROM sqlite_master")).scalar() == 0
    message = str(info.value)
    assert "'pysqlite'" in message
    assert "postgresql+psycopg2://" in message and "postgresql+psycopg://" in message
    assert batches.calls == []


@pytest.mark.parametrize("what", ["engine", "driver connection"])
def test_conn_that_is_not_a_sqlalchemy_connection_is_refused(engine: sa.engine.Engine, schema: str, what: str) -> None:
    table = make_table(schema)
    batches = Batches(("hwm", None, rows_of(table, [(1, "a")])))
    with engine.connect() as conn:
        given = engine if what == "engine" else conn.connection.driver_connection
        with pytest.raises(TypeError) as info:
            ingest(given, table.metadata, batches)
        assert connection_works(conn)
    assert "conn must be a SQLAlchemy Connection" in str(info.value)
    assert type(given).__qualname__ in str(info.value)
    assert batches.calls == []
    assert not schema_exists(engine, schema)


@pytest.mark.skipif(SQLALCHEMY_2, reason="SQLAlchemy 2 has no legacy Connection")
def test_a_sqlalchemy_14_legacy_connection_is_refused(database_url: str, driver: str, schema: str) -> None:
    import pgcluster

    legacy = sa.create_engine(pgcluster.with_driver(database_url, driver))  # no future=True
    table = make_table(schema)
    try:
        with legacy.connect() as conn:
            with pytest.raises(TypeError, match="future=True"):
                ingest(conn, table.metadata, Batches(("hwm", None, rows_of(table, [(1, "a")]))))
    finally:
        legacy.dispose()


# --- the metadata and batches arguments -------------------------------------


def test_metadata_without_tables(engine: sa.engine.Engine) -> None:
    batches = Batches()
    with engine.connect() as conn:
        with pytest.raises(ValueError, match="metadata has no tables"):
            ingest(conn, sa.MetaData(), batches)
        assert connection_works(conn)
    assert batches.calls == []


@pytest.mark.parametrize("position", ["only", "second"])
def test_table_without_a_schema_is_named(engine: sa.engine.Engine, schema: str, position: str) -> None:
    """Upstream fails on such a table, in the server or in SQLAlchemy;
    here before any SQL, naming it."""
    metadata = sa.MetaData()
    if position == "second":
        make_table(schema, metadata)
    name = f"no_schema_{uuid.uuid4().hex[:8]}"
    sa.Table(name, metadata, sa.Column("id", sa.INTEGER))
    batches = Batches()
    with engine.connect() as conn:
        with pytest.raises(ValueError) as info:
            ingest(conn, metadata, batches)
        assert connection_works(conn)
    assert f"table {name!r} has no schema" in str(info.value)
    assert "schema=" in str(info.value)
    assert batches.calls == []
    assert not schema_exists(engine, schema)
    assert query(engine, "SELECT to_regclass(:n ::text)", n=name) == [(None,)]


def test_metadata_that_is_not_a_metadata(engine: sa.engine.Engine, schema: str) -> None:
    table = make_table(schema)
    batches = Batches(("hwm", None, rows_of(table, [(1, "a")])))
    with engine.connect() as conn:
        with pytest.raises(TypeError) as info:
            ingest(conn, table, batches)
        assert connection_works(conn)
    assert str(info.value) == f"metadata must be a sqlalchemy MetaData, not Table <Table {schema}.t>"
    assert batches.calls == []
    assert not schema_exists(engine, schema)


def test_batches_that_is_not_callable(engine: sa.engine.Engine, schema: str) -> None:
    table = make_table(schema)
    with engine.connect() as conn:
        with pytest.raises(TypeError) as info:
            ingest(conn, table.metadata, [("hwm", None, rows_of(table, [(1, "a")]))])
        assert connection_works(conn)
    assert str(info.value).startswith("batches must be a callable taking the high watermark and returning the batches, "
                                      f"not list [('hwm', None, [(<Table {schema}.t>, (1, 'a'))])]")
    assert not schema_exists(engine, schema)


@pytest.mark.parametrize("returned", [None, 5, object()], ids=["None", "int", "object"])
def test_batches_returning_a_non_iterable(engine: sa.engine.Engine, schema: str, returned: Any) -> None:
    table = make_table(schema)
    with engine.connect() as conn:
        with pytest.raises(TypeError) as info:
            ingest(conn, table.metadata, lambda hwm: returned)
        assert connection_works(conn)
    message = str(info.value)
    assert f"batches(high_watermark) returned {type(returned).__name__}" in message
    assert "(high_watermark, batch_metadata, rows)" in message
    # The tables it created in the transaction went with it.
    assert not schema_exists(engine, schema)


@pytest.mark.parametrize(
    "item, shown",
    [
        (("hwm-4", None), "tuple ('hwm-4', None)"),
        (("hwm-4", None, [], "extra"), "tuple ('hwm-4', None, [], 'extra')"),
        ("abc", "str 'abc'"),  # upstream would unpack its three characters
        ({"hwm": 1, "metadata": 2, "rows": 3}, "dict {"),
        (None, "NoneType None"),
        ((x for x in ("hwm-4", None, [])), "generator <generator object"),
    ],
    ids=["2-tuple", "4-tuple", "str", "dict", "None", "generator"],
)
def test_batch_that_is_not_a_3_tuple(engine: sa.engine.Engine, schema: str, item: Any, shown: str) -> None:
    table = make_table(schema)
    raised = third_batch_fails(engine, table, item)
    assert isinstance(raised, TypeError), repr(raised)
    message = str(raised)
    assert message.startswith(f"batch 2: batches yielded {shown}"), message
    assert "expected a tuple (high_watermark, batch_metadata, rows)" in message


@pytest.mark.parametrize("rows", [None, 5], ids=["None", "int"])
def test_rows_that_are_not_iterable(engine: sa.engine.Engine, schema: str, rows: Any) -> None:
    table = make_table(schema)
    raised = third_batch_fails(engine, table, ("hwm-4", None, rows))
    assert isinstance(raised, TypeError), repr(raised)
    assert str(raised) == (
        f"batch 2: its rows are {type(rows).__name__} {rows!r}: expected an iterable of (table, row) pairs"
    )


# Items of a batch's rows that are not (table, row) pairs, made from the
# table, and how the message shows them.
NOT_PAIRS = {
    "bare-row": (lambda t: (5, "e"), lambda s: "tuple (5, 'e')"),  # upstream skips it silently
    "3-tuple": (lambda t: (t, 5, "e"), lambda s: f"tuple (<Table {s}.t>, 5, 'e')"),
    "pair-and-more": (lambda t: (t, (5, "e"), "more"), lambda s: f"tuple (<Table {s}.t>, (5, 'e'), 'more')"),
    "str": (lambda t: "ab", lambda s: "str 'ab'"),
    "None": (lambda t: None, lambda s: "NoneType None"),
    "dict": (lambda t: {t: (5, "e")}, lambda s: f"dict {{<Table {s}.t>: (5, 'e')}}"),
    "unhashable": (lambda t: ([5, "e"], (5, "e")), lambda s: "tuple ([5, 'e'], (5, 'e'))"),
}


@pytest.mark.parametrize("good_before", [0, 1, 700])
@pytest.mark.parametrize("case", list(NOT_PAIRS))
def test_rows_item_that_is_not_a_pair(engine: sa.engine.Engine, schema: str, case: str, good_before: int) -> None:
    table = make_table(schema)
    make, shown = NOT_PAIRS[case]
    rows = rows_of(table, [(100 + i, "x") for i in range(good_before)]) + [make(table)] + rows_of(table, [(6, "f")])
    raised = third_batch_fails(engine, table, ("hwm-4", None, rows))
    assert isinstance(raised, TypeError), repr(raised)
    assert str(raised).startswith(
        f"batch 2, item {good_before} of its rows (counting from 0): {shown(schema)} is not a (table, row) pair: "
    ), str(raised)


@pytest.mark.parametrize("other_table_between", [False, True])
@pytest.mark.parametrize(
    "row, shown",
    [
        ({"id": 5, "value": "e"}, "dict {'id': 5, 'value': 'e'}"),  # upstream would store its keys
        ("ab", "str 'ab'"),  # upstream would store its characters
        (None, "NoneType None"),
        (5, "int 5"),
        ({5, "e"}, "set {"),
    ],
    ids=["dict", "str", "None", "int", "set"],
)
def test_row_that_is_not_a_sequence_of_values(
    engine: sa.engine.Engine, schema: str, row: Any, shown: str, other_table_between: bool
) -> None:
    table = make_table(schema)
    other = sa.Table("o", table.metadata, sa.Column("id", sa.INTEGER), schema=schema)
    between = [(other, (1,))] if other_table_between else []
    rows = rows_of(table, [(100 + i, "x") for i in range(600)]) + between + [(table, row), (table, (6, "f"))]
    raised = third_batch_fails(engine, table, ("hwm-4", None, rows))
    assert isinstance(raised, TypeError), repr(raised)
    message = str(raised)
    assert message.startswith(f"batch 2, table {schema}.t, row 600 of this table's rows in the batch: {shown}"), message
    assert message.endswith("is not a row: expected a tuple of its 2 values (id, value)"), message
    assert query(engine, f'SELECT count(*) FROM "{schema}".o') == [(0,)]


def test_rows_as_lists_namedtuples_and_sqlalchemy_rows_are_taken(engine: sa.engine.Engine, schema: str) -> None:
    from collections import namedtuple

    table = make_table(schema)
    Row = namedtuple("Row", ["id", "value"])
    with engine.connect() as conn:
        sa_row = conn.execute(sa.text("SELECT 3 AS id, 'c' AS value")).fetchone()
    rows = [(table, [1, "a"]), (table, Row(2, "b")), (table, sa_row)]
    run_ingest(engine, table.metadata, Batches(("hwm", None, rows)))
    assert read_rows(engine, table, order_by=["id"]) == [(1, "a"), (2, "b"), (3, "c")]


# --- values of other types ----------------------------------------------------


@pytest.mark.parametrize(
    "type_, value, stored",
    [
        (sa.TEXT, {"a": 1}, "{'a': 1}"),
        (sa.VARCHAR(16), [1, "x"], "[1, 'x']"),
        (sa.TEXT, b"ab", "b'ab'"),
    ],
    ids=["dict-in-text", "list-in-varchar", "bytes-in-text"],
)
def test_containers_in_text_columns_are_stored_as_their_str_like_upstream(
    engine: sa.engine.Engine, schema: str, type_: Any, value: Any, stored: str
) -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER), sa.Column("v", type_), schema=schema)
    run_ingest(engine, table.metadata, Batches(("hwm", None, [(table, (1, value))])))
    assert read_rows(engine, table) == [(1, stored)]


def test_a_dict_in_an_integer_column_names_column_row_and_value(engine: sa.engine.Engine, schema: str) -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER), sa.Column("n", sa.INTEGER), schema=schema)
    run_ingest(engine, table.metadata, Batches(("hwm-1", None, [(table, (1, 1))])))
    rows = [(table, (i, i)) for i in range(2, 9)] + [(table, (9, {"n": 9}))]
    with engine.connect() as conn:
        with pytest.raises(IngestError) as info:
            ingest(conn, table.metadata, Batches(("hwm-2", None, rows)))
        assert connection_works(conn)
    message = str(info.value)
    assert f"table {schema}.t, column 'n', row 7 " in message and "{'n': 9}" in message, message
    assert read_rows(engine, table) == [(1, 1)]
    assert stored_high_watermark(engine, schema, "t") == "hwm-1"


# --- the high watermark --------------------------------------------------------


@pytest.mark.parametrize(
    "value, error, shown",
    [
        (datetime.datetime(2024, 1, 2, 3, 4), TypeError, "datetime datetime.datetime(2024, 1, 2, 3, 4)"),
        ({1, 2}, TypeError, "set {1, 2}"),
        (Decimal("1.5"), TypeError, "Decimal Decimal('1.5')"),
        ({"at": datetime.date(2024, 1, 2)}, TypeError, "dict {'at': datetime.date(2024, 1, 2)}"),
        ({("a", 1): "tuple key"}, TypeError, "dict {('a', 1): 'tuple key'}"),
        (float("nan"), ValueError, "float nan"),
        ({"x": [float("inf")]}, ValueError, "dict {'x': [inf]}"),
    ],
    ids=["datetime", "set", "decimal", "nested-date", "tuple-key", "nan", "nested-infinity"],
)
@pytest.mark.parametrize("as_callable", [False, True])
def test_high_watermark_that_is_not_json(
    engine: sa.engine.Engine, schema: str, value: Any, error: type, shown: str, as_callable: bool
) -> None:
    table = make_table(schema)
    hwm = (lambda: value) if as_callable else value
    raised = third_batch_fails(engine, table, (hwm, None, rows_of(table, [(5, "e")])))
    assert type(raised) is error, repr(raised)
    message = str(raised)
    assert message.startswith(f"batch 2: its high watermark {shown} is not JSON-encodable ("), message
    assert "must be None, a bool, an int, a finite float, a str, or lists and dicts of them" in message


def test_high_watermark_that_is_not_json_in_a_new_tables_first_batch(engine: sa.engine.Engine, schema: str) -> None:
    table = make_table(schema)
    with engine.connect() as conn:
        with pytest.raises(TypeError, match="batch 1: its high watermark datetime datetime.datetime"):
            ingest(conn, table.metadata, Batches((datetime.datetime(2024, 1, 1), None, rows_of(table, [(1, "a")]))))
        assert connection_works(conn)
    assert not schema_exists(engine, schema)


# --- on_before_visible in the first batch of a rebuild ----------------------


@pytest.mark.parametrize("case", ["missing table", "table created without its key", "delete before first batch"])
def test_on_before_visible_raising_in_a_rebuilds_first_batch(engine: sa.engine.Engine, schema: str, case: str) -> None:
    """The first batch goes into a new `_tmp_` table to be swapped in;
    on_before_visible failing there leaves no `_tmp_` table and the table
    as it was."""
    table = make_table(schema)
    if case == "table created without its key":
        run_ingest(engine, table.metadata, Batches())  # created as upstream creates it: no primary key
    elif case == "delete before first batch":
        seed(engine, table)
    error = Boom("in the rebuild")
    seen: List[str] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        seen.append(ingest_name(ingest_table.name))
        assert conn.execute(sa.select(sa.func.count()).select_from(ingest_table)).scalar() == 1
        raise error

    delete = Delete.BEFORE_FIRST_BATCH if case == "delete before first batch" else Delete.OFF
    with engine.connect() as conn:
        with pytest.raises(Boom) as info:
            ingest(conn, table.metadata, Batches(("hwm-9", None, rows_of(table, [(9, "z")]))),
                   on_before_visible=on_before_visible, delete=delete)
        assert connection_works(conn)
    assert info.value is error
    assert seen == ["_tmp_"]
    if case == "missing table":
        assert not schema_exists(engine, schema)
    elif case == "table created without its key":
        assert table_exists(engine, schema, "t")
        assert primary_key(engine, schema, "t") == []
        assert read_rows(engine, table) == []
        assert comment(engine, schema, "t") is None
        assert tmp_tables(engine, schema) == []
    else:
        assert_seeded(engine, table)
