"""SQLAlchemy MetaData to the engine's JSON table spec."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


# Upstream documents SQLAlchemy's generic "CamelCase" types, and
# sqlalchemy.JSON, as unsupported in table definitions: the live table's
# reflected type must be comparable with the wanted one. The exact class
# matters: sa.INTEGER is a subclass of sa.Integer and is fine, as are the
# dialect's types (postgresql.UUID, INTERVAL, ...) and pgvector's VECTOR.
_CAMEL_CASE = {
    "Integer": "sqlalchemy.INTEGER",
    "SmallInteger": "sqlalchemy.SMALLINT",
    "BigInteger": "sqlalchemy.BIGINT",
    "Numeric": "sqlalchemy.NUMERIC",
    "Float": "sqlalchemy.REAL, sqlalchemy.FLOAT or sqlalchemy.dialects.postgresql.DOUBLE_PRECISION",
    "Double": "sqlalchemy.dialects.postgresql.DOUBLE_PRECISION",
    "String": "sqlalchemy.VARCHAR",
    "Unicode": "sqlalchemy.VARCHAR",
    "Text": "sqlalchemy.TEXT",
    "UnicodeText": "sqlalchemy.TEXT",
    "Boolean": "sqlalchemy.BOOLEAN",
    "Date": "sqlalchemy.DATE",
    "DateTime": "sqlalchemy.TIMESTAMP (timezone=True for TIMESTAMP WITH TIME ZONE)",
    "Time": "sqlalchemy.TIME (timezone=True for TIME WITH TIME ZONE)",
    "Interval": "sqlalchemy.dialects.postgresql.INTERVAL",
    "LargeBinary": "sqlalchemy.dialects.postgresql.BYTEA",
    "PickleType": "sqlalchemy.dialects.postgresql.BYTEA",
    "Uuid": "sqlalchemy.UUID",
    "Enum": "sqlalchemy.dialects.postgresql.ENUM",
    "JSON": "sqlalchemy.dialects.postgresql.JSON or JSONB",
}
_UNSUPPORTED = {getattr(sa, name): hint for name, hint in _CAMEL_CASE.items() if hasattr(sa, name)}


def check_type(column: sa.Column[Any], typ: Any) -> None:
    """A clear error for a type upstream documents as unsupported."""
    hint = _UNSUPPORTED.get(type(typ))
    if hint is not None:
        kind = "" if type(typ) is sa.JSON else 'the generic "CamelCase" type '
        raise TypeError(
            f"column {column.name!r}: {kind}sqlalchemy.{type(typ).__name__} is not supported in table "
            f"definitions; use the PostgreSQL type {hint}"
        )
    if isinstance(typ, sa.ARRAY):
        check_type(column, typ.item_type)


def column_type(column: sa.Column[Any]) -> str:
    """The column's type as PostgreSQL DDL, or a clear error for types
    upstream documents as unsupported."""
    check_type(column, column.type)
    return str(column.type.compile(dialect=_DIALECT))


def table_spec(table: sa.Table) -> dict[str, Any]:
    if not table.schema:
        raise ValueError(
            f"table {table.name!r} has no schema: pass schema=... to sa.Table (or sa.MetaData); "
            "ingest creates the schema when it is missing"
        )
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
