"""Columns of ints, floats, bools, strs, Decimals, naive datetimes and dates are
written as Arrow arrays by the library (goext/capi/walk.c) when a slab's
values are all of the column's exact type or None; pyarrow's path makes
the rest. The library's arrays are the pyarrow path's, and a table
ingested either way stores the same rows."""

from __future__ import annotations

import datetime
import enum
import random
from decimal import Decimal
from typing import Any, Dict, List, Tuple

import pyarrow as pa
import pytest
import sqlalchemy as sa
from helpers import Batches, read_rows, run_ingest
from sqlalchemy.dialects import postgresql

from pg_bulk_ingest import _arrow


class Colour(enum.IntEnum):
    RED = 1


class Count(int):
    pass


class Ratio(float):
    pass


class Tag(str):
    pass


class Money(Decimal):
    pass


class Moment(datetime.datetime):
    pass


UTC = datetime.timezone.utc
DAY = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999)

# Per column type: values of the exact type the library writes (and None),
# then others the pyarrow path converts or refuses; None stands for a NULL.
COLUMNS: Dict[str, Tuple[Any, List[Any], List[Any]]] = {
    "i": (
        sa.BIGINT,
        [0, 1, -1, 7, 2**31, 2**63 - 1, -(2**63), None],
        [True, False, Colour.RED, Count(5), 2.5, Decimal("3.7"), "42"],
    ),
    "f": (
        postgresql.DOUBLE_PRECISION,
        [0.0, -0.0, 1.5, 1 / 3, 1e300, -5e-324, float("inf"), float("-inf"), float("nan"), None],
        [1, 2**53 + 1, Ratio(0.5), 10**30],
    ),
    "b": (sa.BOOLEAN, [True, False, None], [1, 0, "t", "false"]),
    "s": (
        sa.VARCHAR,
        ["", "a", "name-1", "é", "€uro", "😀\U0010ffff", "tab\tnew\nline", "x" * 300, None],
        [Tag("tag"), 5, 2.5],
    ),
    "n": (
        sa.NUMERIC,
        [Decimal("1.50"), Decimal("-0"), Decimal("1E+3"), Decimal("NaN"), Decimal("-Infinity"), Decimal(2**70), None],
        [3, 2.5, Money("9.99"), "7.25"],
    ),
    "t": (
        sa.TIMESTAMP,
        [
            datetime.datetime(1970, 1, 1),
            datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
            datetime.datetime(1, 1, 1),
            datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
            datetime.datetime(2000, 2, 29, 12, 0, 0, 1),
            datetime.datetime(2024, 11, 3, 1, 30, fold=1),
            DAY,
            None,
        ],
        [datetime.date(2024, 3, 1), Moment(2020, 1, 1), "2024-01-01 00:00:00"],
    ),
    "d": (
        sa.DATE,
        [datetime.date(1970, 1, 1), datetime.date(1969, 12, 31), datetime.date(1, 1, 1), datetime.date(9999, 12, 31),
         datetime.date(2000, 2, 29), None],
        [datetime.datetime(2020, 1, 1, 12), "2024-01-01"],
    ),
}

# Values whose conversion fails on the pyarrow path too, or which the
# server refuses.
REFUSED = {"f": [True], "i": [2**63, -(2**63) - 1, 10**30], "s": ["lone \ud800 surrogate"], "t": [DAY.replace(tzinfo=UTC)]}


def table_of(metadata: sa.MetaData, name: str, schema: Any = None) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.INTEGER, primary_key=True),
        *(sa.Column(c, type_) for c, (type_, _, _) in COLUMNS.items()),
        schema=schema,
    )


def random_rows(rng: random.Random, n: int, first: int, refused: bool) -> List[Tuple[Any, ...]]:
    """n rows; each column's values all of its exact type or None (what the
    library writes), or mixed with others, or, when refused, with one the
    conversion refuses."""
    columns = []
    for c, (_, exact, other) in COLUMNS.items():
        pool = exact if rng.random() < 0.5 else exact + other
        values = [rng.choice(pool) for _ in range(n)]
        if refused and c in REFUSED and rng.random() < 0.2:
            values[rng.randrange(n)] = rng.choice(REFUSED[c])
        columns.append(values)
    return [(first + i, *row) for i, row in enumerate(zip(*columns))]


def arrays_or_error(converter: _arrow.TableConverter, rows: List[Tuple[Any, ...]], native: bool) -> Any:
    _arrow._NATIVE, was = native, _arrow._NATIVE
    try:
        return [comparable(a) for a in converter.arrays(rows, 0, "b")]
    except Exception as e:
        return type(e), str(e)
    finally:
        _arrow._NATIVE = was


def comparable(array: pa.Array) -> Any:
    """The array's type, validity and values; doubles as their bits, so
    that NaNs compare."""
    if array.type == pa.float64():
        return array.type, array.is_null().to_pylist(), array.view(pa.int64()).to_pylist()
    return array.type, array.to_pylist()


@pytest.mark.skipif(not _arrow._NATIVE, reason="the library reads CPython's objects with a GIL only")
def test_the_library_writes_the_arrays_pyarrow_makes() -> None:
    converter = _arrow.TableConverter(table_of(sa.MetaData(), "t"))
    rng = random.Random(15)
    walked = 0
    for slab in range(400):
        rows = random_rows(rng, rng.randint(1, 40), 0, refused=True)
        walked += sum(conv.walked(rows, c) is not None for c, conv in enumerate(converter.columns))
        assert arrays_or_error(converter, rows, True) == arrays_or_error(converter, rows, False), rows
    assert walked > 400 * len(COLUMNS) // 3  # the library wrote many of them


@pytest.mark.skipif(not _arrow._NATIVE, reason="the library reads CPython's objects with a GIL only")
def test_the_library_writes_columns_of_exact_types_only() -> None:
    converter = _arrow.TableConverter(table_of(sa.MetaData(), "t"))
    for c, (_, exact, other) in COLUMNS.items():
        position = list(converter.names).index(c)
        conv = converter.columns[position]
        assert conv.walked([(0,) * position + (v,) for v in exact], position) is not None, c
        for v in other + REFUSED.get(c, []):
            assert conv.walked([(0,) * position + (v,) for v in exact + [v]], position) is None, (c, v)
    # Not rows of tuples, or too short: pyarrow's path (which says so).
    assert converter.columns[0].walked([[1]], 0) is None
    strs = converter.columns[4]
    assert strs.walked([(0, 1, 2, 3, "s")], 4) is not None
    assert strs.walked([(0, 1, 2, 3, "s"), (0, 1)], 4) is None


def test_ingested_rows_are_the_same_either_way(
    engine: sa.engine.Engine, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(51)
    rows: List[Tuple[Any, ...]] = []
    while len(rows) < 3000:
        rows += random_rows(rng, rng.randint(1, 700), len(rows), refused=False)
    stored = []
    for name, native in (("walked", True), ("pyarrow", False)):
        monkeypatch.setattr(_arrow, "_NATIVE", native and _arrow._NATIVE)
        metadata = sa.MetaData()
        table = table_of(metadata, name, schema)
        run_ingest(engine, metadata, Batches(("hwm", None, [(table, row) for row in rows])))
        stored.append(read_rows(engine, table, order_by=["id"]))
    assert len(stored[0]) == len(rows)
    assert repr(stored[0]) == repr(stored[1])  # repr: NaN is not equal to itself
