"""A failing batch: the error reaches the caller, nothing of the batch is
visible, earlier batches stay committed with their high watermark, and the
connection stays usable."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterator, List, Sequence

import pytest
import sqlalchemy as sa
from helpers import connection_works, driver_error, read_rows, relations, stored_high_watermark

from pg_bulk_ingest import IngestError, Upsert, ingest


class Boom(Exception):
    pass


def make_table(schema: str) -> sa.Table:
    return sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("small_col", sa.SMALLINT),
        sa.Column("int_col", sa.INTEGER),
        sa.Column("varchar_col", sa.VARCHAR(16)),
        sa.Column("text_col", sa.TEXT),
        schema=schema,
    )


def good(i: int) -> tuple:
    return (i, i % 100, i, f"v{i}", f"text {i}")


def assert_only_first_two_batches(engine: sa.engine.Engine, table: sa.Table) -> None:
    assert [r[0] for r in read_rows(engine, table, order_by=["id"])] == [1, 2, 3]
    assert stored_high_watermark(engine, table.schema, "t") == "hwm-2"
    assert not [r for r in relations(engine, table.schema) if r.startswith("_tmp_")]


def ingest_three_batches(
    engine: sa.engine.Engine,
    table: sa.Table,
    third: Callable[[], Iterator[Any]],
    **kwargs: Any,
) -> BaseException:
    """Ingests batches 1 and 2 (ids 1-3) then a third batch whose rows come
    from third(); returns the exception raised, after checking that the
    connection works afterwards."""

    third_hwm = kwargs.pop("third_hwm", "hwm-3")

    def batches(high_watermark: Any) -> Iterator[Any]:
        yield "hwm-1", "b1", [(table, good(1)), (table, good(2))]
        yield "hwm-2", "b2", [(table, good(3))]
        yield third_hwm, "b3", third()

    with engine.connect() as conn:
        with pytest.raises(BaseException) as info:
            ingest(conn, table.metadata, batches, **kwargs)
        assert connection_works(conn)
    return info.value


# --- exceptions of the user's code ---------------------------------------


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
@pytest.mark.parametrize("rows_before", [0, 5, 25_000])
def test_exception_in_rows_of_a_batch(engine: sa.engine.Engine, schema: str, upsert: str, rows_before: int) -> None:
    table = make_table(schema)
    error = Boom("from the rows")

    def third() -> Iterator[Any]:
        for i in range(rows_before):
            yield table, good(100 + i)
        raise error

    raised = ingest_three_batches(engine, table, third, upsert=upsert)
    assert raised is error
    assert_only_first_two_batches(engine, table)


def test_exception_from_the_batches_generator_between_batches(engine: sa.engine.Engine, schema: str) -> None:
    table = make_table(schema)
    error = Boom("between batches")

    def batches(high_watermark: Any) -> Iterator[Any]:
        yield "hwm-1", None, [(table, good(1)), (table, good(2))]
        yield "hwm-2", None, [(table, good(3))]
        raise error

    with engine.connect() as conn:
        with pytest.raises(Boom) as info:
            ingest(conn, table.metadata, batches)
        assert connection_works(conn)
    assert info.value is error
    assert_only_first_two_batches(engine, table)


def test_exception_from_calling_batches(engine: sa.engine.Engine, schema: str) -> None:
    table = make_table(schema)
    error = Boom("at once")

    def batches(high_watermark: Any) -> Any:
        raise error

    with engine.connect() as conn:
        with pytest.raises(Boom) as info:
            ingest(conn, table.metadata, batches)
        assert connection_works(conn)
    assert info.value is error


@pytest.mark.parametrize("new_table", [True, False])
def test_exception_after_a_repeated_key_is_the_users(engine: sa.engine.Engine, schema: str, new_table: bool) -> None:
    """A key sent twice makes the engine's first, cheaper upsert attempt
    fail on the server and be retried under a savepoint: the batch still
    takes the last row of the key, and an exception raised later in the
    same batch is the one that reaches the caller, not the server's."""
    table = make_table(schema)
    if not new_table:
        with engine.connect() as conn:
            ingest(conn, table.metadata, lambda hwm: [("hwm-0", None, [(table, good(1))])])
    error = Boom("after the duplicate")

    def on_before_visible(conn: Any, ingest_table: sa.Table, metadata: Any) -> None:
        rows = conn.execute(sa.select(ingest_table.c.id, ingest_table.c.text_col).order_by("id")).fetchall()
        assert [tuple(r) for r in rows] == [(1, "last"), (2, "text 2")]
        if metadata == "fail":
            raise error

    def batches(high_watermark: Any) -> Iterator[Any]:
        rows = [(table, good(1)), (table, good(2)), (table, (1, 1, 1, "v1", "last"))]
        yield "hwm-1", "ok", rows
        yield "hwm-2", "fail", rows

    with engine.connect() as conn:
        with pytest.raises(Boom) as info:
            ingest(conn, table.metadata, batches, on_before_visible=on_before_visible)
        assert connection_works(conn)
    assert info.value is error
    assert [(r[0], r[4]) for r in read_rows(engine, table, order_by=["id"])] == [(1, "last"), (2, "text 2")]
    assert stored_high_watermark(engine, schema, "t") == "hwm-1"


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
def test_exception_from_on_before_visible(engine: sa.engine.Engine, schema: str, upsert: str) -> None:
    table = make_table(schema)
    error = Boom("from on_before_visible")

    def on_before_visible(conn: Any, ingest_table: Any, batch_metadata: Any) -> None:
        conn.execute(sa.text("SELECT 1"))
        if batch_metadata == "b3":
            raise error

    def third() -> Iterator[Any]:
        yield table, good(4)

    raised = ingest_three_batches(engine, table, third, upsert=upsert, on_before_visible=on_before_visible)
    assert raised is error
    assert_only_first_two_batches(engine, table)


def test_exception_from_a_callable_high_watermark(engine: sa.engine.Engine, schema: str) -> None:
    table = make_table(schema)
    error = Boom("from the high watermark")

    def hwm() -> Any:
        raise error

    def third() -> Iterator[Any]:
        yield table, good(4)

    raised = ingest_three_batches(engine, table, third, third_hwm=hwm)
    assert raised is error
    assert_only_first_two_batches(engine, table)


# --- errors of the server -----------------------------------------------


@pytest.mark.parametrize(
    "third_ids",
    [[4, 1], [4, 5, 5], [5] + list(range(1000, 21_000)) + [5]],
    ids=["key-of-earlier-batch", "key-twice-in-batch", "key-twice-far-apart"],
)
def test_upsert_off_duplicate_key_raises_unique_violation(
    engine: sa.engine.Engine, driver: str, schema: str, third_ids: List[int]
) -> None:
    table = make_table(schema)

    def third() -> Iterator[Any]:
        for i in third_ids:
            yield table, good(i)

    raised = ingest_three_batches(engine, table, third, upsert=Upsert.OFF)
    assert isinstance(raised, driver_error(driver, "UniqueViolation"))
    assert "duplicate key value violates unique constraint" in str(raised)
    assert_only_first_two_batches(engine, table)


# --- values that do not fit --------------------------------------------


@pytest.mark.parametrize("position", [2, 25_002])
@pytest.mark.parametrize(
    "bad_row, fragments",
    [
        pytest.param((0, 40000, 1, "a", "b"), ["small_col", "40000"], id="smallint-too-big"),
        pytest.param((0, -32769, 1, "a", "b"), ["small_col", "-32769"], id="smallint-too-small"),
        pytest.param((0, 1, 2**31, "a", "b"), ["int_col", "2147483648"], id="integer-too-big"),
        pytest.param((0, 1, -(2**31) - 1, "a", "b"), ["int_col", "-2147483649"], id="integer-too-small"),
        pytest.param((0, 1, 1, "a\x00b", "b"), ["varchar_col", r"\x00"], id="nul-in-varchar"),
        pytest.param((0, 1, 1, "a", "nul \x00"), ["text_col", r"\x00"], id="nul-in-text"),
        pytest.param((0, 1, 1, "a"), ["4 values"], id="too-few-values"),
        pytest.param((0, 1, 1, "a", "b", "extra"), ["6 values"], id="too-many-values"),
    ],
)
def test_value_that_does_not_fit_raises_ingest_error(
    engine: sa.engine.Engine, schema: str, bad_row: Sequence[Any], fragments: List[str], position: int
) -> None:
    table = make_table(schema)

    def third() -> Iterator[Any]:
        for i in range(position):
            yield table, good(100 + i)
        yield table, (4,) + tuple(bad_row[1:])
        yield table, good(5)

    raised = ingest_three_batches(engine, table, third)
    assert isinstance(raised, IngestError), repr(raised)
    message = str(raised)
    assert f"{schema}.t" in message or f'"{schema}"."t"' in message
    assert f"row {position}" in message
    for fragment in fragments:
        assert fragment in message
    assert_only_first_two_batches(engine, table)


# --- values the server refuses -------------------------------------------


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes (add_note) arrived in Python 3.11")
@pytest.mark.parametrize(
    "type_, rows, error, where",
    [
        (sa.DATE, [(1, "2020-01-01"), (2, "not a date")], "InvalidDatetimeFormat",
         'column "d" (date), row 1: value "not a date"'),
        (sa.VARCHAR(3), [(1, "abc"), (2, "a"), (3, "toolong")], "StringDataRightTruncation",
         'column "d" (character varying(3)), row 2: value "toolong"'),
        (sa.INTEGER, [(1, 5), (1, 6)], "UniqueViolation", "row 1"),
    ],
    ids=["text-path-date", "binary-path-varchar", "duplicate-key"],
)
def test_server_refusal_keeps_driver_error_and_names_the_row(
    engine: sa.engine.Engine, schema: str, type_: Any, rows: List[tuple], error: str, where: str
) -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("d", type_), schema=schema)

    def batches(high_watermark: Any) -> Iterator[Any]:
        yield "hwm-1", "b1", [(table, (100, None))]
        yield "hwm-2", "b2", [(table, row) for row in rows]

    with engine.connect() as conn:
        with pytest.raises(Exception) as info:
            ingest(conn, table.metadata, batches, upsert=Upsert.OFF)
    assert type(info.value).__name__ == error  # the driver's own exception class
    notes = getattr(info.value, "__notes__", [])
    assert any(f'batch 2, table "{schema}"."t": {where}' in n for n in notes), notes
    assert read_rows(engine, table, order_by=["id"]) == [(100, None)]
    assert stored_high_watermark(engine, schema, "t") == "hwm-1"
