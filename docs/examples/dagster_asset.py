"""A Dagster asset that ingests the event files an upstream system drops into a
landing directory into the PostgreSQL table analytics.events, with
pg-bulk-ingest-go (import name pg_bulk_ingest, the same as upstream's).

Each materialization ingests only the files newer than the last one ingested:
every file is one batch whose high watermark is the file's name, stored by the
ingest in the table's comment, so the next run's `batches(high_watermark)`
starts after it. A failed run leaves every file ingested before the failure
in place, and the next run carries on from there.

Tested by tests/examples/test_dagster.py with `dagster.materialize` against a
real server. Try it with `WAREHOUSE_URL=... dagster dev -f dagster_asset.py`.

Configuration:
- The database URL comes from the `warehouse` resource, which reads the
  environment variable WAREHOUSE_URL through dg.EnvVar: the secret stays out of
  the code and of the run configuration shown in Dagster's UI, and each
  deployment (local, staging, production) sets its own. A SQLAlchemy URL:
  postgresql+psycopg://user:password@host:5432/database (psycopg 3) or
  postgresql+psycopg2://... (psycopg2).
- landing_dir and target_schema are the asset's run configuration, with
  production defaults.

Progress: the ingest logs its progress at INFO ("Ingesting batch ... with high
watermark value ...", "Ingested 1000 rows...", "Ingested 2500 rows in total").
Passing `logger=context.log` sends those lines to the run's event log, shown
with the asset's run in the UI. Without it they go to the standard logger
"pg_bulk_ingest", which Dagster captures only when the instance's dagster.yaml
lists it:
    python_logs:
      managed_python_loggers: [pg_bulk_ingest]
      python_log_level: INFO
"""

# No `from __future__ import annotations`: Dagster reads the asset's
# annotations (config, resources) at definition time.
import datetime
import json
import pathlib
from typing import Iterator, List, Optional, Tuple

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from pg_bulk_ingest import Delete, HighWatermark, Upsert, Visibility, ingest


class Warehouse(dg.ConfigurableResource):
    """The PostgreSQL database the asset writes to, as a SQLAlchemy URL."""

    url: str

    def create_engine(self) -> sa.engine.Engine:
        return sa.create_engine(self.url, future=True)


class EventsConfig(dg.Config):
    landing_dir: str = "/data/landing/events"
    target_schema: str = "analytics"


def events_table(metadata: sa.MetaData, schema: str) -> sa.Table:
    # Types in upper case (sa.BIGINT, not sa.BigInteger), as upstream requires.
    return sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.BIGINT, primary_key=True),
        sa.Column("occurred_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("kind", sa.VARCHAR(64), nullable=False),
        sa.Column("payload", JSONB, nullable=True),
        schema=schema,
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


@dg.asset(
    key_prefix=["warehouse"],
    group_name="raw",
    kinds={"postgres"},
    # One materialization at a time: two overlapping runs would read the same
    # high watermark and ingest the same new files twice (harmless with the
    # upsert, but wasted). Give the pool a limit of one once per instance:
    #     dagster instance concurrency set warehouse_events 1
    # A second run then waits for the first and finds nothing new.
    pool="warehouse_events",
    description="Events from the landing directory, upserted on id; one batch per file.",
)
def events(context: dg.AssetExecutionContext, config: EventsConfig, warehouse: Warehouse) -> dg.MaterializeResult:
    metadata = sa.MetaData()
    table = events_table(metadata, config.target_schema)
    landing_dir = pathlib.Path(config.landing_dir)
    ingested: List[str] = []
    engine = warehouse.create_engine()
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
                logger=context.log,
            )
            rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()
    context.log.info("Ingested %d new file(s) from %s: %s", len(ingested), landing_dir, ingested)
    return dg.MaterializeResult(
        metadata={
            "new_files": dg.MetadataValue.json(ingested),
            "high_watermark": ingested[-1] if ingested else "unchanged",
            "rows_in_table": dg.MetadataValue.int(rows),
        }
    )


defs = dg.Definitions(
    assets=[events],
    resources={"warehouse": Warehouse(url=dg.EnvVar("WAREHOUSE_URL"))},
    schedules=[
        dg.ScheduleDefinition(name="events_hourly", target=[events], cron_schedule="5 * * * *"),
    ],
)
