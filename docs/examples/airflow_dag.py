"""An Airflow DAG that ingests the event files an upstream system drops into a
landing directory into the PostgreSQL table analytics.events, with
pg-bulk-ingest-go (import name pg_bulk_ingest, the same as upstream's).

Each run ingests only the files newer than the last one ingested: every file
is one batch whose high watermark is the file's name, stored by the ingest in
the table's comment, so the next run's `batches(high_watermark)` starts after
it. A failed run leaves every file ingested before the failure in place, and
the next run carries on from there.

Written for Airflow 3 (`airflow.sdk`); the fallback imports make it run on
Airflow 2.x too. Tested by tests/examples/test_airflow.py, which runs this
file as `python airflow_dag.py` (`dag.test()` below) against a real server.

Configuration:
- The warehouse connection is the Airflow Connection "warehouse" (conn_id
  WAREHOUSE_CONN_ID). A Connection, not a plain environment variable, because
  that is where Airflow users keep credentials: it can come from the UI, a
  secrets backend (Vault, AWS Secrets Manager, ...) or, in container
  deployments, from an environment variable Airflow itself reads:
      AIRFLOW_CONN_WAREHOUSE='{"conn_type": "postgres", "host": "db.internal",
          "port": 5432, "login": "loader", "password": "...", "schema": "warehouse",
          "extra": {"sslmode": "require"}}'
  ("schema" is Airflow's name for the database; "extra" becomes libpq options.)
- EVENTS_LANDING_DIR and EVENTS_SCHEMA (environment of the workers) say where
  the files are and which schema to write to, so the same file serves staging
  and production.

Progress: Airflow's task logging already shows INFO lines of every library
logger in the task log, so the ingest's lines ("Ingesting batch ... with high
watermark value ...", "Ingested 1000 rows...", "Ingested 2500 rows in total")
appear there with no setup. To see less, raise the level of the logger the
package logs under: logging.getLogger("pg_bulk_ingest").setLevel(logging.WARNING).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import pathlib
from typing import Any, Iterator, List, Optional, Tuple

import pendulum
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from pg_bulk_ingest import Delete, HighWatermark, Upsert, Visibility, ingest

try:  # Airflow 3
    from airflow.sdk import BaseHook, dag, task
except ImportError:  # Airflow 2.x
    from airflow.decorators import dag, task
    from airflow.hooks.base import BaseHook

WAREHOUSE_CONN_ID = "warehouse"
LANDING_DIR = os.environ.get("EVENTS_LANDING_DIR", "/data/landing/events")
SCHEMA = os.environ.get("EVENTS_SCHEMA", "analytics")

log = logging.getLogger(__name__)


def events_table(metadata: sa.MetaData) -> sa.Table:
    # Types in upper case (sa.BIGINT, not sa.BigInteger), as upstream requires.
    return sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.BIGINT, primary_key=True),
        sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("kind", sa.VARCHAR(64), nullable=False),
        sa.Column("payload", JSONB, nullable=True),
        schema=SCHEMA,
    )


def warehouse_url(conn: Any) -> sa.engine.URL:
    """A SQLAlchemy URL from the Airflow Connection's fields. URL.create quotes
    nothing into a string, so a password with '@' or '/' needs no escaping."""
    return sa.engine.URL.create(
        "postgresql+psycopg2",
        username=conn.login,
        password=conn.password or None,
        host=conn.host or None,  # a directory (/var/run/postgresql) means a Unix socket
        port=conn.port,
        database=conn.schema or None,
        query={k: str(v) for k, v in (conn.extra_dejson or {}).items()},
    )


def landing_batches(
    table: sa.Table, landing_dir: pathlib.Path, high_watermark: Optional[str], ingested: List[str]
) -> Iterator[Tuple[str, str, Iterator[Tuple[sa.Table, tuple]]]]:
    """One batch per JSON-lines file, in name order (the names sort by time,
    e.g. events-20240601T1000.jsonl), skipping those at or before the high
    watermark: the name of the last file ingested, None on the first run."""
    for path in sorted(landing_dir.glob("*.jsonl")):
        if high_watermark is not None and path.name <= high_watermark:
            continue
        ingested.append(path.name)
        yield path.name, path.name, rows_of(table, path)


def rows_of(table: sa.Table, path: pathlib.Path) -> Iterator[Tuple[sa.Table, tuple]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                event = json.loads(line)
                yield table, (
                    event["id"],
                    datetime.datetime.fromisoformat(event["occurred_at"]),
                    event["kind"],
                    event.get("payload"),
                )


@dag(
    dag_id="ingest_events",
    schedule="@hourly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    # One run at a time: two overlapping runs would read the same high
    # watermark and ingest the same new files twice (harmless with the
    # upsert, but wasted).
    max_active_runs=1,
    # Retries are safe: a retry carries on after the last batch committed.
    # Add them in production, e.g.
    # default_args={"retries": 2, "retry_delay": datetime.timedelta(minutes=5)}.
    tags=["pg-bulk-ingest"],
)
def ingest_events() -> None:
    @task
    def ingest_new_files() -> List[str]:
        """Ingests the new files; returns their names (an XCom for downstream tasks)."""
        metadata = sa.MetaData()
        table = events_table(metadata)
        landing_dir = pathlib.Path(LANDING_DIR)
        ingested: List[str] = []
        engine = sa.create_engine(warehouse_url(BaseHook.get_connection(WAREHOUSE_CONN_ID)), future=True)
        try:
            with engine.connect() as conn:
                ingest(
                    conn,
                    metadata,
                    lambda high_watermark: landing_batches(table, landing_dir, high_watermark, ingested),
                    high_watermark=HighWatermark.LATEST,
                    visibility=Visibility.AFTER_EACH_BATCH,
                    upsert=Upsert.IF_PRIMARY_KEY,
                    delete=Delete.OFF,
                )
        finally:
            engine.dispose()
        log.info("Ingested %d new file(s) from %s: %s", len(ingested), landing_dir, ingested)
        return ingested

    ingest_new_files()


ingest_events_dag = ingest_events()


if __name__ == "__main__":
    # `python airflow_dag.py` runs the DAG once in this process, as Airflow's
    # docs suggest for debugging (needs an initialised metadata DB:
    # `airflow db migrate`); the exit status says whether the run succeeded.
    run = ingest_events_dag.test()
    raise SystemExit(0 if run.state == "success" else 1)
