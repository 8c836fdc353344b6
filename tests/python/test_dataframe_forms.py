"""Every tabular form a batch item may take (upstream's pandas and polars
DataFrames, pyarrow Table and RecordBatchReader; ours' RecordBatch and
Arrow PyCapsule objects) stores the same values as tuple rows of the same
data: each case ingests the data both ways into twin tables and compares
them on the server, as text and by the types' own equality."""

from __future__ import annotations

import datetime
import json
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa
import pytest
import sqlalchemy as sa
from helpers import Batches, qi, query, run_ingest, table_exists
from sqlalchemy.dialects import postgresql
from test_arrow_input import StreamOnly

from pg_bulk_ingest import IngestError, Upsert

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")

COLUMNS: List[Tuple[str, Any]] = [
    ("id", sa.INTEGER),
    ("i2", sa.SMALLINT),
    ("i4", sa.INTEGER),
    ("i8", sa.BIGINT),
    ("n", sa.NUMERIC),
    ("ns", sa.NUMERIC(30, 9)),
    ("f", postgresql.DOUBLE_PRECISION),
    ("t", sa.TEXT),
    ("vc", sa.VARCHAR(40)),
    ("b", sa.BOOLEAN),
    ("d", sa.DATE),
    ("ts", sa.TIMESTAMP),
    ("tz_paris", sa.TIMESTAMP(timezone=True)),
    ("tz_kolkata", sa.TIMESTAMP(timezone=True)),
    ("tz_new_york", sa.TIMESTAMP(timezone=True)),
    ("iv", postgresql.INTERVAL),
    ("tm", sa.TIME),
    ("u", postgresql.UUID),
    ("by", postgresql.BYTEA),
    ("j", postgresql.JSONB),
]
NAMES = [name for name, _ in COLUMNS]

# The same data as tuple rows. JSONB takes a Python value in a tuple row
# and JSON text in Arrow data (Arrow has no JSON type of its own): JSON
# carries both to the same stored value.
JSON_VALUES = [{"a": [1, 2.5, None]}, ["x", {"y": True}], "text", None]
ROWS: List[Tuple[Any, ...]] = [
    (
        1, 1, 2, 3, Decimal("0.1"), Decimal("0.1"), 0.1, "plain", "plain", True,
        datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
        datetime.datetime(2024, 3, 31, 1, 30, tzinfo=PARIS),  # an hour before the clocks go forward
        datetime.datetime(2024, 1, 1, 0, 0, tzinfo=KOLKATA),
        datetime.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK),  # the second 01:30
        datetime.timedelta(days=1, hours=2, microseconds=3), datetime.time(1, 2, 3, 4),
        uuid.UUID("12345678-1234-5678-1234-567812345678"), b"\x00\x01\xff", JSON_VALUES[0],
    ),
    (
        2, -32768, -2**31, -2**63, Decimal("12345678901234567890.123456789"), Decimal("12345678901234567890.123456789"),
        1 / 3, "ünïcödé ✓ \t tab\nnewline \\ backslash \"quote\"", "", False,
        datetime.date(1, 1, 1), datetime.datetime(1970, 1, 1),
        datetime.datetime(1900, 6, 1, 12, tzinfo=PARIS),  # Paris mean time: a sub-minute offset
        datetime.datetime(2038, 1, 19, 3, 14, 8, tzinfo=KOLKATA),
        datetime.datetime(2024, 7, 4, 12, 0, 0, 1, tzinfo=NEW_YORK),
        datetime.timedelta(days=-2, microseconds=1), datetime.time(23, 59, 59, 999999),
        uuid.UUID("00000000-0000-0000-0000-000000000000"), b"", JSON_VALUES[1],
    ),
    (
        3, 32767, 2**31 - 1, 2**63 - 1, Decimal("-98765.000000001"), Decimal("-3"), -1e300, "NULL", "\\N", True,
        datetime.date(9999, 12, 31), datetime.datetime(2000, 1, 1, 0, 0, 0, 1),
        datetime.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS),  # the second 02:30
        datetime.datetime(1950, 1, 1, tzinfo=KOLKATA),
        datetime.datetime(2024, 3, 10, 3, 0, tzinfo=NEW_YORK),
        datetime.timedelta(0), datetime.time(0, 0),
        uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff"), bytes(range(256)), JSON_VALUES[2],
    ),
    (4,) + (None,) * (len(COLUMNS) - 1),
]
NOT_NULL = ROWS[:3]


def json_text(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value)


def column(rows: Sequence[Tuple[Any, ...]], name: str) -> List[Any]:
    k = NAMES.index(name)
    return [r[k] for r in rows]


def arrow_columns(rows: Sequence[Tuple[Any, ...]], types: Dict[str, pa.DataType]) -> pa.Table:
    """rows as a pyarrow Table, a column of types[name] per name (the
    default pyarrow infers otherwise); UUIDs as their 16 bytes, JSON as text."""
    arrays = {}
    for name in NAMES:
        type_ = types.get(name)
        text = type_ is not None and (pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_string_view(type_))
        values = column(rows, name)
        if name == "j":
            values = [json_text(v) for v in values]
        elif text:
            values = [None if v is None else str(v) for v in values]
        elif name == "u":
            values = [None if v is None else v.bytes for v in values]
        arrays[name] = pa.array(values, type_)
    return pa.table(arrays)


PYARROW_TYPES = {
    "id": pa.int32(), "i2": pa.int16(), "i4": pa.int32(), "i8": pa.int64(),
    "n": pa.string(),  # digits as text: any scale, kept
    "ns": pa.decimal128(30, 9), "u": pa.binary(16), "tz_paris": pa.timestamp("us", "Europe/Paris"),
    "tz_kolkata": pa.timestamp("ms", "Asia/Kolkata"), "tz_new_york": pa.timestamp("ns", "America/New_York"),
    "iv": pa.duration("us"), "tm": pa.time64("us"), "vc": pa.large_string(), "j": pa.string(),
}


def pyarrow_table(rows: Sequence[Tuple[Any, ...]]) -> pa.Table:
    return arrow_columns(rows, PYARROW_TYPES)


def record_batch_reader(rows: Sequence[Tuple[Any, ...]]) -> pa.RecordBatchReader:
    """The other string layouts, in a reader of one-row batches."""
    table = arrow_columns(rows, {**PYARROW_TYPES, "n": pa.string_view(), "t": pa.large_string(), "vc": pa.string_view(),
                                 "j": pa.large_string(), "u": pa.string(), "by": pa.large_binary()})
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))


def record_batch(rows: Sequence[Tuple[Any, ...]]) -> pa.RecordBatch:
    return pyarrow_table(rows).combine_chunks().to_batches()[0]


def pycapsule_stream(rows: Sequence[Tuple[Any, ...]]) -> StreamOnly:
    return StreamOnly(pyarrow_table(rows))


def pandas_frame(rows: Sequence[Tuple[Any, ...]]) -> Any:
    """pandas' nullable dtypes, Decimal objects, tz-aware datetimes, UUID
    objects (pyarrow's arrow.uuid extension), and JSON as text."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "id": pd.array(column(rows, "id"), "Int32"),
            "i2": pd.array(column(rows, "i2"), "Int16"),
            "i4": pd.array(column(rows, "i4"), "Int32"),
            "i8": pd.array(column(rows, "i8"), "Int64"),
            "n": pd.Series(column(rows, "n"), dtype=object),
            "ns": pd.Series(column(rows, "ns"), dtype=object),
            "f": pd.array(column(rows, "f"), "Float64"),
            "t": pd.Series(column(rows, "t"), dtype=object),
            "vc": pd.Series(column(rows, "vc"), dtype="string"),
            "b": pd.array(column(rows, "b"), "boolean"),
            "d": pd.Series(column(rows, "d"), dtype=object),
            "ts": pd.Series(column(rows, "ts"), dtype="datetime64[us]"),
            **{
                name: pd.Series([pd.NaT if v is None else pd.Timestamp(v) for v in column(rows, name)],
                                dtype=f"datetime64[us, {zone}]")
                for name, zone in (("tz_paris", PARIS), ("tz_kolkata", KOLKATA), ("tz_new_york", NEW_YORK))
            },
            "iv": pd.Series(column(rows, "iv"), dtype="timedelta64[us]"),
            "tm": pd.Series(column(rows, "tm"), dtype=object),
            "u": pd.Series(column(rows, "u"), dtype=object),
            "by": pd.Series(column(rows, "by"), dtype=object),
            "j": pd.Series([json_text(v) for v in column(rows, "j")], dtype=object),
        }
    )
    frame.index = pd.RangeIndex(10, 10 + len(rows))  # not a column
    return frame


def pandas_numpy_frame(rows: Sequence[Tuple[Any, ...]]) -> Any:
    """numpy's dtypes (no NULLs in its integers), pandas' str dtype, and
    the columns in another order."""
    np = pytest.importorskip("numpy")
    frame = pandas_frame(rows)
    for name, dtype in (("id", np.int32), ("i2", np.int16), ("i4", np.int32), ("i8", np.int64), ("f", np.float64),
                        ("b", np.bool_), ("t", "str"), ("vc", "str"), ("j", "str")):
        frame[name] = frame[name].astype(dtype)
    return frame[list(reversed(NAMES))]


def polars_frame(rows: Sequence[Tuple[Any, ...]], digits: bool) -> Any:
    """polars' types, NUMERIC as Decimal or (digits) String, UUIDs as text
    and JSON as text."""
    pl = pytest.importorskip("polars")
    return pl.DataFrame(
        {
            "id": pl.Series(column(rows, "id"), dtype=pl.Int32),
            "i2": pl.Series(column(rows, "i2"), dtype=pl.Int16),
            "i4": pl.Series(column(rows, "i4"), dtype=pl.Int32),
            "i8": pl.Series(column(rows, "i8"), dtype=pl.Int64),
            "n": pl.Series([None if v is None else str(v) for v in column(rows, "n")] if digits else column(rows, "n"),
                           dtype=pl.String if digits else pl.Decimal(38, 9)),
            "ns": pl.Series([None if v is None else str(v) for v in column(rows, "ns")] if digits else column(rows, "ns"),
                            dtype=pl.String if digits else pl.Decimal(30, 9)),
            "f": pl.Series(column(rows, "f"), dtype=pl.Float64),
            "t": pl.Series(column(rows, "t"), dtype=pl.String),
            "vc": pl.Series(column(rows, "vc"), dtype=pl.String),
            "b": pl.Series(column(rows, "b"), dtype=pl.Boolean),
            "d": pl.Series(column(rows, "d"), dtype=pl.Date),
            "ts": pl.Series(column(rows, "ts"), dtype=pl.Datetime("us")),
            **{
                name: pl.Series(column(rows, name), dtype=pl.Datetime("us", zone))
                for name, zone in (("tz_paris", "Europe/Paris"), ("tz_kolkata", "Asia/Kolkata"),
                                   ("tz_new_york", "America/New_York"))
            },
            "iv": pl.Series(column(rows, "iv"), dtype=pl.Duration("us")),
            "tm": pl.Series(column(rows, "tm"), dtype=pl.Time),
            "u": pl.Series([None if v is None else str(v) for v in column(rows, "u")], dtype=pl.String),
            "by": pl.Series(column(rows, "by"), dtype=pl.Binary),
            "j": pl.Series([json_text(v) for v in column(rows, "j")], dtype=pl.String),
        }
    )


# name: (the form of some rows, the rows it can carry, the scale of its
# NUMERIC column's values when they come with one: a decimal column has one
# scale, so 0.1 arrives as 0.100000000, equal to 0.1 but written with it).
FORMS: Dict[str, Tuple[Callable[[Sequence[Tuple[Any, ...]]], Any], List[Tuple[Any, ...]], Optional[int]]] = {
    "pandas": (pandas_frame, ROWS, 9),
    "pandas-numpy": (pandas_numpy_frame, NOT_NULL, 9),
    "polars-decimal": (lambda rows: polars_frame(rows, False), ROWS, 9),
    "polars-string": (lambda rows: polars_frame(rows, True), ROWS, None),
    "pyarrow-table": (pyarrow_table, ROWS, None),
    "record-batch-reader": (record_batch_reader, ROWS, None),
    "record-batch": (record_batch, ROWS, None),
    "pycapsule-stream": (pycapsule_stream, ROWS, None),
}


def twin_tables(schema: str, pk: bool = False) -> Tuple[sa.Table, sa.Table]:
    def table(name: str) -> sa.Table:
        return sa.Table(name, sa.MetaData(), *(sa.Column(c, t, primary_key=pk and c == "id") for c, t in COLUMNS),
                        schema=schema)

    return table("tuples"), table("frames")


def assert_same_stored_values(engine: sa.engine.Engine, a: sa.Table, b: sa.Table, trim_numeric: bool) -> None:
    """The two tables hold the same rows: by each type's equality, and as
    text (exact digits, the same instants in the session's time zone, the
    same interval fields); with trim_numeric, the unconstrained NUMERIC
    column's text without its trailing zeros."""
    count = 'SELECT count(*) FROM {}'
    assert query(engine, count.format(qi(a.schema, a.name))) == query(engine, count.format(qi(b.schema, b.name)))
    typed = ", ".join(qi(n) for n in NAMES)
    as_text = ", ".join(
        f"trim_scale({qi(n)})::text" if n == "n" and trim_numeric else f"{qi(n)}::text" for n in NAMES
    )
    for columns in (typed, as_text):
        for x, y in ((a, b), (b, a)):
            sql = f"SELECT {columns} FROM {qi(x.schema, x.name)} EXCEPT ALL SELECT {columns} FROM {qi(y.schema, y.name)}"
            assert query(engine, sql) == [], f"rows of {x.name} not in {y.name}"


def ingest_items(engine: sa.engine.Engine, table: sa.Table, *batches: List[Any], **kwargs: Any) -> None:
    run_ingest(engine, table.metadata, Batches(*((f"hwm-{k}", None, items) for k, items in enumerate(batches))), **kwargs)


@pytest.mark.parametrize("form", list(FORMS))
def test_a_form_stores_what_tuple_rows_store(engine: sa.engine.Engine, schema: str, form: str) -> None:
    make, rows, numeric_scale = FORMS[form]
    tuples, frames = twin_tables(schema)
    ingest_items(engine, tuples, [(tuples, row) for row in rows])
    ingest_items(engine, frames, [(frames, make(rows))])
    assert_same_stored_values(engine, tuples, frames, numeric_scale is not None)
    if numeric_scale is not None:
        scales = query(engine, f"SELECT DISTINCT scale(n) FROM {qi(schema, 'frames')} WHERE n IS NOT NULL")
        assert scales == [(numeric_scale,)]


@pytest.mark.parametrize("form", list(FORMS))
def test_upsert_with_forms_overlapping_tuple_rows_keeps_the_last_of_each_key(
    engine: sa.engine.Engine, schema: str, form: str
) -> None:
    make, rows, numeric_scale = FORMS[form]
    changed = [(r[0],) + rows[(k + 1) % len(rows)][1:] for k, r in enumerate(rows)]
    # Batch 1: tuple rows of every key. Batch 2: new values of every key
    # but 1 in the form; then key 3's old values as a tuple row (they win
    # over the form's); then key 1's new values in the form (they win over
    # batch 1's). The twin gets the same as tuple rows throughout.
    later = [r for r in changed if r[0] != 1]
    again = [r for r in changed if r[0] == 1]
    tuples, frames = twin_tables(schema, pk=True)
    ingest_items(
        engine, tuples,
        [(tuples, r) for r in rows],
        [(tuples, r) for r in later] + [(tuples, rows[2])] + [(tuples, r) for r in again],
        upsert=Upsert.IF_PRIMARY_KEY,
    )
    ingest_items(
        engine, frames,
        [(frames, r) for r in rows],
        [(frames, make(later)), (frames, rows[2]), (frames, make(again))],
        upsert=Upsert.IF_PRIMARY_KEY,
    )
    assert_same_stored_values(engine, tuples, frames, numeric_scale is not None)
    assert query(engine, f"SELECT count(*) FROM {qi(schema, 'frames')}") == [(len(rows),)]


def one_column(schema: str, type_: Any) -> sa.Table:
    return sa.Table("t", sa.MetaData(), sa.Column("v", type_), schema=schema)


def test_pandas_missing_values_are_null_where_polars_keeps_nan(engine: sa.engine.Engine, schema: str) -> None:
    # pandas marks a missing float or Decimal with NaN, and pyarrow reads it
    # so (as upstream's Table.from_pandas does); polars has NULL apart.
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    floats = one_column(schema, postgresql.DOUBLE_PRECISION)
    ingest_items(engine, floats, [(floats, pd.DataFrame({"v": [1.5, float("nan")]})),
                                  (floats, pl.DataFrame({"v": [2.5, float("nan"), None]}))])
    assert query(engine, f"SELECT v::text FROM {qi(schema, 't')} ORDER BY ctid") == [("1.5",), (None,), ("2.5",), ("NaN",), (None,)]
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {qi(schema, 't')}"))
    decimals = one_column(schema, sa.NUMERIC)
    ingest_items(engine, decimals, [(decimals, pd.DataFrame({"v": pd.Series([Decimal("NaN"), Decimal("1.5")], dtype=object)}))])
    assert query(engine, f"SELECT v::text FROM {qi(schema, 't')} ORDER BY ctid") == [(None,), ("1.5",)]


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_python_values_for_jsonb_are_refused_naming_the_column(engine: sa.engine.Engine, schema: str, library: str) -> None:
    # Arrow data carries JSON as text: a column of dicts is an Arrow struct.
    module = pytest.importorskip(library)
    table = one_column(schema, postgresql.JSONB)
    data = module.DataFrame({"v": [{"a": 1}, None]})
    with pytest.raises(IngestError, match=r'table "test_\w+"\."t": column "v" \(jsonb\): values of Arrow type struct<a: int64>'):
        ingest_items(engine, table, [(table, data)])


def test_polars_columns_without_an_arrow_form_are_refused_naming_them(engine: sa.engine.Engine, schema: str) -> None:
    pl = pytest.importorskip("polars")
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.INTEGER), sa.Column("v", postgresql.BYTEA), schema=schema)
    objects = pl.DataFrame({"id": [1], "v": pl.Series([object()], dtype=pl.Object)})
    with pytest.raises(TypeError, match=r"table test_\w+\.t: .*column\(s\) 'v' of polars type Object hold Python objects"):
        ingest_items(engine, table, [(table, objects)])
    if hasattr(pl, "Int128"):
        huge = pl.DataFrame({"id": [1], "v": pl.Series([2**100], dtype=pl.Int128)})
        with pytest.raises(TypeError, match=r"table test_\w+\.t: .*column\(s\) 'v' \(Int128\)"):
            ingest_items(engine, table, [(table, huge)])
    assert not table_exists(engine, schema, "t")  # the first batch's transaction, rolled back
