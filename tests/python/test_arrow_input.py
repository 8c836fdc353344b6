"""Arrow-native items of a batch: `(table, data)` with data a pyarrow
RecordBatch, Table or RecordBatchReader, a pandas or polars DataFrame, or
an object with the Arrow PyCapsule interface. Columns are matched by name,
the items keep their place among the table's rows, and values are read
back from the database."""

from __future__ import annotations

import datetime
import math
import sys
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any, Iterator, List, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from helpers import Batches, query, read_rows, run_ingest, stored_high_watermark
from sqlalchemy.dialects import postgresql

from pg_bulk_ingest import IngestError, Upsert, ingest

UTC = datetime.timezone.utc
PARIS = zoneinfo.ZoneInfo("Europe/Paris")

# pyarrow < 16 has no view layouts: there their cases use the plain ones.
STRING_VIEW = pa.string_view() if hasattr(pa, "string_view") else pa.string()
BINARY_VIEW = pa.binary_view() if hasattr(pa, "binary_view") else pa.binary()


def float16_array(values: List[float]) -> pa.Array:
    """Half floats from Python floats, which older pyarrow takes only as
    numpy's (and then depends on numpy, which newer pyarrow does not)."""
    try:
        return pa.array(values, pa.float16())
    except pa.ArrowTypeError:
        import numpy as np

        return pa.array(np.array(values, np.float16))


def table_of(schema: str, *columns: sa.Column, name: str = "t") -> sa.Table:
    return sa.Table(name, sa.MetaData(), *columns, schema=schema)


def id_value(schema: str, type_: Any, name: str = "t", pk: bool = False) -> sa.Table:
    """A table (id INTEGER, v type_)."""
    return table_of(schema, sa.Column("id", sa.INTEGER, primary_key=pk), sa.Column("v", type_), name=name)


def ingest_one(engine: sa.engine.Engine, table: sa.Table, *items: Any, **kwargs: Any) -> None:
    run_ingest(engine, table.metadata, Batches(("hwm-1", None, list(items))), **kwargs)


def in_order(engine: sa.engine.Engine, table: sa.Table) -> List[tuple]:
    """The table's rows in the order they were written (a table that only
    ever had rows appended)."""
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    rows = query(engine, f'SELECT {names} FROM "{table.schema}"."{table.name}" ORDER BY ctid')
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]  # psycopg2's BYTEA


class StreamOnly:
    """An object of some other library: only the Arrow PyCapsule stream."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


class ArrayOnly:
    """An object with only the Arrow PyCapsule array interface."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self._batch = batch

    def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
        return self._batch.__arrow_c_array__(requested_schema)


# --- the kinds of Arrow data ---------------------------------------------


def test_record_batch(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.VARCHAR(16))
    ingest_one(engine, table, (table, pa.record_batch({"id": [1, 2, 3], "v": ["a", None, "c"]})))
    assert read_rows(engine, table, order_by=["id"]) == [(1, "a"), (2, None), (3, "c")]


def test_table_of_several_chunks_keeps_its_row_order(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.BIGINT)
    parts = [pa.record_batch({"id": pa.array(range(k, k + 7), pa.int32()), "v": pa.array(range(k, k + 7))}) for k in (0, 7, 14)]
    data = pa.Table.from_batches(parts)
    assert data.column("id").num_chunks == 3
    ingest_one(engine, table, (table, data), max_rows_per_table_buffer=5)  # no bound on a single table's chunks
    assert in_order(engine, table) == [(i, i) for i in range(21)]


def test_record_batch_reader_is_read_batch_by_batch(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.BIGINT)
    parts = [pa.record_batch({"v": pa.array([k, k + 1]), "id": pa.array([k, k + 1], pa.int32())}) for k in (0, 2, 4)]
    reader = pa.RecordBatchReader.from_batches(parts[0].schema, iter(parts))
    ingest_one(engine, table, (table, reader), max_rows_per_table_buffer=1)
    assert in_order(engine, table) == [(i, i) for i in range(6)]


def test_a_stream_of_arrow_items_is_not_read_ahead(engine: sa.engine.Engine, schema: str) -> None:
    """Memory stays flat however many Arrow items a batch streams: each is
    taken from the user's iterator only when the previous ones are sent
    (the engine keeps the last few megabytes sent, to show a value the
    server refuses)."""
    table = id_value(schema, sa.TEXT)
    rows_per_item, items = 10_000, 80
    baseline = pa.total_allocated_bytes()
    alive: List[int] = []  # Arrow bytes allocated as each item is made

    def stream() -> Iterator[Any]:
        for k in range(items):
            alive.append(pa.total_allocated_bytes() - baseline)
            ids = range(k * rows_per_item, (k + 1) * rows_per_item)
            yield table, pa.record_batch({"id": pa.array(ids, pa.int32()), "v": pa.array([f"value {i:08}" for i in ids])})

    run_ingest(engine, table.metadata, Batches(("hwm-1", None, stream())))
    item_bytes = rows_per_item * (4 + 4 + 14)
    first_half, second_half = max(alive[: items // 2]), max(alive[items // 2 :])
    assert second_half <= first_half + item_bytes, f"{first_half:,} then {second_half:,} bytes alive"
    assert second_half < items * item_bytes // 2
    assert query(engine, f'SELECT count(*), max(id) FROM "{schema}"."t"') == [(rows_per_item * items, rows_per_item * items - 1)]


def test_pycapsule_stream_object(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.TEXT)
    ingest_one(engine, table, (table, StreamOnly(pa.table({"v": ["x", "y"], "id": [1, 2]}))))
    assert read_rows(engine, table, order_by=["id"]) == [(1, "x"), (2, "y")]


def test_pycapsule_array_object(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.TEXT)
    ingest_one(engine, table, (table, ArrayOnly(pa.record_batch({"id": [1], "v": ["z"]}))))
    assert read_rows(engine, table) == [(1, "z")]


def test_pandas_dataframe(engine: sa.engine.Engine, schema: str) -> None:
    pd = pytest.importorskip("pandas")
    table = table_of(
        schema,
        sa.Column("id", sa.INTEGER),
        sa.Column("name", sa.VARCHAR(16)),
        sa.Column("score", postgresql.DOUBLE_PRECISION),
        sa.Column("kind", sa.TEXT),
        sa.Column("at", sa.TIMESTAMP),
        sa.Column("flag", sa.BOOLEAN),
        sa.Column("n", sa.BIGINT),
    )
    df = pd.DataFrame(
        {
            "name": ["a", None, "c"],
            "id": [1.0, None, 3.0],  # integers with a missing value: float64 with NaN in pandas
            "score": [0.5, float("nan"), 2.0],
            "kind": pd.Categorical(["x", "y", "x"]),
            "at": pd.to_datetime(["2024-01-02 03:04:05.123456", None, "2024-02-29 00:00:00.000000"]),
            "flag": [True, False, None],
            "n": pd.array([1, None, 2**40], dtype="Int64"),
        },
        index=[10, 20, 30],  # not a column
    )
    ingest_one(engine, table, (table, df))
    assert in_order(engine, table) == [
        (1, "a", 0.5, "x", datetime.datetime(2024, 1, 2, 3, 4, 5, 123456), True, 1),
        (None, None, None, "y", None, False, None),
        (3, "c", 2.0, "x", datetime.datetime(2024, 2, 29), None, 2**40),
    ]


def test_pandas_time_zone_aware_column(engine: sa.engine.Engine, schema: str) -> None:
    pd = pytest.importorskip("pandas")
    table = table_of(schema, sa.Column("wall", sa.TIMESTAMP), sa.Column("instant", sa.TIMESTAMP(timezone=True)))
    at = pd.to_datetime(["2024-07-01 12:00"]).tz_localize("Europe/Paris")
    ingest_one(engine, table, (table, pd.DataFrame({"wall": at, "instant": at})))
    assert read_rows(engine, table) == [
        (datetime.datetime(2024, 7, 1, 12, 0), datetime.datetime(2024, 7, 1, 10, 0, tzinfo=UTC))
    ]


def test_polars_dataframe(engine: sa.engine.Engine, schema: str) -> None:
    pl = pytest.importorskip("polars")
    table = table_of(
        schema,
        sa.Column("id", sa.BIGINT),
        sa.Column("name", sa.TEXT),
        sa.Column("cat", sa.VARCHAR(8)),
        sa.Column("day", sa.DATE),
        sa.Column("amount", sa.NUMERIC(10, 2)),
        sa.Column("tags", postgresql.ARRAY(sa.TEXT)),
        sa.Column("raw", postgresql.BYTEA),
    )
    df = pl.DataFrame(
        {
            "raw": [b"\x00\xff", None],
            "tags": [["a", None], []],
            "amount": pl.Series([Decimal("1.50"), None], dtype=pl.Decimal(10, 2)),
            "day": [datetime.date(2024, 1, 2), None],
            "cat": pl.Series(["x", "y"], dtype=pl.Categorical),
            "name": ["a longer text than a string view inlines", None],
            "id": pl.Series([2**62, 1], dtype=pl.UInt64),
        }
    )
    ingest_one(engine, table, (table, df))
    ingest_one(engine, table, (table, StreamOnly(df)))  # polars' own export: string and binary views
    expected = [
        (2**62, "a longer text than a string view inlines", "x", datetime.date(2024, 1, 2), Decimal("1.50"), ["a", None], b"\x00\xff"),
        (1, None, "y", None, None, [], None),
    ]
    assert in_order(engine, table) == expected * 2


# --- columns by name, and the place of each item --------------------------


def test_columns_are_matched_by_name(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("a", sa.INTEGER), sa.Column("b", sa.TEXT), sa.Column("c", sa.BOOLEAN))
    ingest_one(engine, table, (table, pa.table({"c": [True], "a": [1], "b": ["x"]})))
    assert read_rows(engine, table) == [(1, "x", True)]


def test_tuple_rows_and_arrow_items_of_a_table_keep_their_order(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.TEXT)
    arrow = lambda ids: pa.table({"id": ids, "v": [f"arrow {i}" for i in ids]})  # noqa: E731
    items = (
        [(table, (i, f"row {i}")) for i in range(0, 3)]
        + [(table, arrow([3, 4]))]
        + [(table, (i, f"row {i}")) for i in range(5, 1205)]  # across slabs of 500 rows
        + [(table, arrow([1205])), (table, arrow([1206, 1207]))]
        + [(table, (1208, "row 1208"))]
    )
    ingest_one(engine, table, *items, max_rows_per_table_buffer=700)
    got = in_order(engine, table)
    assert [r[0] for r in got] == list(range(1209))
    assert got[3] == (3, "arrow 3") and got[1206] == (1206, "arrow 1206") and got[1208] == (1208, "row 1208")


def test_items_of_several_tables(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    a = sa.Table("a", metadata, sa.Column("id", sa.INTEGER), schema=schema)
    b = sa.Table("b", metadata, sa.Column("id", sa.INTEGER), sa.Column("v", sa.TEXT), schema=schema)
    other = sa.Table("other", sa.MetaData(), sa.Column("id", sa.INTEGER), schema=schema)
    items = [
        (a, (1,)),
        (b, pa.table({"id": [10, 11], "v": ["x", "y"]})),
        (a, pa.record_batch({"id": [2, 3]})),
        (other, pa.table({"anything": [1]})),  # not in the metadata: skipped, as its rows are
        (b, (12, "z")),
        (a, (4,)),
    ]
    run_ingest(engine, metadata, Batches(("hwm", None, items)))
    assert in_order(engine, a) == [(1,), (2,), (3,), (4,)]
    assert in_order(engine, b) == [(10, "x"), (11, "y"), (12, "z")]


def test_upsert_the_last_row_of_a_key_wins(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.TEXT, pk=True)
    ingest_one(engine, table, (table, (1, "old")), (table, (2, "old")))
    run_ingest(
        engine,
        table.metadata,
        Batches(
            (
                "hwm-2",
                None,
                [
                    (table, (2, "tuple")),
                    (table, pa.table({"id": [3, 2, 3], "v": ["arrow 1", "arrow", "arrow 2"]})),
                    (table, (4, "tuple")),
                    (table, pa.record_batch({"v": ["arrow 3"], "id": [4]})),
                ],
            )
        ),
        upsert=Upsert.IF_PRIMARY_KEY,
    )
    assert read_rows(engine, table, order_by=["id"]) == [(1, "old"), (2, "arrow"), (3, "arrow 2"), (4, "arrow 3")]


def test_empty_arrow_data(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.TEXT)
    empty = pa.table({"id": pa.array([], pa.int64()), "v": pa.array([], pa.string())})
    ingest_one(engine, table, (table, empty), (table, (1, "x")), (table, pa.record_batch({"v": pa.array([], pa.string()), "id": pa.array([], pa.int8())})))
    assert read_rows(engine, table) == [(1, "x")]


# --- refusals: nothing of the batch is visible -------------------------------


def fails_in_second_batch(engine: sa.engine.Engine, table: sa.Table, items: Sequence[Any], **kwargs: Any) -> BaseException:
    """Ingests a good first batch, then items as the second, which must
    fail; checks that only the first batch is stored, with its high
    watermark, and returns the exception."""
    first = [(table, tuple(i if c.name == "id" else None for c in table.columns)) for i in (1, 2)]

    def batches(high_watermark: Any) -> Iterator[Any]:
        yield "hwm-1", None, first
        yield "hwm-2", None, items

    with engine.connect() as conn:
        with pytest.raises(Exception) as info:
            ingest(conn, table.metadata, batches, **kwargs)
    assert [r[0] for r in read_rows(engine, table, order_by=["id"])] == [1, 2]
    assert stored_high_watermark(engine, table.schema, table.name) == "hwm-1"
    return info.value


def test_missing_column(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("id", sa.INTEGER), sa.Column("a", sa.TEXT), sa.Column("b", sa.TEXT))
    error = fails_in_second_batch(engine, table, [(table, (3, "x", "y")), (table, pa.table({"id": [4], "b": ["y"]}))])
    assert isinstance(error, ValueError)
    message = str(error)
    assert f"batch 2, table {schema}.t" in message and "missing column(s) 'a'" in message and "extra" not in message


def test_extra_column(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("id", sa.INTEGER), sa.Column("a", sa.TEXT))
    data = pa.table({"a": ["x"], "id": [3], "oops": [1], "more": [2]})
    error = fails_in_second_batch(engine, table, [(table, data)])
    assert isinstance(error, ValueError)
    assert f"batch 2, table {schema}.t" in str(error) and "extra column(s) 'oops', 'more'" in str(error)


def test_pandas_index_is_not_a_column_but_other_columns_are(engine: sa.engine.Engine, schema: str) -> None:
    pd = pytest.importorskip("pandas")
    table = id_value(schema, sa.TEXT)
    df = pd.DataFrame({"id": [3], "v": ["x"], "extra": [0]}).set_index(pd.Index([7], name="idx"))
    error = fails_in_second_batch(engine, table, [(table, df)])
    assert isinstance(error, ValueError) and "extra column(s) 'extra'" in str(error) and "idx" not in str(error)


def test_something_not_tabular(engine: sa.engine.Engine, schema: str) -> None:
    table = id_value(schema, sa.TEXT)
    error = fails_in_second_batch(engine, table, [(table, pa.chunked_array([[1, 2]]))])
    assert isinstance(error, TypeError) and f"batch 2, table {schema}.t" in str(error)


@pytest.mark.parametrize(
    "type_, array, arrow_type, pg_type",
    [
        (sa.INTEGER, pa.array([datetime.datetime(2024, 1, 1)]), "timestamp[us]", "integer"),
        (sa.TEXT, pa.array([1]), "int64", "text"),
        (sa.BOOLEAN, pa.array([1]), "int64", "boolean"),
        (sa.DATE, pa.array([1.5]), "float64", "date"),
        (postgresql.JSONB, pa.array([{"a": 1}]), "struct<a: int64>", "jsonb"),
        (postgresql.ARRAY(sa.INTEGER), pa.array([1]), "int64", "integer[]"),
        (postgresql.UUID, pa.array([b"x" * 8], pa.binary(8)), "fixed_size_binary[8]", "uuid"),
    ],
    ids=["timestamp-to-integer", "int-to-text", "int-to-boolean", "float-to-date", "struct-to-jsonb", "int-to-array",
         "8-bytes-to-uuid"],
)
def test_incompatible_type(engine: sa.engine.Engine, schema: str, type_: Any, array: pa.Array, arrow_type: str, pg_type: str) -> None:
    table = id_value(schema, type_)
    error = fails_in_second_batch(engine, table, [(table, (3, None)), (table, pa.table({"id": [4], "v": array}))])
    assert isinstance(error, IngestError)
    message = str(error)
    for part in (f'table "{schema}"."t"', f'column "v" ({pg_type})', f"values of Arrow type {arrow_type} cannot be stored"):
        assert part in message, message


@pytest.mark.parametrize(
    "type_, array, value, reason",
    [
        (sa.INTEGER, pa.array([1, 3_000_000_000]), "3000000000", "out of range for a 4-byte integer"),
        (sa.SMALLINT, pa.array([1, 40_000], pa.uint16()), "40000", "out of range for a 2-byte integer"),
        (sa.BIGINT, pa.array([1, 2**64 - 1], pa.uint64()), "18446744073709551615", "out of range for a 8-byte integer"),
        (sa.INTEGER, pa.array([1.0, math.nan]), "NaN", "NaN is not an integer"),
        (sa.INTEGER, pa.array([1.0, math.inf]), "+Inf", "out of range"),
        (sa.REAL, pa.array([1.0, 1e39]), "1e+39", "out of range for REAL"),
        (postgresql.UUID, pa.array([b"x" * 16, b"short"]), "c2hvcnQ=", "has 5 bytes, a UUID has 16"),
        (sa.TEXT, pa.array(["ok", "a\x00b"], STRING_VIEW), '"a\\x00b"', "contains a NUL character"),
    ],
    ids=["int64-to-integer", "uint16-to-smallint", "uint64-to-bigint", "nan-to-integer", "inf-to-integer",
         "double-to-real", "5-bytes-to-uuid", "nul-in-text"],
)
def test_value_out_of_range(engine: sa.engine.Engine, schema: str, type_: Any, array: pa.Array, value: str, reason: str) -> None:
    table = id_value(schema, type_)
    items = [(table, (3, None)), (table, (4, None)), (table, pa.table({"id": [5, 6], "v": array}))]
    error = fails_in_second_batch(engine, table, items)
    assert isinstance(error, IngestError)
    # Row 3 of the table's rows in the batch: the tuple rows count too.
    message = str(error)
    assert f'batch 2, table "{schema}"."t": column "v" (' in message, message
    assert f"row 3: value {value}: {reason}" in message, message


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes (add_note) arrived in Python 3.11")
def test_string_too_long_for_varchar_is_the_servers_error_located(engine: sa.engine.Engine, schema: str, driver: str) -> None:
    table = id_value(schema, sa.VARCHAR(64))
    long = "x" * 70
    items = [(table, (3, "short")), (table, pa.table({"id": [4, 5], "v": ["fine", long]}))]
    error = fails_in_second_batch(engine, table, items)
    assert type(error).__name__ == "StringDataRightTruncation"
    notes = getattr(error, "__notes__", [])
    where = f'batch 2, table "{schema}"."t": column "v" (character varying(64)), row 2: value "{long}"'
    assert any(where in n for n in notes), notes


def test_large_arrow_input_in_small_chunks_names_the_right_row(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("id", sa.INTEGER), sa.Column("v", sa.SMALLINT))
    n = 250_000
    v = pa.array([i % 1000 for i in range(n)], pa.int32())
    bad = 212_345
    v = pc.if_else(pc.equal(pa.array(range(n)), bad), pa.scalar(70_000, pa.int32()), v)
    data = pa.table({"id": pa.array(range(n), pa.int32()), "v": v})
    items = [(table, (i, 0)) for i in range(-10, 0)] + [(table, data)]
    error = fails_in_second_batch(engine, table, items, max_rows_per_table_buffer=1000)
    assert f"row {10 + bad}: value 70000: out of range for a 2-byte integer" in str(error), str(error)
    # And without the bad value, all of it goes in.
    ingest_one(engine, table, (table, data.set_column(1, "v", pa.array([i % 1000 for i in range(n)], pa.int32()))),
               max_rows_per_table_buffer=1000)
    assert query(engine, f'SELECT count(*), sum(id::bigint) FROM "{schema}".t WHERE v IS NOT NULL') == [(n, n * (n - 1) // 2)]


# --- types -------------------------------------------------------------------


def test_nulls_in_every_type(engine: sa.engine.Engine, schema: str) -> None:
    columns = {
        "i2": (sa.SMALLINT, pa.int16()), "i4": (sa.INTEGER, pa.uint32()), "i8": (sa.BIGINT, pa.uint64()),
        "f4": (sa.REAL, pa.float16()), "f8": (postgresql.DOUBLE_PRECISION, pa.float32()),
        "num": (sa.NUMERIC, pa.decimal128(10, 2)), "b": (sa.BOOLEAN, pa.bool_()), "s": (sa.TEXT, STRING_VIEW),
        "vc": (sa.VARCHAR(4), pa.large_string()), "js": (postgresql.JSONB, pa.string()),
        "by": (postgresql.BYTEA, BINARY_VIEW), "u": (postgresql.UUID, pa.binary(16)),
        "d": (sa.DATE, pa.date64()), "t": (sa.TIME, pa.time32("ms")), "ts": (sa.TIMESTAMP, pa.timestamp("ns")),
        "tz": (sa.TIMESTAMP(timezone=True), pa.timestamp("s", tz="UTC")), "iv": (postgresql.INTERVAL, pa.duration("ms")),
        "arr": (postgresql.ARRAY(sa.INTEGER), pa.large_list(pa.int64())),
        "cat": (sa.TEXT, pa.dictionary(pa.int8(), pa.string())), "nothing": (sa.INTEGER, pa.null()),
    }
    table = table_of(schema, sa.Column("id", sa.INTEGER), *(sa.Column(n, t) for n, (t, _) in columns.items()))
    data = pa.table({"id": [1, 2], **{n: pa.nulls(2, a) for n, (_, a) in columns.items()}})
    ingest_one(engine, table, (table, data))
    assert read_rows(engine, table, order_by=["id"]) == [(i,) + (None,) * len(columns) for i in (1, 2)]


def test_integer_and_float_types(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(
        schema,
        sa.Column("i2", sa.SMALLINT), sa.Column("i4", sa.INTEGER), sa.Column("i8", sa.BIGINT),
        sa.Column("u8", sa.BIGINT), sa.Column("trunc", sa.INTEGER), sa.Column("dec", sa.INTEGER),
        sa.Column("f4", sa.REAL), sa.Column("f8", postgresql.DOUBLE_PRECISION), sa.Column("f8_from_f4", postgresql.DOUBLE_PRECISION),
        sa.Column("f8_from_int", postgresql.DOUBLE_PRECISION), sa.Column("num_from_f4", sa.NUMERIC),
    )
    data = pa.table({
        "i2": pa.array([-128, 255], pa.int16()), "i4": pa.array([0, 65535], pa.uint16()),
        "i8": pa.array([-(2**31), 2**32 - 1], pa.int64()), "u8": pa.array([0, 2**63 - 1], pa.uint64()),
        "trunc": pa.array([1.9, -1.9]), "dec": pa.array([Decimal("12.99"), Decimal("-0.5")], pa.decimal128(5, 2)),
        "f4": float16_array([0.5, 1.5]), "f8": pa.array([0.1, math.inf]),
        "f8_from_f4": pa.array([0.1, 3.4e38], pa.float32()), "f8_from_int": pa.array([2**53 + 1, 7], pa.uint64()),
        "num_from_f4": pa.array([0.1, 1e10], pa.float32()),
    })
    ingest_one(engine, table, (table, data))
    assert in_order(engine, table) == [
        (-128, 0, -(2**31), 0, 1, 12, 0.5, 0.1, 0.1, float(2**53), Decimal("0.1")),
        (255, 65535, 2**32 - 1, 2**63 - 1, -1, 0, 1.5, math.inf, 3.4e38, 7.0, Decimal("10000000000.0")),
    ]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamps_of_every_unit(engine: sa.engine.Engine, schema: str, unit: str) -> None:
    table = table_of(
        schema, sa.Column("id", sa.INTEGER), sa.Column("naive", sa.TIMESTAMP), sa.Column("utc", sa.TIMESTAMP(timezone=True)),
        sa.Column("paris_wall", sa.TIMESTAMP), sa.Column("paris", sa.TIMESTAMP(timezone=True)), sa.Column("day", sa.DATE),
    )
    at = datetime.datetime(2024, 7, 1, 12, 30, 15, 123456 if unit in ("us", "ns") else 123000 if unit == "ms" else 0)
    naive = pa.array([at, datetime.datetime(1969, 12, 31, 23, 59, 59)], pa.timestamp(unit))
    utc = naive.cast(pa.timestamp(unit, tz="UTC"))  # the same numbers: instants in UTC
    paris = naive.cast(pa.timestamp(unit, tz="Europe/Paris"))
    ingest_one(engine, table, (table, pa.table({"id": [1, 2], "naive": naive, "utc": utc, "paris_wall": paris, "paris": paris, "day": paris})))
    rows = read_rows(engine, table, order_by=["id"])
    earlier = datetime.datetime(1969, 12, 31, 23, 59, 59)
    assert rows == [
        (1, at, at.replace(tzinfo=UTC), at + datetime.timedelta(hours=2), at.replace(tzinfo=UTC), datetime.date(2024, 7, 1)),
        (2, earlier, earlier.replace(tzinfo=UTC), earlier + datetime.timedelta(hours=1), earlier.replace(tzinfo=UTC),
         datetime.date(1970, 1, 1)),
    ]


@pytest.fixture
def new_york_engine(database_url: str, driver: str) -> Iterator[sa.engine.Engine]:
    """An engine whose sessions have the time zone America/New_York."""
    import pgcluster

    kwargs = {} if int(sa.__version__.split(".")[0]) >= 2 else {"future": True}
    engine = sa.create_engine(
        pgcluster.with_driver(database_url, driver), connect_args={"options": "-c timezone=America/New_York"}, **kwargs
    )
    yield engine
    engine.dispose()


def test_naive_timestamps_and_dates_into_timestamptz_are_read_in_the_session_time_zone(
    new_york_engine: sa.engine.Engine, schema: str
) -> None:
    engine = new_york_engine
    table = table_of(schema, sa.Column("id", sa.INTEGER), sa.Column("ts", sa.TIMESTAMP(timezone=True)), sa.Column("d", sa.TIMESTAMP(timezone=True)))
    data = pa.table({"id": [1], "ts": pa.array([datetime.datetime(2024, 6, 1, 12, 0)]), "d": pa.array([datetime.date(2024, 6, 1)])})
    # As the same values in row tuples.
    ingest_one(engine, table, (table, data), (table, (2, datetime.datetime(2024, 6, 1, 12, 0), datetime.date(2024, 6, 1))))
    assert query(engine, f'SELECT ts::text, d::text FROM "{schema}".t ORDER BY id') == [
        ("2024-06-01 12:00:00-04", "2024-06-01 00:00:00-04")
    ] * 2


def test_dates_times_and_durations(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(
        schema, sa.Column("d32", sa.DATE), sa.Column("d64", sa.DATE), sa.Column("midnight", sa.TIMESTAMP),
        sa.Column("t32", sa.TIME), sa.Column("t64", sa.TIME), sa.Column("iv", postgresql.INTERVAL),
    )
    day = datetime.date(2024, 2, 29)
    data = pa.table({
        "d32": pa.array([day]), "d64": pa.array([day], pa.date64()), "midnight": pa.array([day]),
        "t32": pa.array([datetime.time(1, 2, 3, 4000)], pa.time32("ms")), "t64": pa.array([datetime.time(23, 59, 59, 999999)], pa.time64("ns")),
        "iv": pa.array([datetime.timedelta(days=-1, seconds=3600, microseconds=5)], pa.duration("us")),
    })
    ingest_one(engine, table, (table, data))
    assert read_rows(engine, table) == [
        (day, day, datetime.datetime(2024, 2, 29), datetime.time(1, 2, 3, 4000), datetime.time(23, 59, 59, 999999),
         datetime.timedelta(days=-1, seconds=3600, microseconds=5)),
    ]


def test_decimals(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(
        schema, sa.Column("n", sa.NUMERIC), sa.Column("n2", sa.NUMERIC(10, 2)), sa.Column("big", sa.NUMERIC),
        sa.Column("dbl", postgresql.DOUBLE_PRECISION), sa.Column("i8", sa.BIGINT),
    )
    values = [Decimal("1.50"), Decimal("-0.001"), Decimal("0E-8"), Decimal("12345678901234567890.123456789")]
    data = pa.table({
        "n": pa.array(values, pa.decimal128(38, 9)),
        "n2": pa.array([Decimal("1.5"), Decimal("2.345"), None, Decimal("-9.99")], pa.decimal128(10, 3)),
        "big": pa.array([Decimal(10) ** 50, None, None, Decimal("-1e-20")], pa.decimal256(76, 20)),
        "dbl": pa.array([Decimal("0.1"), None, None, Decimal("-2.5")], pa.decimal128(5, 1)),
        "i8": pa.array([Decimal("123.9"), None, None, Decimal("-1e10")], pa.decimal128(15, 1)),
    })
    ingest_one(engine, table, (table, data))
    assert [r[0] for r in query(engine, f'SELECT n::text FROM "{schema}".t ORDER BY ctid')] == [
        "1.500000000", "-0.001000000", "0.000000000", "12345678901234567890.123456789"
    ]
    assert in_order(engine, table) == [
        (Decimal("1.5"), Decimal("1.50"), Decimal(10) ** 50, 0.1, 123),
        (Decimal("-0.001"), Decimal("2.35"), None, None, None),  # NUMERIC(10, 2) rounds as the server does
        (Decimal(0), None, None, None, None),
        (Decimal("12345678901234567890.123456789"), Decimal("-9.99"), Decimal("-1E-20"), -2.5, -10_000_000_000),
    ]


def test_dictionary_columns(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("id", sa.INTEGER), sa.Column("kind", sa.VARCHAR(8)), sa.Column("code", sa.SMALLINT),
                     sa.Column("tag", sa.TEXT))
    kind = pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1], pa.int8()), pa.array(["b", "a"]))
    code = pa.array([7, 7, 8, None]).dictionary_encode()
    # A null among the dictionary's values.
    tag = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1, 0], pa.int32()), pa.array(["t", None], pa.large_string()))
    ingest_one(engine, table, (table, pa.table({"id": [1, 2, 3, 4], "kind": kind, "code": code, "tag": tag})))
    assert in_order(engine, table) == [(1, "a", 7, "t"), (2, "b", 7, None), (3, None, 8, None), (4, "a", None, "t")]


def test_text_binary_and_uuid_layouts(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(
        schema, sa.Column("id", sa.INTEGER), sa.Column("s", sa.TEXT), sa.Column("ls", sa.VARCHAR(8)), sa.Column("sv", sa.TEXT),
        sa.Column("b", postgresql.BYTEA), sa.Column("bv", postgresql.BYTEA), sa.Column("b_from_s", postgresql.BYTEA),
        sa.Column("u16", postgresql.UUID(as_uuid=True)), sa.Column("u_bin", postgresql.UUID(as_uuid=True)),
        sa.Column("u_text", postgresql.UUID(as_uuid=True)), sa.Column("u_ext", postgresql.UUID(as_uuid=True)),
        sa.Column("j", postgresql.JSON), sa.Column("jb", postgresql.JSONB),
    )
    u = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    uuid_ext = pa.array([u.bytes], pa.binary(16))
    if hasattr(pa, "uuid"):  # pyarrow's UUID extension type (what pandas makes of uuid.UUID objects)
        uuid_ext = pa.ExtensionArray.from_storage(pa.uuid(), uuid_ext)
    columns = {
        "s": pa.array(["tab\there"]), "ls": pa.array(["é"], pa.large_string()),
        "sv": pa.array(["a string longer than twelve bytes"], STRING_VIEW),
        "b": pa.array([b"\x00\x01"], pa.large_binary()), "bv": pa.array([b"\xff"], BINARY_VIEW),
        "b_from_s": pa.array(["é"]), "u16": pa.array([u.bytes], pa.binary(16)), "u_bin": pa.array([u.bytes], pa.binary()),
        "u_ext": uuid_ext, "j": pa.array(['{"b": 1, "a": [null]}']), "jb": pa.array(['{"b": 1, "a": [null]}'], STRING_VIEW),
    }
    # All binary COPY, then text COPY: a UUID as text is the server's to read.
    binary = pa.table({"id": [1], "u_text": pa.array([u.bytes], BINARY_VIEW), **columns})
    text = pa.table({"id": [2], "u_text": pa.array([str(u).upper()]), **columns})
    ingest_one(engine, table, (table, binary), (table, text))
    assert read_rows(engine, table, order_by=["id"]) == [
        (i, "tab\there", "é", "a string longer than twelve bytes", b"\x00\x01", b"\xff", "é".encode(), u, u, u, u,
         {"b": 1, "a": [None]}, {"a": [None], "b": 1})
        for i in (1, 2)
    ]


def test_lists_into_arrays_and_vectors(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("id", sa.INTEGER), sa.Column("ints", postgresql.ARRAY(sa.INTEGER)),
                     sa.Column("texts", postgresql.ARRAY(sa.TEXT)), sa.Column("days", postgresql.ARRAY(sa.DATE)))
    data = pa.table({
        "id": [1, 2],
        "ints": pa.array([[1, None, 3], None], pa.large_list(pa.int32())),
        "texts": pa.array([['a "q"', "b,c"], []], pa.list_(STRING_VIEW)),
        "days": pa.array([[datetime.date(2024, 1, 2)], [None]]),
    })
    ingest_one(engine, table, (table, data))
    assert read_rows(engine, table, order_by=["id"]) == [
        (1, [1, None, 3], ['a "q"', "b,c"], [datetime.date(2024, 1, 2)]),
        (2, None, [], [None]),
    ]


def test_text_into_any_column_is_read_by_the_server(engine: sa.engine.Engine, schema: str) -> None:
    table = table_of(schema, sa.Column("i", sa.INTEGER), sa.Column("d", sa.DATE), sa.Column("ip", postgresql.INET),
                     sa.Column("ts", sa.TIMESTAMP))
    data = pa.table({"i": [" 42 "], "d": ["4 July 1776"], "ip": ["192.168.0.1/24"], "ts": pa.array(["epoch"], pa.large_string())})
    ingest_one(engine, table, (table, data))
    assert query(engine, f'SELECT i, d::text, ip::text, ts::text FROM "{schema}".t') == [
        (42, "1776-07-04", "192.168.0.1/24", "1970-01-01 00:00:00")
    ]


def test_same_values_as_tuple_rows_and_as_arrow_store_the_same(engine: sa.engine.Engine, schema: str) -> None:
    types = [sa.SMALLINT, sa.BIGINT, postgresql.DOUBLE_PRECISION, sa.REAL, sa.NUMERIC, sa.BOOLEAN, sa.TEXT, sa.DATE,
             sa.TIMESTAMP, sa.TIMESTAMP(timezone=True), sa.TIME, postgresql.INTERVAL, postgresql.BYTEA]
    values = [
        (-3, 2**62, 0.1, 1.5, Decimal("1.230"), True, "x\\y", datetime.date(1, 1, 1), datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
         datetime.datetime(2024, 1, 2, tzinfo=PARIS), datetime.time(1, 2, 3), datetime.timedelta(days=-2, microseconds=1), b"\x00"),
        (None,) * 13,
    ]
    tuples = table_of(schema, sa.Column("id", sa.INTEGER), *(sa.Column(f"c{k}", t) for k, t in enumerate(types)), name="tuples")
    arrow = table_of(schema, sa.Column("id", sa.INTEGER), *(sa.Column(f"c{k}", t) for k, t in enumerate(types)), name="arrow")
    ingest_one(engine, tuples, *((tuples, (i,) + v) for i, v in enumerate(values)))
    data = pa.table({"id": [0, 1], **{f"c{k}": [v[k] for v in values] for k in range(len(types))}})
    ingest_one(engine, arrow, (arrow, data))
    for k in range(len(types)):
        sql = 'SELECT c{k}::text FROM "{s}".{t} ORDER BY id'
        assert query(engine, sql.format(k=k, s=schema, t="arrow")) == query(engine, sql.format(k=k, s=schema, t="tuples")), types[k]
