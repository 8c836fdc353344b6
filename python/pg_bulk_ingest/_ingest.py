"""ingest(): upstream's signature, delegating the work to the Go engine."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import sqlalchemy as sa
from pg_force_execute import pg_force_execute

from ._constants import Delete, HighWatermark, Upsert, Visibility
from ._drivers import Driver
from ._errors import describe
from ._host_conn import HostConn
from ._host_source import HostSource, Versioned
from ._session import Session
from ._spec import table_spec

_UPSERTS = (Upsert.OFF, Upsert.IF_PRIMARY_KEY)
_DELETES = (Delete.OFF, Delete.BEFORE_FIRST_BATCH)
_VISIBILITIES = (Visibility.AFTER_EACH_BATCH,)


def _check_option(name: str, value: Any, allowed: tuple[str, ...], cls: type) -> None:
    if value not in allowed:
        names = ", ".join(f"{cls.__name__}.{k}" for k, v in vars(cls).items() if v in allowed)
        raise ValueError(f"{name}={value!r} is not one of {names}")


def check_options(upsert: Any, delete: Any, visibility: Any) -> None:
    _check_option("upsert", upsert, _UPSERTS, Upsert)
    _check_option("delete", delete, _DELETES, Delete)
    _check_option("visibility", visibility, _VISIBILITIES, Visibility)


def _check_conn(conn: Any) -> None:
    # A SQLAlchemy 1.4 Connection made without future=True has no
    # commit(), which the ingest calls after each batch.
    if not isinstance(conn, sa.engine.Connection) or not hasattr(conn, "commit"):
        raise TypeError(
            f"conn must be a SQLAlchemy Connection (engine.connect(); create_engine(..., future=True) "
            f"under SQLAlchemy 1.4), not {type(conn).__module__}.{type(conn).__qualname__}"
        )
    Driver(conn)  # refuses other drivers than psycopg2, psycopg and pgarrow
    if conn.in_transaction():
        # Upstream's conn.begin() fails here too, with SQLAlchemy's message.
        raise sa.exc.InvalidRequestError(
            "conn is in a transaction (begun by conn.begin() or by a statement run on it): ingest begins "
            "and commits a transaction per batch itself; commit or roll back first, or pass a connection "
            "with no transaction begun"
        )


def _no_callback(conn: Any, ingest_table: Any, batch_metadata: Any) -> None:
    """ingest()'s default on_before_visible, which does nothing: the job
    says whether it is the one, as only without a callback of the user's
    may a table be migrated in place (ADD COLUMN), under a lock that other
    sessions' reads would wait for until the commit."""


def ingest(
    conn: Any,
    metadata: Any,
    batches: Callable[[Any], Any],
    high_watermark: Any = HighWatermark.LATEST,
    visibility: str = Visibility.AFTER_EACH_BATCH,
    upsert: str = Upsert.IF_PRIMARY_KEY,
    delete: str = Delete.OFF,
    get_pg_force_execute: Callable[[Any, logging.Logger], Any] = lambda conn, logger: pg_force_execute(
        conn, logger=logger
    ),
    on_before_visible: Callable[[Any, Any, Any], Any] = _no_callback,
    logger: logging.Logger = logging.getLogger("pg_bulk_ingest"),
    max_rows_per_table_buffer: int = 10000,
) -> None:
    """Ingests the batches into the metadata's tables; see README.md."""
    run(
        conn,
        metadata,
        batches,
        high_watermark,
        visibility,
        upsert,
        delete,
        get_pg_force_execute,
        on_before_visible,
        logger,
        max_rows_per_table_buffer,
    )


def run(
    conn: Any,
    metadata: Any,
    batches: Callable[[Any], Any],
    high_watermark: Any,
    visibility: str,
    upsert: str,
    delete: str,
    get_pg_force_execute: Callable[[Any, logging.Logger], Any],
    on_before_visible: Callable[[Any, Any, Any], Any],
    logger: logging.Logger,
    max_rows_per_table_buffer: int,
    versioned: Optional[Versioned] = None,
) -> None:
    """ingest(), or with versioned ingest_versioned's (versioned.py): its
    job section and the callbacks that answer the engine's questions."""
    check_options(upsert, delete, visibility)
    if max_rows_per_table_buffer < 1:
        raise ValueError(f"max_rows_per_table_buffer must be at least 1, not {max_rows_per_table_buffer}")
    _check_conn(conn)
    if not isinstance(metadata, sa.MetaData):
        raise TypeError(f"metadata must be a sqlalchemy MetaData, not {describe(metadata)}")
    if not callable(batches):
        raise TypeError(
            f"batches must be a callable taking the high watermark and returning the batches, not {describe(batches)}"
        )
    tables = list(metadata.tables.values())
    if not tables:
        raise ValueError("metadata has no tables: define at least one sa.Table(..., metadata, ..., schema=...)")
    spec = {
        "tables": [table_spec(t) for t in tables],
        "options": {
            "upsert": upsert,
            "delete": delete,
            "visibility": visibility,
            "on_before_visible": on_before_visible is not _no_callback,
        },
    }
    if versioned is not None:
        spec["versioned"] = versioned.section
    source = HostSource(
        conn, tables, batches, high_watermark, on_before_visible, logger, max_rows_per_table_buffer, versioned
    )
    host = HostConn(conn, get_pg_force_execute, logger)
    spec.update(host.job)
    Session(spec, host, source, logger).run()
