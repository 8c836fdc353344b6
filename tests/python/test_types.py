"""Values of every supported type, with NULLs, read back as stored by the
ingest and as stored by a plain INSERT with bound parameters on the same
driver (the server's reading is the reference), and/or as expected."""

from __future__ import annotations

import datetime
import math
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any, Iterator, List, Optional, Sequence

import pytest
import sqlalchemy as sa
from helpers import Batches, query, read_rows, run_ingest
from sqlalchemy.dialects import postgresql


UTC = datetime.timezone.utc
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
PST = datetime.timezone(datetime.timedelta(hours=-8))
LONDON = zoneinfo.ZoneInfo("Europe/London")

def case(
    type_: Any,
    values: Sequence[Any],
    expected: Optional[Sequence[Any]] = None,
    *,
    id: str,
    texts: Optional[Sequence[str]] = None,
    reference: bool = True,
) -> Any:
    """values to send; the Python values and/or server texts expected back;
    whether to compare with a plain INSERT of the same values."""
    return pytest.param(
        type_,
        list(values),
        None if expected is None else list(expected),
        None if texts is None else list(texts),
        reference,
        id=id,
    )


CASES = [
    case(sa.SMALLINT, [0, 1, -1, 32767, -32768], id="smallint"),
    case(sa.INTEGER, [0, 7, -7, 2**31 - 1, -(2**31)], id="integer"),
    case(sa.BIGINT, [0, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63)], id="bigint"),
    case(sa.REAL, [0.0, 1.5, -0.1, 3.4e38, 1e-45, 3, float("inf"), float("-inf"), float("nan")], id="real"),
    case(
        postgresql.DOUBLE_PRECISION,
        [0.1, 1 / 3, 1e308, 5e-324, 2, float("inf"), float("-inf"), float("nan")],
        id="double",
    ),
    # psycopg2 binds -0.0 as the SQL expression -0.0, which is 0: no reference.
    case(postgresql.DOUBLE_PRECISION, [-0.0, 0.5], texts=["-0", "0.5"], id="double-negative-zero", reference=False),
    case(sa.REAL, [-0.0, 0.5], texts=["-0", "0.5"], id="real-negative-zero", reference=False),
    case(
        sa.NUMERIC,
        [
            Decimal("0"),
            Decimal("1.5"),
            Decimal("1.10"),
            Decimal("-0.000001"),
            Decimal("123456789012345678901234567890.123456789012345678901234567890"),
            Decimal("1E+20"),
            Decimal("-1E-10"),
            Decimal("NaN"),
        ],
        id="numeric-decimal",
    ),
    case(
        sa.NUMERIC,
        [0, 42, -42, 2**63 - 1, -(2**63), 10**30, -(10**40)],
        [Decimal(v) for v in [0, 42, -42, 2**63 - 1, -(2**63), 10**30, -(10**40)]],
        id="numeric-int",
    ),
    # A float becomes the number str() writes (upstream's text COPY); a
    # bound float8 parameter would be cast with 15 digits, so no reference.
    case(
        sa.NUMERIC,
        [0.1, 1 / 3, 1e-07, 1e22, -2.5, 100.0],
        [Decimal(str(v)) for v in [0.1, 1 / 3, 1e-07, 1e22, -2.5, 100.0]],
        texts=["0.1", "0.3333333333333333", "0.0000001", "10000000000000000000000", "-2.5", "100.0"],
        id="numeric-float",
        reference=False,
    ),
    case(
        sa.NUMERIC,
        [Decimal("1.5"), 2, 0.25, 10**25],
        [Decimal("1.5"), Decimal("2"), Decimal("0.25"), Decimal(10**25)],
        texts=["1.5", "2", "0.25", "10000000000000000000000000"],
        id="numeric-mixed",
        reference=False,
    ),
    case(
        sa.NUMERIC(10, 2),
        [Decimal("1.005"), 1.005, 3, Decimal("-2.5")],
        [Decimal("1.01"), Decimal("1.01"), Decimal("3.00"), Decimal("-2.50")],
        texts=["1.01", "1.01", "3.00", "-2.50"],
        id="numeric-10-2",
        reference=False,
    ),
    case(sa.BOOLEAN, [True, False], id="boolean"),
    case(
        sa.VARCHAR(20),
        ["", "abc", "ñ€😀", "x" * 20, "tab\there\nnl\\bs", "\\N", "NULL"],
        id="varchar",
    ),
    case(
        sa.TEXT,
        ["", "plain", "line\r\nbreak\ttab\\back", "\\N", '"quoted"', "ñ€😀" * 1000, "x" * 200_000],
        id="text",
    ),
    case(
        sa.DATE,
        [datetime.date(2024, 2, 29), datetime.date(2000, 1, 1), datetime.date(1969, 12, 31), datetime.date(1, 1, 1),
         datetime.date(9999, 12, 31)],
        id="date",
    ),
    case(
        sa.TIMESTAMP,
        [
            datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
            datetime.datetime(1970, 1, 1),
            datetime.datetime(1899, 12, 31, 23, 59, 59, 1),
            datetime.datetime(1, 1, 1),
            datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
        ],
        id="timestamp",
    ),
    case(
        sa.TIMESTAMP(timezone=True),
        [
            datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
            datetime.datetime(2024, 6, 1, 12, 0, 0, 654321, tzinfo=IST),
            datetime.datetime(1960, 1, 1, 0, 0, tzinfo=PST),
            datetime.datetime(2024, 7, 1, 9, 30, tzinfo=LONDON),
            datetime.datetime(2024, 1, 1, 9, 30, tzinfo=LONDON),
        ],
        id="timestamptz",
    ),
    case(postgresql.BYTEA, [b"", b"\x00\xff\x10", bytes(range(256)), b"\\x41", b"\\N"], id="bytea"),
    case(
        postgresql.JSON,
        [{"a": 1, "b": [1, 2, None], "c": {"d": "e"}}, [1, "a", None], "a string", "", 1, 1.5, -3, True, False,
         {"k": "ñ€😀", "tab": "\t", "q": '"'}, [], {}],
        id="json",
    ),
    case(
        postgresql.JSONB,
        [{"b": [1, 2, None], "a": 1, "c": {"d": "e"}}, [1, "a", None], "a string", "", 1, 1.5, -3, True, False,
         {"k": "ñ€😀", "tab": "\t", "q": '"'}, [], {}],
        id="jsonb",
    ),
]


def norm(v: Any) -> Any:
    """Values comparable with ==: NaNs become a marker."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, Decimal) and v.is_nan():
        return "NaN"
    return v


def make_table(metadata: sa.MetaData, schema: str, name: str, type_: Any) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("v", type_),
        schema=schema,
    )


def text_of(engine: sa.engine.Engine, schema: str, name: str) -> List[Any]:
    return query(engine, f'SELECT id, v::text FROM "{schema}"."{name}" ORDER BY id')


@pytest.mark.parametrize("type_, values, expected, texts, reference", CASES)
def test_values_round_trip_with_nulls(
    engine: sa.engine.Engine,
    schema: str,
    type_: Any,
    values: List[Any],
    expected: Optional[List[Any]],
    texts: Optional[List[str]],
    reference: bool,
) -> None:
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", type_)
    # NULLs first, between and last.
    sent = [None] + values[: len(values) // 2] + [None] + values[len(values) // 2 :] + [None]
    run_ingest(engine, metadata, Batches((None, None, [(table, (i, v)) for i, v in enumerate(sent)])))

    got = read_rows(engine, table, order_by=["id"])
    assert [r[0] for r in got] == list(range(len(sent)))
    null_ids = [i for i, v in enumerate(sent) if v is None]
    assert [r[0] for r in query(engine, f'SELECT id FROM "{schema}".t WHERE v IS NULL ORDER BY id')] == null_ids
    got_values = [norm(r[1]) for r in got if r[0] not in null_ids]

    if expected is not None:
        assert got_values == [norm(v) for v in expected]
    if texts is not None:
        # What the server stored, as its text: catches 3 vs 3.00, -0 vs 0.
        assert [t for i, t in text_of(engine, schema, "t") if i not in null_ids] == texts

    if reference:
        ref = make_table(sa.MetaData(), schema, "ref", type_)
        with engine.begin() as conn:
            ref.create(conn)
            conn.execute(ref.insert(), [{"id": i, "v": v} for i, v in enumerate(sent) if v is not None])
        ref_rows = read_rows(engine, ref, order_by=["id"])
        assert got_values == [norm(r[1]) for r in ref_rows]
        if expected is None:
            assert got_values == [norm(v) for v in values]
        # What the server stored, as text, is the same.
        assert [r for r in text_of(engine, schema, "t") if r[0] not in null_ids] == text_of(engine, schema, "ref")


@pytest.fixture
def new_york_engine(database_url: str, driver: str, schema: str) -> Iterator[sa.engine.Engine]:
    """An engine whose sessions have the time zone America/New_York."""
    import pgcluster

    kwargs = {} if int(sa.__version__.split(".")[0]) >= 2 else {"future": True}
    engine = sa.create_engine(
        pgcluster.with_driver(database_url, driver),
        connect_args={"options": "-c timezone=America/New_York"},
        **kwargs,
    )
    yield engine
    engine.dispose()


def test_timestamptz_aware_values_are_instants_whatever_the_session_time_zone(
    new_york_engine: sa.engine.Engine, schema: str
) -> None:
    engine = new_york_engine
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", sa.TIMESTAMP(timezone=True))
    values = [datetime.datetime(2024, 6, 1, 12, 0, tzinfo=IST), datetime.datetime(2024, 12, 1, 0, 0, tzinfo=UTC)]
    run_ingest(engine, metadata, Batches((None, None, [(table, (i, v)) for i, v in enumerate(values)])))
    assert [r[1] for r in read_rows(engine, table)] == values
    assert query(engine, f'SELECT extract(epoch FROM v)::bigint FROM "{schema}".t ORDER BY id') == [
        (int(v.timestamp()),) for v in values
    ]


def test_timestamptz_naive_values_are_read_in_the_session_time_zone(
    new_york_engine: sa.engine.Engine, schema: str
) -> None:
    engine = new_york_engine
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", sa.TIMESTAMP(timezone=True))
    naive = datetime.datetime(2024, 6, 1, 12, 0)
    run_ingest(engine, metadata, Batches((None, None, [(table, (1, naive))])))
    assert query(engine, f'SELECT v::text FROM "{schema}".t') == [("2024-06-01 12:00:00-04",)]


# Values upstream stores through str()/int() that are not of the column's
# natural Python type (see the contract's "Values").
@pytest.mark.parametrize(
    "type_, value, expected_text",
    [
        pytest.param(sa.VARCHAR(10), 5, "5", id="int-to-varchar"),
        pytest.param(sa.TEXT, Decimal("1.50"), "1.50", id="decimal-to-text"),
        pytest.param(sa.TEXT, uuid.UUID(int=1), str(uuid.UUID(int=1)), id="uuid-to-text"),
        pytest.param(sa.INTEGER, 1.0, "1", id="float-to-integer"),
        pytest.param(sa.INTEGER, True, "1", id="bool-to-integer"),
        pytest.param(sa.BIGINT, "42", "42", id="str-to-bigint"),
        pytest.param(sa.NUMERIC, "1.25", "1.25", id="str-to-numeric"),
        pytest.param(sa.DATE, "2024-01-02", "2024-01-02", id="str-to-date"),
        pytest.param(
            sa.TIMESTAMP, "2024-01-02 03:04:05", "2024-01-02 03:04:05", id="str-to-timestamp"),
        pytest.param(sa.TIMESTAMP, datetime.date(2024, 1, 2), "2024-01-02 00:00:00", id="date-to-timestamp"),
        pytest.param(sa.BOOLEAN, "true", "true", id="str-to-boolean"),
    ],
)
def test_values_of_other_python_types_are_stored_like_upstream(
    engine: sa.engine.Engine, schema: str, type_: Any, value: Any, expected_text: str
) -> None:
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", type_)
    run_ingest(engine, metadata, Batches((None, None, [(table, (1, value)), (table, (2, None))])))
    assert text_of(engine, schema, "t") == [(1, expected_text), (2, None)]
