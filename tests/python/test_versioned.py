"""ingest_versioned and its module: the names, the catalog predicates, the
checking of arguments before any SQL, and the objects, hashes and
transactions of a versioned ingest against a real server."""

from __future__ import annotations

import datetime
import hashlib
import importlib
import inspect
import json
import logging
import re
import uuid
from decimal import Decimal
from typing import Any, Iterator, List, Tuple

import pyarrow as pa
import pytest
import sqlalchemy as sa
from helpers import Batches, catalog_columns, primary_key, query, relations, run_ingest
from versioned_table import base_table

import pg_bulk_ingest
from pg_bulk_ingest import Delete, HighWatermark, OnDuplicate, Upsert, versioned


def test_package_names() -> None:
    from pg_bulk_ingest import OnDuplicate, ingest_versioned, partition_attached, table_exists, view_exists  # noqa: F401

    assert ingest_versioned is versioned.ingest_versioned
    assert [*inspect.signature(ingest_versioned).parameters] == [
        "conn",
        "base_table",
        "batches",
        "version",
        "on_partition_attached",
        "kwargs",
    ]

    assert (OnDuplicate.SKIP, OnDuplicate.ERROR, OnDuplicate.KEEP) == ("__SKIP__", "__ERROR__", "__KEEP__")
    assert type(OnDuplicate.SKIP) is str
    assert not hasattr(pg_bulk_ingest, "DuplicatePartitionError")
    assert issubclass(versioned.DuplicatePartitionError, Exception)
    assert versioned.table_exists is pg_bulk_ingest.table_exists
    assert versioned.view_exists is pg_bulk_ingest.view_exists
    assert versioned.partition_attached is pg_bulk_ingest.partition_attached


@pytest.mark.parametrize("name", ["OnDuplicate", "Delete", "HighWatermark", "Upsert"])
def test_module_constants_are_string_enums_equal_to_the_plain_strings(name: str) -> None:
    enum_class, plain = getattr(versioned, name), getattr(pg_bulk_ingest, name)
    members = {k: v for k, v in vars(plain).items() if not k.startswith("_")}
    assert {m.name: m for m in enum_class} == members
    for key, value in members.items():
        member = getattr(enum_class, key)
        assert isinstance(member, str)
        assert member == value and hash(member) == hash(value)
        assert str(member) == value and f"{member}" == value and "%s" % member == value
    assert not hasattr(versioned, "Visibility")


def _ddl(conn: Any, *statements: str) -> None:
    for s in statements:
        conn.execute(sa.text(s))


def test_predicates(engine: sa.engine.Engine, schema: str) -> None:
    with engine.begin() as conn:
        _ddl(
            conn,
            f'CREATE SCHEMA "{schema}"',
            f'CREATE TABLE "{schema}".plain (id int)',
            f'CREATE TABLE "{schema}".root (v text) PARTITION BY LIST (v)',
            f"""CREATE TABLE "{schema}".attached PARTITION OF "{schema}".root FOR VALUES IN ('a')""",
            f'CREATE TABLE "{schema}".detached (v text)',
            f'CREATE TABLE "{schema}".child () INHERITS ("{schema}".plain)',
            f'CREATE VIEW "{schema}".v AS SELECT 1 AS one',
            f'CREATE MATERIALIZED VIEW "{schema}".mv AS SELECT 1 AS one',
            f'CREATE TABLE "{schema}"."Mixed Case" (id int)',
        )
    cases = {
        "plain": (True, False, False),
        "root": (True, False, False),
        "attached": (True, False, True),
        "detached": (True, False, False),
        "child": (True, False, True),
        "v": (False, True, False),
        "mv": (False, False, False),
        "Mixed Case": (True, False, False),
        "missing": (False, False, False),
        "'; DROP TABLE plain; --": (False, False, False),
    }
    with engine.connect() as conn:
        for name, expected in cases.items():
            got = tuple(f(conn, schema, name) for f in (versioned.table_exists, versioned.view_exists, versioned.partition_attached))
            assert got == expected, name
        assert not versioned.table_exists(conn, schema + "x", "plain")
        # They run in the connection's transaction, begun by the first.
        assert conn.in_transaction()
    with engine.connect() as conn:
        conn.begin()
        _ddl(conn, f'CREATE TABLE "{schema}".uncommitted (id int)')
        assert versioned.table_exists(conn, schema, "uncommitted")
        conn.rollback()
        assert not versioned.table_exists(conn, schema, "uncommitted")


# --- ingest_versioned -------------------------------------------------------

V1, V2 = "2024-01-01", "2024-01-02"
P1, P2 = "mytab__20240101", "mytab__20240102"
# Upstream 0.1.3's stored hash of ROWS in base_table's partition
# (docs/notes: md5 of "(1,1,a,1.5,x)(2,2,é'b,,)", id being in two indexes).
ROWS = [(1, "a", Decimal("1.5"), "x"), (2, "é'b", None, None)]
UPSTREAM_HASH = "cbf653105efb6e39b0e6d05b90304693"
WRAPPER = "partition_wrapper"


def batch(table: sa.Table, rows: Any, hwm: Any = "h") -> Any:
    return (hwm, None, [(table, r) for r in rows])


def run_versioned(engine: sa.engine.Engine, table: sa.Table, batches: Any, version: Any, **kwargs: Any) -> None:
    with engine.connect() as conn:
        versioned.ingest_versioned(conn, table, batches, version, **kwargs)
        # Every way out leaves no transaction open (upstream's early
        # returns left theirs open).
        assert not conn.in_transaction()


@pytest.fixture
def statements(engine: sa.engine.Engine) -> Iterator[List[str]]:
    """The statements run through the engine's connections."""
    seen: List[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"nope": 1}, TypeError, "unexpected keyword argument 'nope'"),
        ({"metadata": 1}, TypeError, "unexpected keyword argument 'metadata'"),
        ({"on_duplicate": "__SKIPP__"}, ValueError, "on_duplicate='__SKIPP__' is not one of"),
        ({"on_duplicate": None}, ValueError, "on_duplicate=None is not one of"),
        ({"upsert": "bogus"}, ValueError, "upsert='bogus'"),
        ({"delete": "bogus"}, ValueError, "delete='bogus'"),
        ({"visibility": "bogus"}, ValueError, "visibility='bogus'"),
        ({"max_rows_per_table_buffer": 0}, ValueError, "max_rows_per_table_buffer"),
    ],
)
def test_arguments_checked_before_any_sql(
    engine: sa.engine.Engine, schema: str, statements: List[str], kwargs: Any, error: type, text: str
) -> None:
    called = []
    with engine.connect() as conn:
        with pytest.raises(error, match=re.escape(text)):
            versioned.ingest_versioned(conn, base_table(schema), called.append, V1, **kwargs)
        assert not conn.in_transaction()
    assert statements == [] and called == []


def test_base_table_without_schema_is_upstreams_value_error(engine: sa.engine.Engine, statements: List[str]) -> None:
    with engine.connect() as conn:
        with pytest.raises(ValueError) as e:
            versioned.ingest_versioned(conn, base_table(None), lambda hwm: [], V1)
    assert str(e.value) == "Missing schema or table name for table: mytab. Stopping. Schema: None Table: mytab"
    assert statements == []


@pytest.mark.parametrize("version", ["x" * 60, "é" * 30])
def test_a_partition_name_over_63_bytes_is_refused(
    engine: sa.engine.Engine, schema: str, statements: List[str], version: str
) -> None:
    with engine.connect() as conn:
        with pytest.raises(ValueError, match="longer than PostgreSQL's 63 bytes"):
            versioned.ingest_versioned(conn, base_table(schema), lambda hwm: [], version)
    assert statements == []


def test_a_version_that_is_not_json_is_refused(engine: sa.engine.Engine, schema: str, statements: List[str]) -> None:
    with engine.connect() as conn:
        with pytest.raises(TypeError, match="not JSON-encodable"):
            versioned.ingest_versioned(conn, base_table(schema), lambda hwm: [], datetime.date(2024, 1, 1))
    assert statements == []


_LATEST_DELETE = (
    "high_watermark=__LATEST__ requires delete=__OFF__ to preserve copied data.\n"
    "                Overriding delete=__BEFORE_FIRST_BATCH__ to delete=__OFF__"
)
_LATEST_UPSERT = (
    "high_watermark=__LATEST__ requires upsert=__IF_PRIMARY_KEY__ to handle overlaps.\n"
    "                Overriding upsert=__OFF__ to upsert=__IF_PRIMARY_KEY__"
)
# Upstream's text names __BEFORE_EACH_BATCH__, which does not exist.
_BEFORE_FIRST = "delete=__BEFORE_FIRST_BATCH__ not recommended for partitioned ingestion. Overriding to delete=__OFF__"


@pytest.mark.parametrize(
    "kwargs, warnings",
    [
        ({}, []),
        ({"delete": Delete.BEFORE_FIRST_BATCH}, [_LATEST_DELETE, _BEFORE_FIRST]),
        ({"upsert": Upsert.OFF}, [_LATEST_UPSERT]),
        ({"upsert": Upsert.OFF, "delete": Delete.BEFORE_FIRST_BATCH}, [_LATEST_DELETE, _LATEST_UPSERT, _BEFORE_FIRST]),
        ({"high_watermark": HighWatermark.EARLIEST, "delete": Delete.BEFORE_FIRST_BATCH}, [_BEFORE_FIRST]),
        ({"high_watermark": HighWatermark.EARLIEST, "upsert": Upsert.OFF}, []),
        ({"high_watermark": "2024", "upsert": Upsert.OFF}, []),
    ],
)
def test_overrides_warn_on_partition_wrapper(
    engine: sa.engine.Engine, caplog: Any, kwargs: Any, warnings: List[str]
) -> None:
    caplog.set_level(logging.INFO)
    with engine.connect() as conn:
        # The warnings come first, as upstream's, before the schema is checked.
        with pytest.raises(ValueError, match="Missing schema"):
            versioned.ingest_versioned(conn, base_table(None), lambda hwm: [], V1, **kwargs)
    got = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert got == warnings
    assert all(r.name == WRAPPER for r in caplog.records)


def comment_of(engine: sa.engine.Engine, schema: str, name: str) -> Any:
    text = query(engine, "SELECT obj_description(format('%I.%I', :s ::text, :n ::text)::regclass)", s=schema, n=name)
    return json.loads(text[0][0]) if text[0][0] is not None else None


def attached(engine: sa.engine.Engine, schema: str, name: str) -> bool:
    with engine.connect() as conn:
        return versioned.partition_attached(conn, schema, name)


def view_source(engine: sa.engine.Engine, schema: str, view: str = "mytab") -> List[str]:
    """The tables the view reads."""
    return [
        r[0]
        for r in query(
            engine,
            "SELECT DISTINCT d.refobjid::regclass::text FROM pg_rewrite r JOIN pg_depend d ON d.objid = r.oid "
            "WHERE r.ev_class = format('%I.%I', :s ::text, :n ::text)::regclass AND d.refobjid <> r.ev_class "
            "AND d.classid = 'pg_rewrite'::regclass",
            s=schema,
            n=view,
        )
    ]


def index_columns(engine: sa.engine.Engine, schema: str, name: str) -> List[Tuple[Tuple[str, ...], bool, bool]]:
    """(columns, unique, primary) of each index of the table, sorted."""
    return sorted(
        (tuple(r[0]), r[1], r[2])
        for r in query(
            engine,
            "SELECT array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), i.indisunique, "
            "i.indisprimary FROM pg_index i WHERE i.indrelid = format('%I.%I', :s ::text, :n ::text)::regclass",
            s=schema,
            n=name,
        )
    )


def wrapper_lines(caplog: Any, level: int) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == WRAPPER and r.levelno == level]


def test_first_version_objects(engine: sa.engine.Engine, schema: str) -> None:
    table = base_table(schema)
    batches = Batches(batch(table, ROWS, hwm=7))
    run_versioned(engine, table, batches, V1)
    assert batches.calls == [None]
    assert relations(engine, schema) == ["mytab", P1, "mytab__history"]
    expected_columns = [
        ("id", "integer", False),
        ("name", "character varying(20)", False),
        ("val", "numeric", True),
        ("tag", "character varying", True),
        ("_version", "character varying", False),
    ]
    assert catalog_columns(engine, schema, P1) == expected_columns
    assert primary_key(engine, schema, P1) == ["id"]
    assert index_columns(engine, schema, P1) == [
        (("id",), True, True),
        (("name", "id"), False, False),
        (("tag",), False, False),
        (("val",), False, False),
    ]
    stored = comment_of(engine, schema, P1)
    assert list(stored) == ["pg-bulk-ingest"]
    md = stored["pg-bulk-ingest"]
    assert list(md) == ["high-watermark", "hash", "row_count", "version", "ingested_at"]
    assert md["high-watermark"] == 7 and md["hash"] == UPSTREAM_HASH and md["row_count"] == 2 and md["version"] == V1
    ingested = datetime.datetime.fromisoformat(md["ingested_at"])
    assert ingested.utcoffset() == datetime.timedelta(0) and md["ingested_at"].endswith("+00:00")
    # The root: the base columns, NOT NULL kept, no key, no index.
    assert catalog_columns(engine, schema, "mytab__history") == expected_columns
    assert primary_key(engine, schema, "mytab__history") == [] and index_columns(engine, schema, "mytab__history") == []
    ((kind, key, bound),) = query(
        engine,
        "SELECT r.relkind::text, pg_get_partkeydef(r.oid), pg_get_expr(p.relpartbound, p.oid) FROM pg_class r "
        "JOIN pg_inherits i ON i.inhparent = r.oid JOIN pg_class p ON p.oid = i.inhrelid "
        "WHERE r.oid = format('%I.%I', :s ::text, 'mytab__history')::regclass",
        s=schema,
    )
    assert (kind, key, bound) == ("p", "LIST (_version)", "FOR VALUES IN ('2024-01-01')")
    assert view_source(engine, schema) == [f"{schema}.{P1}"]
    assert [c[:2] for c in catalog_columns(engine, schema, "mytab")] == [c[:2] for c in expected_columns]
    rows = query(engine, f'SELECT * FROM "{schema}".mytab ORDER BY id')
    assert rows == [r + (V1,) for r in ROWS]


def test_second_version_copies_forward_and_upserts(engine: sa.engine.Engine, schema: str) -> None:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS, hwm=1)), V1)
    batches = Batches(batch(table, [(2, "b", None, None), (3, "c", Decimal(3), "z")], hwm=2))
    run_versioned(engine, table, batches, V2)
    assert batches.calls == [1]  # the previous version's high watermark
    assert query(engine, f'SELECT * FROM "{schema}".mytab ORDER BY id') == [
        (1, "a", Decimal("1.5"), "x", V2),
        (2, "b", None, None, V2),
        (3, "c", Decimal(3), "z", V2),
    ]
    assert view_source(engine, schema) == [f"{schema}.{P2}"]
    assert attached(engine, schema, P1) and attached(engine, schema, P2)
    assert query(engine, f'SELECT id, _version FROM "{schema}".{P1} ORDER BY id') == [(1, V1), (2, V1)]
    md = comment_of(engine, schema, P2)["pg-bulk-ingest"]
    assert list(md) == ["high-watermark", "hash", "row_count", "version", "ingested_at"]
    assert md["high-watermark"] == 2 and md["row_count"] == 3 and md["version"] == V2
    assert index_columns(engine, schema, P2) == index_columns(engine, schema, P1)
    assert query(engine, f'SELECT count(*) FROM "{schema}".mytab__history') == [(5,)]


@pytest.mark.parametrize("high_watermark, called_with", [(HighWatermark.EARLIEST, None), ("from-here", "from-here")])
def test_no_copy_forward_but_duplicates_found_without_latest(
    engine: sa.engine.Engine, schema: str, high_watermark: Any, called_with: Any
) -> None:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), V1)
    batches = Batches(batch(table, ROWS[:1]))
    run_versioned(engine, table, batches, V2, high_watermark=high_watermark)
    assert batches.calls == [called_with]
    assert query(engine, f'SELECT id FROM "{schema}".{P2}') == [(1,)]  # no rows copied
    # The same rows as the version shown: skipped (the default).
    run_versioned(engine, table, Batches(batch(table, ROWS[:1])), "2024-01-03", high_watermark=high_watermark)
    with engine.connect() as conn:
        assert not versioned.table_exists(conn, schema, "mytab__20240103")
    assert view_source(engine, schema) == [f"{schema}.{P2}"]


@pytest.fixture
def versioned_v1(engine: sa.engine.Engine, schema: str) -> sa.Table:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), V1)
    return table


def test_duplicate_skip(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table) -> None:
    # Nothing new: the copied rows are V1's, hashed alike.
    run_versioned(engine, versioned_v1, Batches(), V2)
    assert P2 not in relations(engine, schema)
    assert view_source(engine, schema) == [f"{schema}.{P1}"]
    # Also with the same rows yielded again.
    run_versioned(engine, versioned_v1, Batches(batch(versioned_v1, ROWS)), V2, on_duplicate=OnDuplicate.SKIP)
    assert P2 not in relations(engine, schema)


def test_duplicate_error(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table) -> None:
    with engine.connect() as conn:
        with pytest.raises(versioned.DuplicatePartitionError) as e:
            versioned.ingest_versioned(conn, versioned_v1, Batches(), V2, on_duplicate=OnDuplicate.ERROR)
        assert not conn.in_transaction()
    assert str(e.value) == f"on_duplicate=__ERROR__: Duplicate partition detected: {P2} has same hash as {P1}"
    assert P2 in relations(engine, schema) and not attached(engine, schema, P2)
    assert view_source(engine, schema) == [f"{schema}.{P1}"]


def test_duplicate_keep(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    run_versioned(engine, versioned_v1, Batches(), V2, on_duplicate=versioned.OnDuplicate.KEEP)
    assert f"on_duplicate='__KEEP__': Keeping duplicate partition {P2}" in wrapper_lines(caplog, logging.WARNING)
    assert attached(engine, schema, P2) and view_source(engine, schema) == [f"{schema}.{P2}"]
    assert comment_of(engine, schema, P2)["pg-bulk-ingest"]["hash"] == UPSTREAM_HASH


@pytest.mark.parametrize("result", [True, False, None, 1])
def test_duplicate_callable(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table, result: Any) -> None:
    calls = []

    def on_duplicate(conn: Any, schema_name: str, new: str, source: str) -> Any:
        assert isinstance(conn, sa.engine.Connection) and conn.in_transaction()
        calls.append((schema_name, new, source))
        return result

    run_versioned(engine, versioned_v1, Batches(), V2, on_duplicate=on_duplicate)
    assert calls == [(schema, P2, P1)]
    assert attached(engine, schema, P2) is (not result)
    assert view_source(engine, schema) == [f"{schema}.{P1 if result else P2}"]


def test_attached_partition_is_skipped(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    batches = Batches(batch(versioned_v1, [(9, "n", None, None)]))
    run_versioned(engine, versioned_v1, batches, V1)
    assert batches.calls == []
    assert f"Partition {P1} already exists and is attached. Skipping." in wrapper_lines(caplog, logging.INFO)
    assert query(engine, f'SELECT count(*) FROM "{schema}".{P1}') == [(2,)]


def v1_over(engine: sa.engine.Engine, schema: str, *statements: str) -> Batches:
    """Creates the schema, runs statements, then ingests ROWS as V1."""
    with engine.begin() as conn:
        _ddl(conn, f'CREATE SCHEMA "{schema}"', *statements)
    table = base_table(schema)
    batches = Batches(batch(table, ROWS))
    run_versioned(engine, table, batches, V1)
    return batches


def test_unattached_leftover_is_rebuilt(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    v1_over(engine, schema, f'CREATE TABLE "{schema}".{P1} (leftover int)')
    assert (
        f"Partition {P1} exists but not attached (failed previous run). Dropping and recreating..."
        in wrapper_lines(caplog, logging.WARNING)
    )
    assert attached(engine, schema, P1) and comment_of(engine, schema, P1)["pg-bulk-ingest"]["hash"] == UPSTREAM_HASH


def test_empty_partition_is_not_attached(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, [])), V1)
    assert f"Failed to create hash and/or row_count for partition {P1}" in wrapper_lines(caplog, logging.WARNING)
    assert relations(engine, schema) == [P1] and not attached(engine, schema, P1)


@pytest.fixture
def roles(engine: sa.engine.Engine) -> Iterator[List[str]]:
    """Two roles, one of whose names needs quoting, dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = [f"pbi_reader_{tag}", f"PBI Reader {tag}"]
    with engine.begin() as conn:
        for n in names:
            conn.execute(sa.text(f'CREATE ROLE "{n}"'))
    yield names
    with engine.begin() as conn:
        for n in names:
            conn.execute(sa.text(f'DROP OWNED BY "{n}"'))
            conn.execute(sa.text(f'DROP ROLE "{n}"'))


def select_grantees(engine: sa.engine.Engine, schema: str, name: str) -> List[str]:
    return sorted(
        r[0]
        for r in query(
            engine,
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END "
            "FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.oid = format('%I.%I', :s ::text, :n ::text)::regclass AND a.privilege_type = 'SELECT'",
            s=schema,
            n=name,
        )
    )


def test_grants_of_the_root_reach_the_partition(
    engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table, roles: List[str]
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f'GRANT SELECT ON "{schema}".mytab__history TO PUBLIC, "{roles[0]}", "{roles[1]}"'))
    run_versioned(engine, versioned_v1, Batches(batch(versioned_v1, [(5, "e", None, None)])), V2)
    owner = query(engine, "SELECT current_user::text")[0][0]
    assert select_grantees(engine, schema, P2) == sorted(["PUBLIC", owner, *roles])


def test_a_legacy_table_is_renamed_and_its_grants_kept(
    engine: sa.engine.Engine, schema: str, roles: List[str], caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    v1_over(engine, schema, f'CREATE TABLE "{schema}".mytab (id int)', f'GRANT SELECT ON "{schema}".mytab TO "{roles[1]}"')
    assert f"Found non-versioned table {schema}.mytab. Renaming to mytab_legacy" in wrapper_lines(caplog, logging.WARNING)
    assert relations(engine, schema) == ["mytab", P1, "mytab__history", "mytab_legacy"]
    assert view_source(engine, schema) == [f"{schema}.{P1}"]
    assert roles[1] in select_grantees(engine, schema, P1)


def test_custom_partition_column(engine: sa.engine.Engine, schema: str) -> None:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), V1, partition_column="Ver")
    assert catalog_columns(engine, schema, P1)[-1] == ("Ver", "character varying", False)
    assert query(engine, "SELECT pg_get_partkeydef(format('%I.mytab__history', :s ::text)::regclass)", s=schema) == [
        ('LIST ("Ver")',)
    ]
    # The partition column is not hashed, so the same rows are a duplicate.
    assert comment_of(engine, schema, P1)["pg-bulk-ingest"]["hash"] == UPSTREAM_HASH
    run_versioned(engine, table, Batches(), V2, partition_column="Ver")
    assert P2 not in relations(engine, schema)


def test_on_partition_attached(engine: sa.engine.Engine, schema: str) -> None:
    calls = []

    def on_partition_attached(conn: Any, partition: sa.Table, version: Any, md: Any) -> None:
        assert conn.in_transaction() and versioned.partition_attached(conn, schema, P1)
        calls.append((partition, version, md))

    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), V1, on_partition_attached=on_partition_attached)
    ((partition, version, md),) = calls
    assert (partition.schema, partition.name, version) == (schema, P1, V1)
    assert [c.name for c in partition.columns] == ["id", "name", "val", "tag", "_version"]
    assert md == comment_of(engine, schema, P1)["pg-bulk-ingest"]


def test_an_exception_from_on_partition_attached_rolls_back_the_attach(engine: sa.engine.Engine, schema: str) -> None:
    def on_partition_attached(conn: Any, partition: sa.Table, version: Any, md: Any) -> None:
        raise KeyError("no")

    table = base_table(schema)
    with engine.connect() as conn:
        with pytest.raises(KeyError, match="no"):
            versioned.ingest_versioned(
                conn, table, Batches(batch(table, ROWS)), V1, on_partition_attached=on_partition_attached
            )
        assert not conn.in_transaction()
    assert relations(engine, schema) == [P1] and not attached(engine, schema, P1)
    assert "hash" not in comment_of(engine, schema, P1)["pg-bulk-ingest"]


def test_a_version_with_a_quote(engine: sa.engine.Engine, schema: str) -> None:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), "it's-1")
    assert query(
        engine,
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = format('%I.%I', :s ::text, :n ::text)::regclass",
        s=schema,
        n="mytab__it's1",
    ) == [("FOR VALUES IN ('it''s-1')",)]
    assert comment_of(engine, schema, "mytab__it's1")["pg-bulk-ingest"]["version"] == "it's-1"


def test_an_int_version(engine: sa.engine.Engine, schema: str) -> None:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), 3)
    assert query(engine, f'SELECT DISTINCT _version FROM "{schema}".mytab__3') == [("3",)]
    assert comment_of(engine, schema, "mytab__3")["pg-bulk-ingest"]["version"] == 3


def test_rows_that_cannot_take_the_version(engine: sa.engine.Engine, schema: str, driver: str) -> None:
    table = base_table(schema)
    sql = importlib.import_module(f"{driver}.sql")
    for row, text in [([1, "a", None, None], "list"), (sql.SQL("VALUES (1, 'a', NULL, NULL)"), "sql.SQL rows are for ingest")]:
        with engine.connect() as conn:
            with pytest.raises(TypeError, match=re.escape(text)):
                versioned.ingest_versioned(conn, table, Batches(("h", None, [(table, row)])), V1)
            assert not conn.in_transaction()


def test_a_list_batch_goes_into_the_partition(engine: sa.engine.Engine, schema: str) -> None:
    """A batch may be any sequence of three, as for ingest(): a list's rows
    get the version too (they were once passed on as they were, naming the
    base table, which is not the partition's, and so dropped)."""
    table = base_table(schema)
    run_versioned(engine, table, lambda _: [["h", None, [(table, row) for row in ROWS]]], V1)
    partition = "mytab__" + V1.replace("-", "")
    assert query(engine, f'SELECT count(*), min(_version) FROM "{schema}"."{partition}"') == [(len(ROWS), V1)]


@pytest.mark.parametrize("form", ["pyarrow", "pandas", "reader"])
def test_arrow_items_hash_as_tuple_rows(engine: sa.engine.Engine, schema: str, form: str) -> None:
    table = base_table(schema)
    data = pa.table(
        {
            "id": pa.array([r[0] for r in ROWS], pa.int32()),
            "name": [r[1] for r in ROWS],
            "val": pa.array([r[2] for r in ROWS], pa.decimal128(10, 1)),
            "tag": [r[3] for r in ROWS],
        }
    )
    item: Any = {"pyarrow": data, "reader": data.to_reader()}.get(form)
    if form == "pandas":
        pandas = pytest.importorskip("pandas")
        item = pandas.DataFrame({"id": [1, 2], "name": ["a", "é'b"], "val": [Decimal("1.5"), None], "tag": ["x", None]})
    run_versioned(engine, table, Batches(("h", None, [(table, item)])), V1)
    assert comment_of(engine, schema, P1)["pg-bulk-ingest"]["hash"] == UPSTREAM_HASH
    assert query(engine, f'SELECT * FROM "{schema}".mytab ORDER BY id') == [r + (V1,) for r in ROWS]


# --- the options reach the partition's ingest, overrides applied ----------


def test_other_keywords_reach_the_partitions_ingest(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table) -> None:
    seen = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        assert conn.in_transaction() and not versioned.partition_attached(conn, schema, P2)
        seen.append((batch_metadata, conn.execute(sa.select(sa.func.count()).select_from(ingest_table)).scalar()))

    own = logging.getLogger(f"test_versioned.{uuid.uuid4().hex}")
    own.setLevel(logging.INFO)
    records: List[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    own.addHandler(handler)
    rows = [(3, "c", None, None), (4, "d", None, None)]
    run_versioned(
        engine,
        versioned_v1,
        Batches(("h2", "meta-a", [(versioned_v1, r) for r in rows]), ("h3", "meta-b", [])),
        V2,
        on_before_visible=on_before_visible,
        logger=own,
        max_rows_per_table_buffer=1,
        visibility=pg_bulk_ingest.Visibility.AFTER_EACH_BATCH,
    )
    # Called once per batch, in its transaction: the copied rows and the batch's.
    assert seen == [("meta-a", 4), ("meta-b", 4)]
    lines = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert "Ingesting batch meta-a with high watermark value h2" in lines
    assert query(engine, f'SELECT id FROM "{schema}".mytab ORDER BY id') == [(1,), (2,), (3,), (4,)]
    assert comment_of(engine, schema, P2)["pg-bulk-ingest"]["high-watermark"] == "h3"


def test_latest_keeps_the_copied_rows_whatever_delete_says(
    engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table
) -> None:
    run_versioned(engine, versioned_v1, Batches(batch(versioned_v1, [(3, "c", None, None)])), V2, delete=Delete.BEFORE_FIRST_BATCH)
    assert query(engine, f'SELECT id FROM "{schema}".mytab ORDER BY id') == [(1,), (2,), (3,)]


def test_latest_upserts_whatever_upsert_says(engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table) -> None:
    # Without the override, the changed row 2 would be a duplicate key.
    run_versioned(engine, versioned_v1, Batches(batch(versioned_v1, [(2, "B", None, "t")])), V2, upsert=Upsert.OFF)
    assert query(engine, f'SELECT id, name, tag FROM "{schema}".mytab ORDER BY id') == [(1, "a", "x"), (2, "B", "t")]


def test_earliest_turns_delete_before_first_batch_off(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    table = base_table(schema)
    run_versioned(
        engine, table, Batches(batch(table, ROWS)), V1, high_watermark=HighWatermark.EARLIEST, delete=Delete.BEFORE_FIRST_BATCH
    )
    # The partition's ingest read its existing columns, which ingest()
    # does only under delete=OFF: BEFORE_FIRST_BATCH goes straight to a
    # new table, as the plain ingest below shows.
    plain = sa.Table("plain", sa.MetaData(), sa.Column("id", sa.INTEGER), schema=schema)
    run_ingest(engine, plain.metadata, Batches(batch(plain, [(1,)])), delete=Delete.BEFORE_FIRST_BATCH)
    lines = [r.getMessage() for r in caplog.records if r.name == "pg_bulk_ingest"]
    assert f"Finding existing columns of {schema}.{P1}" in lines
    assert f"Finding existing columns of {schema}.plain" not in lines
    assert query(engine, f'SELECT count(*) FROM "{schema}".mytab') == [(2,)]


# --- objects ----------------------------------------------------------------


def test_a_partitioned_table_in_the_views_place_is_renamed(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    v1_over(engine, schema, f'CREATE TABLE "{schema}".mytab (id int, v text) PARTITION BY LIST (v)')
    assert f"Found non-versioned table {schema}.mytab. Renaming to mytab_legacy" in wrapper_lines(caplog, logging.WARNING)
    assert query(engine, "SELECT relkind::text FROM pg_class WHERE oid = format('%I.mytab_legacy', :s ::text)::regclass", s=schema) == [("p",)]
    assert view_source(engine, schema) == [f"{schema}.{P1}"]


def test_a_view_that_reads_no_table(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    # As upstream: a warning, nothing copied forward, no duplicate check,
    # and the view replaced by one on the new partition.
    caplog.set_level(logging.INFO)
    batches = v1_over(engine, schema, f'CREATE VIEW "{schema}".mytab AS SELECT 7 AS id')
    assert "Source partition could not be found for view: mytab" in wrapper_lines(caplog, logging.WARNING)
    assert batches.calls == [None]
    assert attached(engine, schema, P1) and view_source(engine, schema) == [f"{schema}.{P1}"]
    assert query(engine, f'SELECT * FROM "{schema}".mytab ORDER BY id') == [r + (V1,) for r in ROWS]


def test_a_source_without_a_hash_is_not_a_duplicate(
    engine: sa.engine.Engine, schema: str, versioned_v1: sa.Table, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    with engine.begin() as conn:
        conn.execute(sa.text(f"""COMMENT ON TABLE "{schema}".{P1} IS '{{"pg-bulk-ingest": {{"high-watermark": "h"}}}}'"""))
    run_versioned(engine, versioned_v1, Batches(), V2)
    assert f"No hash found for partition: {P1}" in wrapper_lines(caplog, logging.WARNING)
    assert attached(engine, schema, P2) and view_source(engine, schema) == [f"{schema}.{P2}"]
    assert comment_of(engine, schema, P2)["pg-bulk-ingest"]["hash"] == UPSTREAM_HASH


def test_partition_indexes_as_upstreams(engine: sa.engine.Engine, schema: str) -> None:
    # Upstream's partition indexes are not unique, and unnamed ones (only
    # possible with a naming convention without "ix") are left out; a
    # unique column keeps its constraint (upstream's root then fails).
    table = sa.Table(
        "mytab",
        sa.MetaData(naming_convention={"pk": "pk_%(table_name)s"}),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("code", sa.VARCHAR, unique=True),
        sa.Column("x", sa.INTEGER, index=True),
        sa.Column("y", sa.INTEGER),
        sa.Index("mytab_y_x", "y", "x", unique=True),
        schema=schema,
    )
    run_versioned(engine, table, Batches(batch(table, [(1, "a", 1, 1), (2, "b", 1, 1)])), V1)
    assert index_columns(engine, schema, P1) == [(("code",), True, False), (("id",), True, True), (("y", "x"), False, False)]
    assert index_columns(engine, schema, "mytab__history") == [] and attached(engine, schema, P1)


# --- the hash ---------------------------------------------------------------


def upstream_hash(texts: List[str]) -> str:
    """Upstream's hash of rows whose ROW(...)::text are texts, in order."""
    return hashlib.md5("".join(texts).encode()).hexdigest()


def test_hash_of_a_multi_column_key_not_first(engine: sa.engine.Engine, schema: str) -> None:
    table = sa.Table(
        "h",
        sa.MetaData(),
        sa.Column("a", sa.VARCHAR),
        sa.Column("b", sa.INTEGER, primary_key=True),
        sa.Column("c", sa.INTEGER, primary_key=True, index=True),
        schema=schema,
    )
    rows = [("x", 2, 1), ("y", 1, 2), ("z", 1, 1), ("w", 2, 0)]
    run_versioned(engine, table, Batches(batch(table, rows)), "v1")
    # Ordered by the key (b, c); c listed twice, as it is in two indexes.
    texts = [f"({a},{b},{c},{c})" for a, b, c in sorted(rows, key=lambda r: (r[1], r[2]))]
    assert comment_of(engine, schema, "h__v1")["pg-bulk-ingest"]["hash"] == upstream_hash(texts)


def test_hash_without_a_primary_key(engine: sa.engine.Engine, schema: str) -> None:
    table = sa.Table("h", sa.MetaData(), sa.Column("a", sa.INTEGER), sa.Column("b", sa.VARCHAR), schema=schema)
    rows = [(3, "x"), (1, "y"), (2, "z")]
    run_versioned(engine, table, Batches(batch(table, rows)), "v1")
    # Ordered by the first column.
    texts = [f"({a},{b})" for a, b in sorted(rows)]
    assert comment_of(engine, schema, "h__v1")["pg-bulk-ingest"]["hash"] == upstream_hash(texts)
