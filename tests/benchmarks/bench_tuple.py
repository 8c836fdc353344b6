#!/usr/bin/env python3
"""Ingests 1,000,000 rows of (BIGINT, VARCHAR(64), TIMESTAMP, NUMERIC,
BOOLEAN) through the tuple API and prints seconds, rows/s and peak RSS.

    python tests/benchmarks/bench_tuple.py [--rows N] [--driver psycopg|psycopg2]

Uses DATABASE_URL, or starts a throwaway PostgreSQL (pgserver). Each
scenario runs in a fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = {
    "generator only": "rows are generated and dropped: the user's own cost",
    "append": "no primary key: COPY straight into the table",
    "upsert": "primary key, empty table: staging table + INSERT ... ON CONFLICT",
}


def rows(table: Any, n: int) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    start = datetime.datetime(2024, 1, 1)
    second = datetime.timedelta(seconds=1)
    for i in range(n):
        yield table, (i, f"name-{i}", start + i * second, decimal.Decimal(i).scaleb(-2), i % 2 == 0)


def one(scenario: str, n: int, url: str, driver: str) -> dict[str, Any]:
    import sqlalchemy as sa

    from pg_bulk_ingest import ingest

    metadata = sa.MetaData()
    table = sa.Table(
        "bench",
        metadata,
        sa.Column("id", sa.BIGINT, primary_key=scenario == "upsert", nullable=scenario != "upsert"),
        sa.Column("name", sa.VARCHAR(64)),
        sa.Column("at", sa.TIMESTAMP),
        sa.Column("amount", sa.NUMERIC),
        sa.Column("flag", sa.BOOLEAN),
        schema="bench",
    )
    engine = sa.create_engine(url.replace("postgresql://", f"postgresql+{driver}://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS bench CASCADE"))

    started = time.perf_counter()
    if scenario == "generator only":
        for _ in rows(table, n):
            pass
    else:
        with engine.connect() as conn:
            ingest(conn, metadata, lambda hwm: [(None, None, rows(table, n))])
    seconds = time.perf_counter() - started

    if scenario != "generator only":
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM bench.bench")).scalar()
        assert count == n, f"expected {n} rows, found {count}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"scenario": scenario, "rows": n, "seconds": seconds, "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--driver", default="psycopg", choices=["psycopg", "psycopg2"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if args.one:
        print(json.dumps(one(args.one, args.rows, url or "", args.driver)))
        return

    server = None
    if not url:
        sys.path.insert(0, os.path.dirname(HERE))
        import pgcluster

        url, server = pgcluster.start()
    env = dict(os.environ, DATABASE_URL=url)
    results = []
    for scenario in SCENARIOS:
        out = subprocess.run(
            [sys.executable, __file__, "--one", scenario, "--rows", str(args.rows), "--driver", args.driver],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    if server is not None:
        server.cleanup()

    generator = results[0]["seconds"]
    print(f"\n{args.rows:,} rows of (BIGINT, VARCHAR(64), TIMESTAMP, NUMERIC, BOOLEAN), driver {args.driver}\n")
    print(f"{'scenario':<16} {'seconds':>8} {'rows/s':>11} {'beyond generator':>17} {'peak RSS':>10}")
    for r in results:
        extra = r["seconds"] - generator
        beyond = "" if r["scenario"] == "generator only" else f"{extra * 1e6 / r['rows']:.2f} us/row"
        print(
            f"{r['scenario']:<16} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>11,.0f} {beyond:>17} "
            f"{r['peak_rss_mib']:>7.0f} MiB"
        )


if __name__ == "__main__":
    main()
