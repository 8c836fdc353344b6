"""Data fidelity: every value is stored as upstream stores it, that is as
the server reads upstream's text of it (helpers.upstream_text). Each case
ingests values (with NULLs) through ingest() and inserts the same values as
`CAST(:text AS <type>)` of upstream's text into a reference table; both are
read back through SQLAlchemy and as the server's text, on both drivers.
What upstream rejects is rejected, and leaves earlier batches intact."""

from __future__ import annotations

import datetime
import enum
import ipaddress
import math
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any, List

import pytest
import sqlalchemy as sa
from helpers import Batches, ddl_type, has_extension, query, read_rows, run_ingest, stored_high_watermark, upstream_text
from sqlalchemy.dialects import postgresql

from pg_bulk_ingest import IngestError, ingest

if int(sa.__version__.split(".")[0]) < 2:
    pytest.skip("these cases use SQLAlchemy 2's types (UUID, DOUBLE_PRECISION, DOMAIN)", allow_module_level=True)
np = pytest.importorskip("numpy")
pgvector_sqlalchemy = pytest.importorskip("pgvector.sqlalchemy")
VECTOR = pgvector_sqlalchemy.VECTOR

UTC = datetime.timezone.utc
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
NPT = datetime.timezone(datetime.timedelta(hours=5, minutes=45))
NST = datetime.timezone(-datetime.timedelta(hours=3, minutes=30))
PST = datetime.timezone(datetime.timedelta(hours=-8))
ODD = datetime.timezone(datetime.timedelta(hours=1, minutes=2, seconds=3))
LONDON = zoneinfo.ZoneInfo("Europe/London")


class Colour(enum.Enum):
    RED = "red"


class XML(sa.types.UserDefinedType):  # type: ignore[type-arg]
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "XML"


class IntDecorator(sa.types.TypeDecorator):  # type: ignore[type-arg]
    impl = sa.INTEGER
    cache_ok = True


MIDPOINT = 1 + 2**-24  # halfway between two REALs: rounds differently from its str()
TEXTS = ["", "plain", "tab\there", "nl\nhere", "cr\rhere", "back\\slash", '"quoted"', "'single'", "\\N", "NULL",
         "{}", "a,b", "ñ€😀𝄞", " lead and trail "]

# (id, type, values): values of the column's natural Python type and of
# others that upstream stores through str()/int()/json.dumps().
SCALARS = [
    ("smallint", sa.SMALLINT, [0, 1, -1, 32767, -32768, True, False, "42", " 7 ", 3.9, -3.9, Decimal("12.7"),
                               np.int16(5)]),
    ("integer", sa.INTEGER, [0, 2**31 - 1, -(2**31), True, "-12", 1.0, np.int64(9), Decimal("-3.5")]),
    ("bigint", sa.BIGINT, [0, 2**63 - 1, -(2**63), 2**31, False, "9223372036854775807", 1e18]),
    ("real", sa.REAL, [0.0, -0.0, 1.5, 0.1, 3.4e38, 1e-45, float("nan"), float("inf"), float("-inf"), 3,
                       16777217, MIDPOINT, Decimal("0.1"), "1.25", "-Infinity", np.float32(0.1), np.float64(0.2)]),
    ("double", postgresql.DOUBLE_PRECISION, [0.1, 1 / 3, 1e308, 5e-324, -0.0, float("nan"), float("inf"),
                                             float("-inf"), 2, 2**53 + 1, 10**20, Decimal("0.1"), "1e3",
                                             np.float32(0.1), np.float64(0.2), np.int64(7)]),
    ("float", sa.FLOAT, [0.1, -0.0, 7]),
    ("numeric", sa.NUMERIC, [Decimal("0"), Decimal("-0"), Decimal("1.10"), Decimal("-0.000001"),
                             Decimal("123456789012345678901234567890.123456789012345678901234567890"),
                             Decimal("1E+20"), Decimal("-1E-10"), Decimal("10000.0000"), Decimal("0E-10"),
                             Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), 10**40, -7, 0.1, 1e22,
                             1e-7, float("nan"), float("inf"), "1.25", " 3 ", "-Infinity", Decimal("99999999.99999")]),
    ("numeric-10-2", sa.NUMERIC(10, 2), [Decimal("1.005"), 1.005, 3, Decimal("-2.5"), Decimal("99999999.994"),
                                         "0.125", Decimal("NaN")]),
    ("numeric-6-5", sa.NUMERIC(6, 5), [Decimal("1.23456"), Decimal("-9.99999"), 0, Decimal("0.000005")]),
    ("numeric-30-7", sa.NUMERIC(30, 7), [Decimal("10000.0000"), Decimal("12345678901234567890123.4567891"),
                                         Decimal("1E+10"), Decimal("0.00000005"), Decimal("-0.00000004")]),
    ("numeric-12-4", sa.NUMERIC(12, 4), [Decimal("10000.0000"), Decimal("10000000"), Decimal("0.0001"), 10000,
                                         Decimal("99999999.99994")]),
    ("boolean", sa.BOOLEAN, [True, False, np.True_, np.False_, "true", "f", "yes", "off", 1, 0, "1", " t "]),
    ("char", sa.CHAR(5), ["", "a", "abc  ", "ñ€😀", "xxxxx", 5, "x" + " " * 10]),
    ("varchar", sa.VARCHAR, TEXTS + ["x" * 10_000, 5, 1.5, Decimal("1.50"), True, b"bytes", uuid.UUID(int=1),
                                     datetime.date(2024, 1, 2), Colour.RED, np.str_("np")]),
    ("varchar-20", sa.VARCHAR(20), TEXTS + [12345, 0.1]),
    ("text", sa.TEXT, TEXTS + ["ñ€😀" * 1000, "x" * 200_000, 7, None.__class__, [1, "a"], {"a": 1}]),
    ("bytea", postgresql.BYTEA, [b"", b"\x00\xff\x10", bytes(range(256)), b"\\x41", b"\\N", bytearray(b"ab"),
                                 memoryview(b"cd")]),
    ("date", sa.DATE, [datetime.date(2024, 2, 29), datetime.date(1, 1, 1), datetime.date(9999, 12, 31),
                       datetime.date(1969, 12, 31), "2024-01-02", "infinity", "-infinity",
                       datetime.datetime(2024, 1, 2, 23, 59), datetime.datetime(2024, 1, 2, 1, 0, tzinfo=NPT)]),
    ("time", sa.TIME, [datetime.time(0, 0), datetime.time(23, 59, 59, 999999), datetime.time(12, 34, 56, 789),
                       datetime.time(1, 2, tzinfo=NPT), "24:00:00", "12:00"]),
    ("timetz", sa.TIME(timezone=True), [datetime.time(1, 2, 3, tzinfo=NPT), datetime.time(1, 2, tzinfo=UTC),
                                        datetime.time(23, 59, 59, 999999, tzinfo=NST), datetime.time(1, 2),
                                        datetime.time(4, 5, tzinfo=LONDON), "04:05:06 PST", "04:05:06-08"]),
    ("timestamp", sa.TIMESTAMP, [datetime.datetime(2024, 2, 29, 13, 14, 15, 123456), datetime.datetime(1, 1, 1),
                                 datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
                                 datetime.datetime(1899, 12, 31, 23, 59, 59, 1), datetime.date(2024, 3, 1),
                                 datetime.datetime(2024, 1, 1, 12, 0, tzinfo=NPT),
                                 datetime.datetime(2024, 7, 1, 12, 0, tzinfo=LONDON), "infinity", "-infinity",
                                 "2024-01-02 03:04:05.123456", "2024-01-02T03:04:05"]),
    ("timestamptz", sa.TIMESTAMP(timezone=True), [
        datetime.datetime(2024, 6, 1, 12, 0, tzinfo=UTC), datetime.datetime(2024, 6, 1, 12, 0, 0, 654321, tzinfo=NPT),
        datetime.datetime(1960, 1, 1, tzinfo=NST), datetime.datetime(2024, 7, 1, 9, 30, tzinfo=LONDON),
        datetime.datetime(2024, 1, 1, 9, 30, tzinfo=LONDON), datetime.datetime(2024, 10, 27, 1, 30, fold=1, tzinfo=LONDON),
        datetime.datetime(1, 1, 1, tzinfo=NPT), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=PST),
        datetime.datetime(2024, 1, 1, tzinfo=ODD), datetime.datetime(2024, 6, 1, 12, 0),
        datetime.date(2024, 3, 1), "infinity", "2024-01-01 00:00:00+05:45"]),
    ("interval", postgresql.INTERVAL, [datetime.timedelta(0), datetime.timedelta(days=1, seconds=5),
                                       datetime.timedelta(seconds=-1), datetime.timedelta(microseconds=1),
                                       datetime.timedelta(days=-3, hours=1, microseconds=5),
                                       datetime.timedelta(days=400), datetime.timedelta(days=999999, seconds=86399),
                                       -datetime.timedelta(days=999999), datetime.timedelta.max,
                                       datetime.timedelta.min, "P1Y2M", "1 year 2 mons",
                                       "-1 day +02:03"]),
    ("uuid", sa.UUID, [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID("12345678-1234-5678-1234-567812345678"),
                       "{12345678-1234-5678-1234-567812345679}", "A0EEBC999C0B4EF8BB6D6BB9BD380A11"]),
    ("uuid-pg", postgresql.UUID, [uuid.UUID(int=5), str(uuid.UUID(int=6))]),
    ("inet", postgresql.INET, [ipaddress.ip_address("192.168.0.1"), ipaddress.ip_address("::1"),
                               ipaddress.ip_interface("10.1.2.3/8"), ipaddress.ip_network("10.0.0.0/8"),
                               "192.168.0.1/24", "2001:db8::1/64"]),
    ("cidr", postgresql.CIDR, [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"),
                               "192.168.0.0/24", "10"]),
    # Prefixes only, so that the chunk goes binary (inet.go).
    ("cidr-prefixes", postgresql.CIDR, [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"),
                                        "192.168.0.0/24", ipaddress.ip_network("::ffff:1.2.3.0/120")]),
    ("json", postgresql.JSON, [{"b": [1, 2, None], "a": 1}, [1, "a", None], "a string", "", 1, 1.5, -3, True, False,
                               {"k": "ñ€😀", "tab": "\t", "q": '"', "bs": "\\", "nul": "\x00"}, [], {}, 1e300]),
    ("jsonb", postgresql.JSONB, [{"b": [1, 2, None], "a": 1}, [1, "a", None], "a string", "", 1, 1.5, -3, True,
                                 False, {"k": "ñ€😀", "tab": "\t", "q": '"', "bs": "\\"}, [], {}, 10**30]),
    ("vector", VECTOR(3), [[1, 2, 3], [0.1, -0.0, 1e-3], (1, 2, 3), np.array([1.5, 2, 3]),
                           np.array([1, 2, 3], dtype=np.float32), "[1,2,3]", [1e38, -1e-38, 0.5]]),
    ("vector-midpoint", VECTOR(3), [[MIDPOINT, 1, 1]]),
    ("money", postgresql.MONEY, [Decimal("1.50"), 12, "$3.00", -5.25, "-1,234.56"]),
    ("type-decorator", IntDecorator(), [5, "7", -1]),
]

# Items of one-dimensional ARRAY columns, each with NULL items: upstream
# quotes str() of every item.
ARRAY_ITEMS = [
    ("smallint", sa.SMALLINT, [1, -32768, 32767, "5"]),
    ("integer", sa.INTEGER, [1, 2**31 - 1, "7"]),
    ("bigint", sa.BIGINT, [-(2**63), 2**63 - 1]),
    ("real", sa.REAL, [0.1, -0.0, float("nan"), float("inf"), MIDPOINT]),
    ("double", postgresql.DOUBLE_PRECISION, [0.1, 1 / 3, float("-inf"), 5e-324]),
    ("numeric", sa.NUMERIC, [Decimal("1.10"), Decimal("NaN"), 10**30, 0.1, Decimal("10000.0000")]),
    ("numeric-10-3", sa.NUMERIC(10, 3), [Decimal("1.0005"), 7]),
    ("boolean", sa.BOOLEAN, [True, False, "yes"]),
    ("char", sa.CHAR(3), ["a", "abc", ""]),
    ("varchar", sa.VARCHAR, TEXTS),
    ("varchar-10", sa.VARCHAR(10), ["a", "\\", '"', 12]),
    ("text", sa.TEXT, TEXTS),
    ("bytea", postgresql.BYTEA, [b"ab", b"\\x00"]),
    ("date", sa.DATE, [datetime.date(1, 1, 1), datetime.date(9999, 12, 31), "infinity"]),
    ("time", sa.TIME, [datetime.time(1, 2, 3, 4), datetime.time(1, 2, tzinfo=NPT)]),
    ("timetz", sa.TIME(timezone=True), [datetime.time(1, 2, tzinfo=NPT), datetime.time(3, 4)]),
    ("timestamp", sa.TIMESTAMP, [datetime.datetime(2024, 1, 1, 0, 0, 0, 1), datetime.datetime(1, 1, 1),
                                 datetime.datetime(2024, 1, 1, tzinfo=NPT)]),
    ("timestamptz", sa.TIMESTAMP(timezone=True), [datetime.datetime(2024, 1, 1, tzinfo=NPT),
                                                  datetime.datetime(2024, 1, 1)]),
    ("interval", postgresql.INTERVAL, [datetime.timedelta(seconds=-1), datetime.timedelta(days=2, microseconds=3)]),
    ("uuid", sa.UUID, [uuid.UUID(int=1), "A0EEBC999C0B4EF8BB6D6BB9BD380A11"]),
    ("inet", postgresql.INET, [ipaddress.ip_address("::1"), "10.0.0.1/8"]),
    ("cidr", postgresql.CIDR, [ipaddress.ip_network("10.0.0.0/8")]),
    ("json", postgresql.JSON, [1, '{"a": [1, "b"]}', '"s"']),
    ("jsonb", postgresql.JSONB, [1, '{"a": [1, "b"]}', "null"]),
]


def array_values(items: List[Any]) -> List[Any]:
    return [
        list(items),
        [None] + list(items) + [None],
        [],
        [None],
        tuple(items[:1]),
    ]


CASES = [pytest.param(type_, values, id=id_) for id_, type_, values in SCALARS] + [
    pytest.param(sa.ARRAY(type_), array_values(items), id=f"array-{id_}") for id_, type_, items in ARRAY_ITEMS
]


def norm(v: Any) -> Any:
    """Values comparable with ==: NaNs as a marker, arrays as lists."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, Decimal) and v.is_nan():
        return "NaN"
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v


def _uses_vector(value: Any) -> bool:
    return isinstance(value, VECTOR) or (isinstance(value, sa.ARRAY) and _uses_vector(value.item_type))


@pytest.fixture(autouse=True)
def skip_vector_without_pgvector(request: Any, engine: sa.engine.Engine) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec and any(map(_uses_vector, callspec.params.values())) and not has_extension(engine, "vector"):
        pytest.skip("the server lacks the pgvector extension (not in pg_available_extensions)")


def prepare_schema(engine: sa.engine.Engine, schema: str) -> None:
    """The schema with an enum and a domain in it, and pgvector where the
    server has it."""
    with engine.begin() as conn:
        if has_extension(engine, "vector"):
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f"CREATE TYPE \"{schema}\".mood AS ENUM ('sad', 'ok', 'Colour.RED', 'with\"quote')"))
        conn.execute(sa.text(f'CREATE DOMAIN "{schema}".posint AS INTEGER CHECK (VALUE > 0)'))


def schema_types(schema: str) -> List[Any]:
    mood = postgresql.ENUM("sad", "ok", "Colour.RED", 'with"quote', name="mood", schema=schema, create_type=False)
    posint = postgresql.DOMAIN("posint", sa.INTEGER, schema=schema, create_type=False)
    return [
        pytest.param(mood, ["sad", "ok", Colour.RED, 'with"quote'], id="enum"),
        pytest.param(sa.ARRAY(mood), array_values(["sad", 'with"quote']), id="array-enum"),
        pytest.param(posint, [1, 2**31 - 1, "5", " 6 "], id="domain"),
    ]


def make_table(metadata: sa.MetaData, schema: str, name: str, type_: Any) -> sa.Table:
    return sa.Table(name, metadata, sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("v", type_),
                    schema=schema)


def check_round_trip(engine: sa.engine.Engine, schema: str, type_: Any, values: List[Any]) -> None:
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", type_)
    # NULLs first, between and last.
    sent = [None] + values[: len(values) // 2] + [None] + values[len(values) // 2 :] + [None]

    ref = make_table(sa.MetaData(), schema, "ref", type_)
    with engine.begin() as conn:
        ref.create(conn)
        for i, v in enumerate(sent):
            conn.execute(
                sa.text(f'INSERT INTO "{schema}".ref (id, v) VALUES (:id, CAST(:text AS {ddl_type(type_)}))'),
                {"id": i, "text": upstream_text(type_, v)},
            )

    run_ingest(engine, metadata, Batches((None, None, [(table, (i, v)) for i, v in enumerate(sent)])))

    texts = query(engine, f'SELECT t.id, t.v::text, r.v::text FROM "{schema}".t JOIN "{schema}".ref r USING (id) '
                          "ORDER BY id")
    mismatches = [(sent[i], mine, theirs) for i, mine, theirs in texts if mine is not theirs and mine != theirs]
    assert mismatches == [], "(value, stored, upstream's) differ"
    assert [r[0] for r in texts] == list(range(len(sent)))
    try:
        want = read_rows(engine, ref, ["id"])
    except (sa.exc.DataError, ValueError):
        return  # e.g. 'infinity' or BC: the driver cannot read it back, the texts are the same
    got = read_rows(engine, table, ["id"])
    assert [norm(r[1]) for r in got] == [norm(r[1]) for r in want]


@pytest.mark.parametrize("type_, values", CASES)
def test_values_are_stored_as_the_server_reads_upstream_text(
    engine: sa.engine.Engine, schema: str, type_: Any, values: List[Any]
) -> None:
    prepare_schema(engine, schema)
    check_round_trip(engine, schema, type_, values)


@pytest.mark.parametrize("which", ["enum", "array-enum", "domain"])
def test_types_without_an_encoder_go_as_text(engine: sa.engine.Engine, schema: str, which: str) -> None:
    prepare_schema(engine, schema)
    [(type_, values)] = [p.values for p in schema_types(schema) if p.id == which]
    check_round_trip(engine, schema, type_, values)


@pytest.mark.parametrize("type_, natural, other", [
    pytest.param(sa.TIMESTAMP, datetime.datetime(2024, 1, 1, 1), datetime.datetime(2024, 1, 1, 1, tzinfo=NPT),
                 id="timestamp"),
    pytest.param(sa.TIMESTAMP(timezone=True), datetime.datetime(2024, 1, 1, 1, tzinfo=NPT),
                 datetime.datetime(2024, 1, 1, 1), id="timestamptz"),
    pytest.param(sa.DATE, datetime.date(2024, 1, 1), "2024-01-02", id="date"),
    pytest.param(sa.INTEGER, 5, "6", id="integer"),
    pytest.param(sa.BOOLEAN, True, "f", id="boolean"),
    pytest.param(sa.UUID, uuid.UUID(int=1), str(uuid.UUID(int=2)), id="uuid"),
    pytest.param(postgresql.INTERVAL, datetime.timedelta(days=-1, seconds=1), "1 day", id="interval"),
    pytest.param(VECTOR(2), [1, 2], "[3,4]", id="vector"),
    pytest.param(sa.REAL, MIDPOINT, "0.1", id="real"),
])
def test_a_chunk_with_slabs_of_different_arrow_types(
    engine: sa.engine.Engine, schema: str, type_: Any, natural: Any, other: Any
) -> None:
    """Rows convert in slabs of 500: a chunk whose later slab needs text
    and whose first does not is all text, and stores the same."""
    prepare_schema(engine, schema)
    check_round_trip(engine, schema, type_, [natural] * 700 + [other] + [natural] * 10)


def test_xml_goes_as_text(engine: sa.engine.Engine, schema: str) -> None:
    try:
        query(engine, "SELECT '<a/>'::xml")
    except sa.exc.DBAPIError:
        pytest.skip("the server is built without libxml")
    check_round_trip(engine, schema, XML(), ["<a>1</a>", "text", "<a b='c'>\t</a>"])


@pytest.fixture
def new_york_engine(database_url: str, driver: str) -> Any:
    import pgcluster

    engine = sa.create_engine(pgcluster.with_driver(database_url, driver),
                              connect_args={"options": "-c timezone=America/New_York"})
    yield engine
    engine.dispose()


@pytest.mark.parametrize("type_, values", [
    pytest.param(sa.TIMESTAMP(timezone=True), [datetime.datetime(2024, 6, 1, 12), datetime.date(2024, 1, 1),
                                               datetime.datetime(2024, 6, 1, 12, tzinfo=NPT)], id="timestamptz"),
    pytest.param(sa.TIME(timezone=True), [datetime.time(1, 2), datetime.time(1, 2, tzinfo=NPT)], id="timetz"),
    pytest.param(sa.ARRAY(sa.TIMESTAMP(timezone=True)), [[datetime.datetime(2024, 6, 1, 12), None]], id="array"),
])
def test_naive_values_are_read_in_the_session_time_zone(
    new_york_engine: sa.engine.Engine, schema: str, type_: Any, values: List[Any]
) -> None:
    prepare_schema(new_york_engine, schema)
    check_round_trip(new_york_engine, schema, type_, values)


# --- what upstream rejects ---------------------------------------------------

BAD = [
    pytest.param(sa.DATE, "not a date", id="unparseable-date"),
    pytest.param(sa.TIMESTAMP, "2024-13-01", id="unparseable-timestamp"),
    pytest.param(sa.BIGINT, 2**63, id="bigint-out-of-range"),
    pytest.param(sa.SMALLINT, 40000, id="smallint-out-of-range"),
    pytest.param(sa.INTEGER, "abc", id="integer-not-a-number"),
    pytest.param(sa.INTEGER, float("nan"), id="integer-nan"),
    pytest.param(sa.INTEGER, None.__class__, id="integer-object"),
    pytest.param(sa.TEXT, "nul\x00here", id="nul-in-text"),
    pytest.param(sa.VARCHAR(3), "abcd", id="varchar-too-long"),
    pytest.param(postgresql.DOUBLE_PRECISION, True, id="double-bool"),
    pytest.param(postgresql.DOUBLE_PRECISION, 10**400, id="double-out-of-range"),
    pytest.param(sa.REAL, 1e39, id="real-out-of-range"),
    pytest.param(sa.NUMERIC, "1.2.3", id="numeric-unparseable"),
    pytest.param(sa.NUMERIC(3, 1), Decimal("100"), id="numeric-overflow"),
    pytest.param(sa.BOOLEAN, 2, id="boolean-2"),
    pytest.param(postgresql.BYTEA, "text", id="bytea-str"),
    pytest.param(postgresql.JSONB, float("nan"), id="jsonb-nan"),
    pytest.param(postgresql.JSONB, {"a": "\x00"}, id="jsonb-nul"),
    pytest.param(postgresql.JSON, datetime.date(2024, 1, 1), id="json-not-serialisable"),
    pytest.param(sa.UUID, "not-a-uuid", id="uuid-unparseable"),
    pytest.param(postgresql.INET, "300.1.1.1", id="inet-unparseable"),
    pytest.param(postgresql.INTERVAL, "1 fortnight", id="interval-unparseable"),
    pytest.param(IntDecorator(), True, id="type-decorator-bool"),
    pytest.param(VECTOR(3), [1, 2], id="vector-dimensions"),
    pytest.param(VECTOR(3), [1, None, 3], id="vector-null-element"),
    pytest.param(VECTOR(3), np.array([1, 2, 3]).reshape(3, 1), id="vector-2d"),
    pytest.param(VECTOR(2), [float("nan"), 1], id="vector-nan"),
    pytest.param(sa.ARRAY(sa.INTEGER), [True], id="array-int-bool"),
    pytest.param(sa.ARRAY(sa.INTEGER), [[1, 2], [3, 4]], id="array-2d"),
    pytest.param(sa.TIME, "25:00", id="time-unparseable"),
]


def driver_errors(driver: str) -> tuple:
    if driver == "psycopg2":
        import psycopg2

        return (psycopg2.Error,)
    import psycopg

    return (psycopg.Error,)


@pytest.mark.parametrize("type_, bad", BAD)
def test_values_upstream_rejects_are_rejected_and_earlier_batches_stay(
    engine: sa.engine.Engine, schema: str, driver: str, type_: Any, bad: Any
) -> None:
    prepare_schema(engine, schema)
    # Upstream's text is refused by the server (or upstream fails to make one).
    try:
        text = upstream_text(type_, bad)
    except (TypeError, ValueError, AttributeError):
        pass
    else:
        check = make_table(sa.MetaData(), schema, "check", type_)
        with engine.connect() as conn, pytest.raises((sa.exc.DBAPIError, ValueError)):
            check.create(conn)
            conn.execute(sa.text(f'INSERT INTO "{schema}".check (id, v) VALUES (1, :t)'), {"t": text})

    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", type_)
    run_ingest(engine, metadata, Batches(("first", None, [(table, (1, None))])))
    rows = [(table, (i, None)) for i in range(2, 700)] + [(table, (700, bad)), (table, (701, None))]
    with pytest.raises((IngestError,) + driver_errors(driver)) as info:
        run_ingest(engine, metadata, Batches(("second", None, rows)))
    if isinstance(info.value, IngestError) and "column" in str(info.value):
        message = str(info.value)
        assert '"v"' in message or "'v'" in message, message
    assert query(engine, f'SELECT id FROM "{schema}".t') == [(1,)]
    assert stored_high_watermark(engine, schema, "t") == "first"


@pytest.mark.parametrize("row", [(1,), (1, 2, 3), ()], ids=["too-few", "too-many", "empty"])
def test_rows_of_the_wrong_width_are_rejected(engine: sa.engine.Engine, schema: str, row: Any) -> None:
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", sa.INTEGER)
    run_ingest(engine, metadata, Batches(("first", None, [(table, (1, 1))])))
    with pytest.raises(IngestError, match=rf"{schema}\.t, row 1 .*{len(row)} values for 2 columns"):
        run_ingest(engine, metadata, Batches(("second", None, [(table, (2, 2)), (table, row)])))
    assert query(engine, f'SELECT id, v FROM "{schema}".t') == [(1, 1)]
    assert stored_high_watermark(engine, schema, "t") == "first"


def test_a_value_error_names_table_column_row_and_value(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = make_table(metadata, schema, "t", sa.BIGINT)
    rows = [(table, (i, i)) for i in range(1200)] + [(table, (1200, "twelve"))]
    with pytest.raises(IngestError) as info:
        run_ingest(engine, metadata, Batches((None, None, rows)))
    message = str(info.value)
    assert f"{schema}.t" in message and "'v'" in message and "row 1200" in message and "'twelve'" in message


# --- table definitions ---------------------------------------------------------


@pytest.mark.parametrize("type_, hint", [
    (sa.Integer(), "sqlalchemy.INTEGER"),
    (sa.SmallInteger(), "sqlalchemy.SMALLINT"),
    (sa.BigInteger(), "sqlalchemy.BIGINT"),
    (sa.String(10), "sqlalchemy.VARCHAR"),
    (sa.Text(), "sqlalchemy.TEXT"),
    (sa.Unicode(), "sqlalchemy.VARCHAR"),
    (sa.Numeric(10, 2), "sqlalchemy.NUMERIC"),
    (sa.Float(), "REAL"),
    (sa.Boolean(), "sqlalchemy.BOOLEAN"),
    (sa.Date(), "sqlalchemy.DATE"),
    (sa.DateTime(), "sqlalchemy.TIMESTAMP"),
    (sa.DateTime(timezone=True), "sqlalchemy.TIMESTAMP"),
    (sa.Time(), "sqlalchemy.TIME"),
    (sa.Interval(), "postgresql.INTERVAL"),
    (sa.LargeBinary(), "postgresql.BYTEA"),
    (sa.Uuid(), "sqlalchemy.UUID"),
    (sa.Enum("a", "b", name="ab"), "postgresql.ENUM"),
    (sa.JSON(), "postgresql.JSON or JSONB"),
    (sa.ARRAY(sa.Integer()), "sqlalchemy.INTEGER"),
], ids=lambda v: type(v).__name__ if not isinstance(v, str) else "")
def test_camel_case_types_are_refused_before_any_sql(
    engine: sa.engine.Engine, schema: str, type_: Any, hint: str
) -> None:
    metadata = sa.MetaData()
    sa.Table("t", metadata, sa.Column("id", sa.INTEGER), sa.Column("the_column", type_), schema=schema)
    with engine.connect() as conn:
        with pytest.raises(TypeError, match=r"'the_column'.*" + hint.replace(".", r"\.")):
            ingest(conn, metadata, Batches())
    assert query(engine, "SELECT 1 FROM pg_namespace WHERE nspname = :s", s=schema) == []


@pytest.mark.parametrize("type_", [
    sa.INTEGER, sa.SMALLINT, sa.BIGINT, sa.VARCHAR(3), sa.TEXT, sa.NUMERIC(3, 1), sa.FLOAT, sa.REAL,
    postgresql.DOUBLE_PRECISION, sa.DOUBLE_PRECISION, sa.BOOLEAN, sa.DATE, sa.TIMESTAMP, sa.TIMESTAMP(timezone=True),
    sa.TIME, postgresql.INTERVAL, postgresql.BYTEA, sa.UUID, postgresql.UUID, postgresql.INET, postgresql.JSON,
    postgresql.JSONB, sa.ARRAY(sa.INTEGER), postgresql.ARRAY(sa.TEXT), VECTOR(3), postgresql.MONEY,
], ids=lambda t: repr(t))
def test_uppercase_and_dialect_types_are_accepted(engine: sa.engine.Engine, schema: str, type_: Any) -> None:
    prepare_schema(engine, schema)
    metadata = sa.MetaData()
    make_table(metadata, schema, "t", type_)
    run_ingest(engine, metadata, Batches())
    assert query(engine, f'SELECT count(*) FROM "{schema}".t') == [(0,)]
