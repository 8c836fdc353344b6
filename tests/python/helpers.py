"""Small helpers shared by the tests: run an ingest, read back what a user
would look at (rows, catalog, comment) through a fresh connection."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa

from pg_bulk_ingest import ingest

Batch = Tuple[Any, Any, Iterable[Tuple[sa.Table, Tuple[Any, ...]]]]


class Batches:
    """A `batches` callable that yields the given batches and records the
    high watermark it was called with."""

    def __init__(self, *batches: Batch) -> None:
        self.batches = batches
        self.calls: List[Any] = []

    def __call__(self, high_watermark: Any) -> Iterable[Batch]:
        self.calls.append(high_watermark)
        return iter(self.batches)


def run_ingest(engine: sa.engine.Engine, metadata: sa.MetaData, batches: Callable[[Any], Any], **kwargs: Any) -> None:
    with engine.connect() as conn:
        ingest(conn, metadata, batches, **kwargs)


def rows_of(table: sa.Table, rows: Iterable[Sequence[Any]]) -> List[Tuple[sa.Table, Tuple[Any, ...]]]:
    """The (table, row) pairs of a batch for one table."""
    return [(table, tuple(r)) for r in rows]


def int_table(
    metadata: sa.MetaData, schema: str, name: str = "t", pk: Sequence[str] = ("id",), extra: Sequence[sa.Column] = ()
) -> sa.Table:
    """A table (id INTEGER, value VARCHAR(32), *extra) with `pk` as its
    primary key columns."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.INTEGER, primary_key="id" in pk, nullable="id" not in pk),
        sa.Column("value", sa.VARCHAR(32), primary_key="value" in pk, nullable="value" not in pk),
        *extra,
        schema=schema,
    )


_extensions: Dict[Tuple[str, str], bool] = {}


def has_extension(engine: sa.engine.Engine, name: str) -> bool:
    """Whether the server can create extension name (pgvector is "vector")."""
    key = (engine.url.render_as_string(hide_password=False), name)
    if key not in _extensions:
        found = query(engine, "SELECT count(*) FROM pg_available_extensions WHERE name = :n", n=name)
        _extensions[key] = found[0][0] > 0
    return _extensions[key]


def query(engine: sa.engine.Engine, sql: str, **params: Any) -> List[Tuple[Any, ...]]:
    """Runs sql on a fresh connection (a second session) and returns its rows."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).fetchall()]


def read_rows(engine: sa.engine.Engine, table: sa.Table, order_by: Optional[Sequence[str]] = None) -> List[Tuple[Any, ...]]:
    """The rows of table, read through SQLAlchemy on a fresh connection,
    ordered by order_by (default: all columns)."""
    names = order_by if order_by is not None else [c.name for c in table.columns]
    with engine.connect() as conn:
        result = conn.execute(sa.select(table).order_by(*(table.c[n] for n in names)))
        return [tuple(r) for r in result.fetchall()]


def table_exists(engine: sa.engine.Engine, schema: str, name: str) -> bool:
    return query(engine, "SELECT to_regclass(format('%I.%I', :s ::text, :n ::text)) IS NOT NULL", s=schema, n=name)[0][0]


def schema_exists(engine: sa.engine.Engine, schema: str) -> bool:
    return bool(query(engine, "SELECT 1 FROM pg_namespace WHERE nspname = :s ::text", s=schema))


def relations(engine: sa.engine.Engine, schema: str) -> List[str]:
    """Names of the tables and views in schema (an index keeps the name it
    was created with: a swapped-in table's primary key is `_tmp_..._pkey`,
    as upstream's)."""
    return [
        r[0]
        for r in query(
            engine,
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s ::text AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1",
            s=schema,
        )
    ]


def comment(engine: sa.engine.Engine, schema: str, name: str) -> Optional[str]:
    return query(
        engine,
        "SELECT obj_description(format('%I.%I', :s ::text, :n ::text)::regclass, 'pg_class')",
        s=schema,
        n=name,
    )[0][0]


def set_comment(engine: sa.engine.Engine, schema: str, name: str, text: str) -> None:
    with engine.begin() as conn:
        literal = conn.execute(sa.text("SELECT quote_literal(:t ::text)"), {"t": text}).scalar()
        conn.exec_driver_sql(f'COMMENT ON TABLE "{schema}"."{name}" IS {literal}')  # no bind parameters: ':1' is text


def stored_high_watermark(engine: sa.engine.Engine, schema: str, name: str) -> Any:
    """The high watermark in the table's comment; KeyError when none."""
    text = comment(engine, schema, name)
    assert text is not None, "the table has no comment"
    return json.loads(text)["pg-bulk-ingest"]["high-watermark"]


def catalog_columns(engine: sa.engine.Engine, schema: str, name: str) -> List[Tuple[str, str, bool]]:
    """(name, type as format_type writes it, nullable) of every column, in order."""
    return [
        (r[0], r[1], not r[2])
        for r in query(
            engine,
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
            "WHERE attrelid = format('%I.%I', :s ::text, :n ::text)::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            s=schema,
            n=name,
        )
    ]


def primary_key(engine: sa.engine.Engine, schema: str, name: str) -> List[str]:
    """The primary key's columns in key order; [] when none."""
    return [
        r[0]
        for r in query(
            engine,
            "SELECT a.attname::text FROM pg_constraint c "
            "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, pos) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
            "WHERE c.conrelid = format('%I.%I', :s ::text, :n ::text)::regclass AND c.contype = 'p' ORDER BY k.pos",
            s=schema,
            n=name,
        )
    ]


def connection_works(conn: sa.engine.Connection) -> bool:
    """Whether conn can still run a query and commit."""
    value = conn.execute(sa.text("SELECT 1")).scalar()
    conn.commit()
    return value == 1


def driver_error(driver: str, name: str) -> type:
    """The driver's exception class of that name, e.g. UniqueViolation."""
    if driver == "psycopg2":
        import psycopg2.errors

        return getattr(psycopg2.errors, name)  # type: ignore[no-any-return]
    import psycopg.errors

    return getattr(psycopg.errors, name)  # type: ignore[no-any-return]


def upstream_text(type_: Any, value: Any) -> Optional[str]:
    """The text upstream's insert_rows_psycopg.get_converter sends for a
    value of a column of type_, before COPY escaping (None for NULL): the
    server's reading of it is what the ingest must store."""
    if value is None:
        return None
    type_ = sa.types.to_instance(type_)
    if isinstance(type_, sa.Integer):
        return str(int(value))
    if isinstance(type_, sa.JSON):
        return json.dumps(value)
    if isinstance(type_, sa.ARRAY):
        return (
            "{"
            + ",".join(
                "NULL" if item is None else '"' + str(item).replace("\\", "\\\\").replace('"', '\\"') + '"'
                for item in value
            )
            + "}"
        )
    from sqlalchemy.dialects.postgresql import BYTEA

    if isinstance(type_, BYTEA):
        return "\\x" + value.hex().upper()
    if type(type_).__name__ == "VECTOR" and not isinstance(value, (list, str)):
        # Fixed here: a tuple or numpy array is taken, as pgvector's text of
        # its numbers (upstream's str() of them is not pgvector's syntax).
        return "[" + ",".join(map(str, value.tolist() if hasattr(value, "tolist") else value)) + "]"
    return str(value)


def ddl_type(type_: Any) -> str:
    from sqlalchemy.dialects import postgresql

    return str(sa.types.to_instance(type_).compile(dialect=postgresql.dialect()))


# --- migrations and swaps ------------------------------------------------

TMP_NAME = r"^_tmp_[0-9a-f]{32}$"


def qi(*names: str) -> str:
    """Quoted, dot-joined identifiers: qi("s", "t") is "s"."t"."""
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def execute(engine: sa.engine.Engine, *statements: str) -> None:
    """Runs the statements in one transaction on a fresh connection."""
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def relation_identity(engine: sa.engine.Engine, schema: str, name: str) -> Tuple[int, int]:
    """(oid, relfilenode) of a relation: both change when a table is rebuilt."""
    rows = query(
        engine,
        "SELECT c.oid::bigint, c.relfilenode::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s ::text AND c.relname = :n ::text",
        s=schema,
        n=name,
    )
    assert len(rows) == 1, f"{schema}.{name} not found"
    return rows[0][0], rows[0][1]


def index_definitions(engine: sa.engine.Engine, schema: str, name: str) -> List[str]:
    """pg_get_indexdef of every index of the table (those backing a primary
    key or unique constraint too) without the index's name, sorted."""
    return sorted(
        r[0]
        for r in query(
            engine,
            "SELECT replace(pg_get_indexdef(i.indexrelid), ' INDEX ' || quote_ident(c.relname) || ' ON ', ' INDEX ON ') "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = format('%I.%I', :s ::text, :n ::text)::regclass",
            s=schema,
            n=name,
        )
    )


def index_names(engine: sa.engine.Engine, schema: str, name: str) -> List[str]:
    """Names of the table's indexes that do not back a constraint (the ones
    declared with sa.Index), sorted."""
    return sorted(
        r[0]
        for r in query(
            engine,
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = format('%I.%I', :s ::text, :n ::text)::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            s=schema,
            n=name,
        )
    )


def unique_constraints(engine: sa.engine.Engine, schema: str, name: str) -> List[List[str]]:
    """The columns of each UNIQUE constraint of the table, sorted."""
    return sorted(
        list(r[0])
        for r in query(
            engine,
            "SELECT array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, pos) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.pos) "
            "FROM pg_constraint c WHERE c.conrelid = format('%I.%I', :s ::text, :n ::text)::regclass AND c.contype = 'u'",
            s=schema,
            n=name,
        )
    )


def tmp_tables(engine: sa.engine.Engine, schema: Optional[str] = None) -> List[str]:
    """Tables whose name starts with _tmp_, in schema or anywhere."""
    return [
        r[0]
        for r in query(
            engine,
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND c.relname LIKE '\\_tmp\\_%' "
            "AND (n.nspname = :s ::text OR CAST(:s AS text) IS NULL) ORDER BY 1",
            s=schema,
        )
    ]


def has_select(engine: sa.engine.Engine, role: str, schema: str, name: str) -> bool:
    """Whether role ('public' for PUBLIC) may SELECT from schema.name."""
    return query(
        engine,
        "SELECT has_table_privilege(:r ::text, format('%I.%I', :s ::text, :n ::text), 'SELECT')",
        r=role,
        s=schema,
        n=name,
    )[0][0]


def select_grantees(engine: sa.engine.Engine, schema: str, name: str) -> List[str]:
    """Grantees of SELECT on schema.name per information_schema.role_table_grants
    ('PUBLIC' for PUBLIC), sorted and without duplicates."""
    return [
        r[0]
        for r in query(
            engine,
            "SELECT DISTINCT grantee::text FROM information_schema.role_table_grants "
            "WHERE table_schema = :s ::text AND table_name = :n ::text AND privilege_type = 'SELECT' ORDER BY 1",
            s=schema,
            n=name,
        )
    ]


class RecordingForceExecute:
    """A get_pg_force_execute that records its calls and wraps
    pg_force_execute (optionally with a shorter delay)."""

    def __init__(self, delay: Any = None) -> None:
        self.calls: List[Tuple[Any, Any]] = []
        self.delay = delay

    def __call__(self, conn: Any, logger: Any) -> Any:
        from pg_force_execute import pg_force_execute

        self.calls.append((conn, logger))
        if self.delay is None:
            return pg_force_execute(conn, logger=logger)
        return pg_force_execute(conn, logger=logger, delay=self.delay)


def ingest_name(name: str) -> str:
    """A table name as on_before_visible sees it, with a new ingest table
    (`_tmp_` + 32 hex, swapped in at the end of the batch) shown as `_tmp_`."""
    return "_tmp_" if re.fullmatch(r"_tmp_[0-9a-f]{32}", name) else name
