"""SQLAlchemy MetaData to the engine's JSON table spec."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def column_type(column: sa.Column[Any]) -> str:
    """The column's type as PostgreSQL DDL, or a clear error for types
    upstream documents as unsupported."""
    typ = column.type
    if type(typ) is sa.JSON:
        raise TypeError(
            f"column {column.name!r}: sqlalchemy.JSON is not supported; "
            "use sqlalchemy.dialects.postgresql.JSON or JSONB"
        )
    return str(typ.compile(dialect=_DIALECT))


def table_spec(table: sa.Table) -> dict[str, Any]:
    if not table.schema:
        raise ValueError(f"table {table.name!r} has no schema: pass schema=... to sa.Table")
    return {
        "schema": table.schema,
        "name": table.name,
        "columns": [
            {
                "name": c.name,
                "type": column_type(c),
                "nullable": bool(c.nullable),
                "primary_key": bool(c.primary_key),
                "unique": bool(c.unique),
            }
            for c in table.columns
        ],
        "indexes": [index_spec(ix) for ix in sorted(table.indexes, key=_index_key)],
    }


def _index_key(index: sa.Index) -> tuple[str, ...]:
    return tuple(c.name for c in index.columns)


def index_spec(index: sa.Index) -> dict[str, Any]:
    kwargs = index.dialect_kwargs
    return {
        "columns": [c.name for c in index.columns],
        "unique": bool(index.unique),
        "using": kwargs.get("postgresql_using") or "",
        "include": list(kwargs.get("postgresql_include") or []),
    }
