"""The demo: ingests a generated shop's orders day by day, then runs again
and carries on from the stored high watermark; last, it times the same rows
through plain psycopg COPY with write_row, for comparison.

    python -m pg_bulk_ingest.demo [--days N] [--orders-per-day N]
                                  [--schema NAME] [--compare-rows N]

Uses DATABASE_URL (a postgresql:// URL) when set; otherwise starts an
embedded PostgreSQL (the pgserver package: pip install '.[demo]').

It works in a schema of its own, pgbulkingest_go_demo (--schema to choose
another), which it creates and marks with a comment. A later run drops and
recreates only a schema that carries that mark: when a schema of the name
exists without it, the demo stops and changes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import itertools
import os
import tempfile
import time
import warnings
from typing import Any, Iterator, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from . import HighWatermark, Upsert, ingest

DEFAULT_SCHEMA = "pgbulkingest_go_demo"
# The comment that marks a schema as the demo's own, which it may drop.
MARKER = "Made by python -m pg_bulk_ingest.demo (pg-bulk-ingest-go), which drops and recreates it at each run."

START = datetime.date(2024, 1, 1)
STATUSES = ("placed", "packed", "shipped", "delivered")
CHANNELS = ("web", "app", "store")
# The columns' types, for psycopg's binary COPY (set_types).
PG_TYPES = ["int8", "varchar", "timestamptz", "numeric", "text", "bool", "jsonb"]


def order_columns(primary_key: bool) -> List[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("order_id", sa.BIGINT, primary_key=primary_key, nullable=False),
        sa.Column("customer", sa.VARCHAR(64), nullable=False),
        sa.Column("placed_at", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("amount", sa.NUMERIC(12, 2), nullable=False),
        sa.Column("status", sa.TEXT, nullable=False),
        sa.Column("paid", sa.BOOLEAN, nullable=False),
        sa.Column("details", postgresql.JSONB),
    ]


def orders_table(schema: str) -> sa.Table:
    """The demo's table, in a MetaData of its own."""
    return sa.Table("orders", sa.MetaData(), *order_columns(primary_key=True), sa.Index(None, "customer"), schema=schema)


def day_rows(day: int, per_day: int) -> Iterator[Tuple[Any, ...]]:
    """Status updates of the previous day's orders (same keys: the upsert
    replaces them), then the day's new orders."""
    midnight = datetime.datetime.combine(START, datetime.time(), datetime.timezone.utc)
    second = datetime.timedelta(seconds=1)
    for d, count in ((day - 1, per_day // 10), (day, per_day)):
        if d < 0:
            continue
        status = STATUSES[min(day - d + 1, 3)]
        for n in range(count):
            order_id = d * per_day + n
            mix = order_id * 2654435761 % 4294967296  # a cheap, repeatable scramble
            yield (
                order_id,
                f"customer-{mix % 50_000}",
                midnight + (d * 86_400 + mix % 86_400) * second,
                decimal.Decimal(100 + mix % 99_900).scaleb(-2),
                status,
                mix % 10 != 0,
                {"items": 1 + mix % 5, "channel": CHANNELS[mix % 3]},
            )


def run(engine: sa.engine.Engine, orders: sa.Table, days: int, per_day: int, label: str) -> None:
    counted = {"rows": 0}
    started = time.perf_counter()

    def batches(high_watermark: Any) -> Iterator[Tuple[Any, Any, Any]]:
        first = 0 if high_watermark is None else (datetime.date.fromisoformat(high_watermark) - START).days + 1
        print(f"[{label}] stored high watermark: {high_watermark!r}; ingesting days {first}..{days - 1}")
        for day in range(first, days):
            date = (START + datetime.timedelta(days=day)).isoformat()

            def counting(rows: Iterator[Tuple[Any, ...]]) -> Iterator[Tuple[sa.Table, Tuple[Any, ...]]]:
                for row in rows:
                    counted["rows"] += 1
                    yield orders, row

            yield date, {"day": date}, counting(day_rows(day, per_day))

    def on_before_visible(conn: Any, table: sa.Table, batch_metadata: Any) -> None:
        # The table the rows went into: a new table's first batch fills a
        # _tmp_ table that is swapped in when the batch commits.
        total = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        elapsed = time.perf_counter() - started
        print(f"[{label}] {batch_metadata['day']}: {counted['rows']:>9,} rows sent, {total:>9,} in the table, {elapsed:6.2f} s")

    with engine.connect() as conn:
        ingest(conn, orders.metadata, batches, high_watermark=HighWatermark.LATEST,
               upsert=Upsert.IF_PRIMARY_KEY, on_before_visible=on_before_visible)
    seconds = time.perf_counter() - started
    if counted["rows"]:
        print(f"[{label}] {counted['rows']:,} rows in {seconds:.2f} s: {counted['rows'] / seconds:,.0f} rows/s "
              "(upserts into the indexed table included)")


def prepare_schema(engine: sa.engine.Engine, schema: str, where: str) -> None:
    """Creates the demo's schema, marked as the demo's; drops it first if
    an earlier run made it. Exits, changing nothing, if a schema of that
    name exists that the demo did not make."""
    quoted = engine.dialect.identifier_preparer.quote(schema)
    with engine.begin() as conn:
        found = conn.execute(sa.text(
            "SELECT pg_catalog.obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace WHERE nspname = :name"
        ), {"name": schema}).first()
        if found is not None and found[0] != MARKER:
            raise SystemExit(
                f"The schema {quoted} already exists on {where} and this demo did not create it (it lacks the "
                f"demo's comment), so the demo stops here and leaves it untouched. Run the demo with "
                f"--schema another_name, or drop that schema yourself if you no longer need it."
            )
        if found is not None:
            conn.execute(sa.text(f"DROP SCHEMA {quoted} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {quoted}"))
        literal = "'" + MARKER.replace("'", "''") + "'"
        conn.execute(sa.text(f"COMMENT ON SCHEMA {quoted} IS {literal}"))
    what = "made by an earlier run: dropped and created again" if found is not None else "created now"
    print(f"Working in schema {quoted} on {where} ({what}; marked as the demo's by its comment)")


def compare(engine: sa.engine.Engine, conninfo: str, schema: str, count: int, per_day: int) -> None:
    """Times the first `count` rows the demo sent (updates included), into
    two new tables with the orders' columns and no keys or indexes: through
    this package, and through plain psycopg 3 COPY with write_row."""
    try:
        import psycopg
        from psycopg.types.json import JsonbBinaryDumper
    except ImportError:
        print("No speed comparison: it needs psycopg 3 (pip install 'psycopg[binary]')")
        return
    quoted = engine.dialect.identifier_preparer.quote(schema)
    ours = sa.Table("speed_pg_bulk_ingest_go", sa.MetaData(), *order_columns(primary_key=False), schema=schema)
    ours_name = f"{quoted}.speed_pg_bulk_ingest_go"
    plain = f"{quoted}.speed_psycopg_write_row"
    columns = ", ".join(c.name for c in ours.columns)

    def rows() -> Iterator[Tuple[Any, ...]]:
        return itertools.islice((row for day in itertools.count() for row in day_rows(day, per_day)), count)

    # Both timers include making the rows (the same generator, as in a
    # pipeline whose rows come from elsewhere; it makes them at about
    # 500,000 rows/s on a 2-core machine), the table's creation for ours
    # (the ingest makes it) and the commit. The best of two rounds each,
    # in turn: a machine that others share slows some rounds.
    ours_seconds = plain_seconds = float("inf")
    with psycopg.connect(conninfo) as pconn:
        pconn.adapters.register_dumper(dict, JsonbBinaryDumper)
        for _ in range(2):
            pconn.execute(f"DROP TABLE IF EXISTS {ours_name}, {plain}")
            pconn.commit()
            started = time.perf_counter()
            with engine.connect() as conn:
                ingest(conn, ours.metadata, lambda high_watermark: [(None, None, ((ours, row) for row in rows()))])
            ours_seconds = min(ours_seconds, time.perf_counter() - started)

            pconn.execute(f"CREATE TABLE {plain} (LIKE {ours_name})")
            pconn.commit()
            # Binary COPY with the column types set: psycopg's fastest write_row.
            started = time.perf_counter()
            with pconn.cursor() as cur, cur.copy(f"COPY {plain} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(PG_TYPES)
                for row in rows():
                    copy.write_row(row)
            pconn.commit()
            plain_seconds = min(plain_seconds, time.perf_counter() - started)

        # Both tables hold the same rows; then they go, the orders stay.
        differ = pconn.execute(
            f"SELECT (SELECT count(*) FROM {plain}) <> %(n)s OR (SELECT count(*) FROM {ours_name}) <> %(n)s"
            f" OR EXISTS (SELECT * FROM {ours_name} EXCEPT ALL SELECT * FROM {plain})", {"n": count}
        ).fetchone()
        if differ is None or differ[0]:
            raise SystemExit("The two speed tables hold different rows: please report this as a bug")
        pconn.execute(f"DROP TABLE {ours_name}, {plain}")
        pconn.commit()

    ours_rate, plain_rate = count / ours_seconds, count / plain_seconds
    print(f"The same {count:,} orders into a new table without keys, each (best of 2):")
    print(f"pg-bulk-ingest-go: {ours_rate:,.0f} rows/s; plain psycopg write_row: {plain_rate:,.0f} rows/s "
          f"({ours_rate / plain_rate:.1f}x)")


def start_embedded_server() -> Any:
    with warnings.catch_warnings():
        # pgserver keeps a lock file in platformdirs' user runtime
        # directory; platformdirs warns when XDG_RUNTIME_DIR is not set (as
        # in containers and cron jobs) and uses a fallback, which is fine
        # here. Only that warning is silenced.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)
        import pgserver

        return pgserver.get_server(tempfile.mkdtemp(prefix="pbi-demo-"), cleanup_mode="delete")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--orders-per-day", type=int, default=50_000)
    parser.add_argument("--schema", default=DEFAULT_SCHEMA,
                        help=f"the demo's schema (default {DEFAULT_SCHEMA}); dropped and recreated at each run "
                             "if the demo made it, else left untouched and the demo stops")
    parser.add_argument("--compare-rows", type=int, default=100_000,
                        help="rows timed against plain psycopg write_row (default 100,000; 0: no comparison)")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL")
    server = None
    if url:
        where = "the DATABASE_URL server"
    else:
        print("DATABASE_URL is not set: starting an embedded PostgreSQL (pgserver)")
        server = start_embedded_server()
        url = server.get_uri()
        where = "the embedded server"
    driver = "psycopg" if _installed("psycopg") else "psycopg2"
    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=f"postgresql+{driver}")
    # future=True: SQLAlchemy 1.4 needs it for commit(); 2.x accepts it.
    engine = sa.create_engine(parsed, future=True)
    try:
        prepare_schema(engine, args.schema, where)
        orders = orders_table(args.schema)
        first_run = max(1, args.days * 7 // 10)
        run(engine, orders, first_run, args.orders_per_day, "run 1")
        run(engine, orders, args.days, args.orders_per_day, "run 2")  # resumes after the stored watermark
        quoted = engine.dialect.identifier_preparer.quote(args.schema)
        with engine.connect() as conn:
            count, comment = conn.execute(sa.text(
                f"SELECT count(*), obj_description(CAST(:name AS regclass)) FROM {quoted}.orders"
            ), {"name": f"{quoted}.orders"}).one()
        print(f"{quoted}.orders holds {count:,} orders; its comment: {comment}")
        if args.compare_rows > 0:
            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            compare(engine, conninfo, args.schema, args.compare_rows, args.orders_per_day)
        if server is None:
            print(f"To remove what the demo made: DROP SCHEMA {quoted} CASCADE")
    finally:
        engine.dispose()
        if server is not None:
            server.cleanup()


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
