"""Upstream's catalog predicates, (conn, schema_name, name) -> bool, run on
the user's SQLAlchemy connection (any driver) with the names bound as
parameters. Like upstream's, they run in the connection's transaction,
beginning one (autobegin) when none is open."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

_TABLE = sa.text(
    "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :s AND c.relname = :t AND c.relkind IN ('r', 'p')"
)
# pg_views lists plain views only, not materialized ones.
_VIEW = sa.text("SELECT 1 FROM pg_catalog.pg_views WHERE schemaname = :s AND viewname = :t")
# Any parent counts: a partition, or a child of plain inheritance.
_ATTACHED = sa.text(
    "SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON i.inhrelid = c.oid "
    "JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = :s AND c.relname = :t"
)


def _any_row(conn: Any, sql: Any, schema_name: str, name: str) -> bool:
    return conn.execute(sql, {"s": schema_name, "t": name}).first() is not None


def table_exists(conn: Any, schema_name: str, table_name: str) -> bool:
    """Whether an ordinary or partitioned table schema_name.table_name exists."""
    return _any_row(conn, _TABLE, schema_name, table_name)


def view_exists(conn: Any, schema_name: str, view_name: str) -> bool:
    """Whether a (non-materialized) view schema_name.view_name exists."""
    return _any_row(conn, _VIEW, schema_name, view_name)


def partition_attached(conn: Any, schema_name: str, partition_name: str) -> bool:
    """Whether the table schema_name.partition_name has a parent: an
    attached partition (or an inheritance child)."""
    return _any_row(conn, _ATTACHED, schema_name, partition_name)
