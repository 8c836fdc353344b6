#!/usr/bin/env python3
"""Ingests the event files an upstream system drops into a landing directory
into the PostgreSQL table <schema>.events, with pg-bulk-ingest-go (import name
pg_bulk_ingest, the same as upstream's). A plain script: run it by hand, from
cron (see the crontab beside it) or from any scheduler.

    DATABASE_URL=postgresql+psycopg2://loader@db.internal:5432/warehouse \\
        python script.py --landing-dir /data/landing/events

Each run ingests only the files newer than the last one ingested: every file
is one batch whose high watermark is the file's name, stored by the ingest in
the table's comment, so the next run's `batches(high_watermark)` starts after
it. A run that fails (exit status 1, traceback on stderr) leaves every file
ingested before the failure in place; the next run carries on from there.

The database URL comes from the environment variable DATABASE_URL, not from a
command-line argument, which any user on the machine could read with `ps`.
Keep the password out of it too: libpq reads it from ~/.pgpass
(db.internal:5432:warehouse:loader:secret, mode 0600) or PGPASSWORD.
postgresql+psycopg2:// uses psycopg2, postgresql+psycopg:// psycopg 3.

Progress: the ingest logs at INFO to the logger "pg_bulk_ingest";
logging.basicConfig below turns those lines on, with timestamps, on stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import pathlib
import sys
from typing import Iterator, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from pg_bulk_ingest import Delete, HighWatermark, Upsert, Visibility, ingest

log = logging.getLogger("ingest_events")


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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Ingest new event files into <schema>.events")
    parser.add_argument("--landing-dir", type=pathlib.Path, required=True, help="directory of *.jsonl files")
    parser.add_argument("--schema", default="analytics", help="target schema (default: analytics)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    url = os.environ.get("DATABASE_URL")
    if not url:
        parser.error("set DATABASE_URL to the target database's SQLAlchemy URL")
    if not args.landing_dir.is_dir():
        parser.error(f"--landing-dir {args.landing_dir} is not a directory")

    metadata = sa.MetaData()
    table = events_table(metadata, args.schema)
    ingested: List[str] = []
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            ingest(
                conn,
                metadata,
                lambda high_watermark: landing_batches(table, args.landing_dir, high_watermark, ingested),
                high_watermark=HighWatermark.LATEST,
                visibility=Visibility.AFTER_EACH_BATCH,
                upsert=Upsert.IF_PRIMARY_KEY,
                delete=Delete.OFF,
            )
    finally:
        engine.dispose()
    log.info("Ingested %d new file(s) from %s: %s", len(ingested), args.landing_dir, ingested)
    return 0


if __name__ == "__main__":
    sys.exit(main())
