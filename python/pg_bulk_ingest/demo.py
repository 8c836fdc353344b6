"""The demo: ingests a generated shop's orders day by day, then runs again
and carries on from the stored high watermark.

    python -m pg_bulk_ingest.demo [--days N] [--orders-per-day N]

Uses DATABASE_URL (a postgresql:// URL) when set; otherwise starts an
embedded PostgreSQL (the pgserver package: pip install '.[demo]').
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import os
import tempfile
import time
from typing import Any, Iterator, Tuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from . import HighWatermark, Upsert, ingest

START = datetime.date(2024, 1, 1)
metadata = sa.MetaData()
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.BIGINT, primary_key=True),
    sa.Column("customer", sa.VARCHAR(64), nullable=False),
    sa.Column("placed_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("amount", sa.NUMERIC(12, 2), nullable=False),
    sa.Column("status", sa.TEXT, nullable=False),
    sa.Column("paid", sa.BOOLEAN, nullable=False),
    sa.Column("details", postgresql.JSONB),
    sa.Index(None, "customer"),
    schema="demo",
)
STATUSES = ("placed", "packed", "shipped", "delivered")


CHANNELS = ("web", "app", "store")


def day_rows(day: int, per_day: int) -> Iterator[Tuple[sa.Table, Tuple[Any, ...]]]:
    """The day's new orders, and status updates of the previous day's
    orders (same keys: the upsert replaces them)."""
    midnight = datetime.datetime.combine(START, datetime.time(), datetime.timezone.utc)
    second = datetime.timedelta(seconds=1)
    for d, count in ((day - 1, per_day // 10), (day, per_day)):
        if d < 0:
            continue
        status = STATUSES[min(day - d + 1, 3)]
        for n in range(count):
            order_id = d * per_day + n
            mix = order_id * 2654435761 % 4294967296  # a cheap, repeatable scramble
            yield orders, (
                order_id,
                f"customer-{mix % 50_000}",
                midnight + (d * 86_400 + mix % 86_400) * second,
                decimal.Decimal(100 + mix % 99_900).scaleb(-2),
                status,
                mix % 10 != 0,
                {"items": 1 + mix % 5, "channel": CHANNELS[mix % 3]},
            )


def run(engine: sa.engine.Engine, days: int, per_day: int, label: str) -> None:
    counted = {"rows": 0}
    started = time.perf_counter()

    def batches(high_watermark: Any) -> Iterator[Tuple[Any, Any, Any]]:
        first = 0 if high_watermark is None else (datetime.date.fromisoformat(high_watermark) - START).days + 1
        print(f"[{label}] stored high watermark: {high_watermark!r}; ingesting days {first}..{days - 1}")
        for day in range(first, days):
            date = (START + datetime.timedelta(days=day)).isoformat()

            def counting(rows: Iterator[Any]) -> Iterator[Any]:
                for row in rows:
                    counted["rows"] += 1
                    yield row

            yield date, {"day": date}, counting(day_rows(day, per_day))

    def on_before_visible(conn: Any, table: sa.Table, batch_metadata: Any) -> None:
        # The table the rows went into: a new table's first batch fills a
        # _tmp_ table that is swapped in when the batch commits.
        total = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        elapsed = time.perf_counter() - started
        print(f"[{label}] {batch_metadata['day']}: {counted['rows']:>9,} rows sent, {total:>9,} in the table, {elapsed:6.2f} s")

    with engine.connect() as conn:
        ingest(conn, metadata, batches, high_watermark=HighWatermark.LATEST,
               upsert=Upsert.IF_PRIMARY_KEY, on_before_visible=on_before_visible)
    seconds = time.perf_counter() - started
    if counted["rows"]:
        print(f"[{label}] {counted['rows']:,} rows in {seconds:.2f} s: {counted['rows'] / seconds:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--orders-per-day", type=int, default=100_000)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL")
    server = None
    if not url:
        import pgserver

        print("DATABASE_URL is not set: starting an embedded PostgreSQL (pgserver)")
        server = pgserver.get_server(tempfile.mkdtemp(prefix="pbi-demo-"), cleanup_mode="delete")
        url = server.get_uri()
    driver = "psycopg" if _installed("psycopg") else "psycopg2"
    engine = sa.create_engine(url.replace("postgresql://", f"postgresql+{driver}://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS demo CASCADE"))

    first_run = max(1, args.days * 7 // 10)
    run(engine, first_run, args.orders_per_day, "run 1")
    run(engine, args.days, args.orders_per_day, "run 2")  # resumes after the stored watermark
    with engine.connect() as conn:
        count, comment = conn.execute(sa.text(
            "SELECT count(*), obj_description('demo.orders'::regclass) FROM demo.orders")).one()
    print(f"demo.orders holds {count:,} orders; its comment: {comment}")
    engine.dispose()
    if server is not None:
        server.cleanup()


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
