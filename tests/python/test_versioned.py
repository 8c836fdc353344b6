"""ingest_versioned and its module: the names, the catalog predicates, the
checking of arguments before any SQL, and the objects, hashes and
transactions of a versioned ingest against a real server."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import pg_bulk_ingest
from pg_bulk_ingest import versioned


def test_package_names() -> None:
    from pg_bulk_ingest import OnDuplicate, partition_attached, table_exists, view_exists  # noqa: F401

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
