#!/usr/bin/env python3
"""Swaps under readers that lock several relations, ours against upstream.

    python3 tests/benchmarks/swap_readers.py [--readers 20] [--swaps 10] [--many 200]
        [--patterns two_views,...] [--contenders ours,upstream] [--driver psycopg] [--url URL]

Each pattern runs reader threads, each on its own connection, reading the
table `t` and its views `v1` and `v2` (and, for other_table, a second
table `u` and its view `vu`, swapped by an ingest of their own) in one of
the orders below, half of them forwards and half backwards, while ingests
with Delete.BEFORE_FIRST_BATCH swap the tables --swaps times each:

- two_views: one statement over v1 and v2 (UNION ALL)
- views_in_transaction: v1 then v2 in one transaction, two statements
- view_join_table: t joined to v1
- other_table: t joined to vu, u being swapped by another ingest

two_views runs a second time with --many readers. Ingest k of a table
writes a number of rows that no other ingest writes, so every count a
reader sees must be one of the ingests' totals, and counts of one table
in one statement must agree: anything else would be a partial batch.

Per run it prints the ingests that failed, the readers' errors and wrong
counts, and the readers' waits during the swaps: the duration of each
reader statement that overlapped a swap (from the ingest's "Renaming
tables if necessary" line to the end of its commit), p50/p99/max.

Ours runs from this checkout (python/, built by `python3 build.py`) in
.venvs/sqlalchemy2; upstream 0.1.3 in .venvs/bench-upstream (see
suite.py), or --upstream-python. Each contender and pattern is a child
process. Without --url, a throwaway server with max_connections = 300 is
started (pgserver), as --many readers need their own connections.

tests/python/test_swap_readers.py runs the same patterns, fewer readers
and swaps, with both drivers, and asserts no errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

import pgcluster  # noqa: E402


@dataclass(frozen=True)
class Pattern:
    # Each reader runs its statements in one transaction, over and over:
    # even readers `forward`, odd ones `backward`. Each statement returns
    # one row of counts, of the tables it names beside it.
    forward: Sequence[Tuple[str, Sequence[str]]]
    backward: Sequence[Tuple[str, Sequence[str]]]
    tables: Sequence[str] = ("t",)  # the tables that ingests swap


UNION = "SELECT sum(n) FILTER (WHERE k = 1), sum(n) FILTER (WHERE k = 2) FROM (SELECT {a} AS k, count(*) AS n FROM {va} UNION ALL SELECT {b}, count(*) FROM {vb}) s"
JOIN = "SELECT count(a.id), count(b.id) FROM {x} a FULL JOIN {y} b USING (id)"
TT = ("t", "t")

PATTERNS: Dict[str, Pattern] = {
    "two_views": Pattern(
        [(UNION.format(a=1, va="{v1}", b=2, vb="{v2}"), TT)], [(UNION.format(a=2, va="{v2}", b=1, vb="{v1}"), TT)]
    ),
    "views_in_transaction": Pattern(
        [("SELECT count(*) FROM {v1}", ("t",)), ("SELECT count(*) FROM {v2}", ("t",))],
        [("SELECT count(*) FROM {v2}", ("t",)), ("SELECT count(*) FROM {v1}", ("t",))],
    ),
    "view_join_table": Pattern([(JOIN.format(x="{t}", y="{v1}"), TT)], [(JOIN.format(x="{v1}", y="{t}"), TT)]),
    "other_table": Pattern(
        [(JOIN.format(x="{t}", y="{vu}"), ("t", "u"))], [(JOIN.format(x="{vu}", y="{t}"), ("u", "t"))], tables=("t", "u")
    ),
}


def qi(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def rows_of_ingest(table: str, k: int) -> int:
    """Rows written by ingest k of a table (0 is the setup's): a total no
    other ingest of any table writes."""
    return (100 if table == "t" else 1000) + k


@dataclass
class Result:
    ingests: int = 0
    ingest_errors: List[str] = field(default_factory=list)
    reader_errors: List[str] = field(default_factory=list)
    wrong_counts: List[str] = field(default_factory=list)
    statements: int = 0
    waits_ms: List[float] = field(default_factory=list)  # statements that overlapped a swap
    retries: int = 0  # our "Waiting for readers" lines
    seconds: float = 0.0

    def summary(self) -> Dict[str, Any]:
        waits = sorted(self.waits_ms)

        def pct(p: float) -> Optional[float]:
            return round(waits[min(len(waits) - 1, int(p * len(waits)))], 1) if waits else None

        return {
            "ingests": self.ingests,
            "ingest_errors": len(self.ingest_errors),
            "reader_errors": len(self.reader_errors),
            "wrong_counts": len(self.wrong_counts),
            "statements": self.statements,
            "during_swaps": len(waits),
            "wait_p50_ms": pct(0.5),
            "wait_p99_ms": pct(0.99),
            "wait_max_ms": round(waits[-1], 1) if waits else None,
            "retries": self.retries,
            "seconds": round(self.seconds, 1),
            "examples": (self.ingest_errors[:2] + self.reader_errors[:2] + self.wrong_counts[:2]),
        }


class SwapWindows(logging.Handler):
    """Records when each ingest's swap starts, from its log."""

    def __init__(self, result: Result) -> None:
        super().__init__()
        self.result = result
        self.start: Optional[float] = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "Renaming tables if necessary":
            self.start = time.monotonic()
        elif str(record.msg).startswith("Waiting for readers of"):
            self.result.retries += 1  # emit runs under the handler's lock


def run_pattern(
    url: str, driver: str, pattern: str, readers: int, swaps: int, think: float = 0.005, schema: Optional[str] = None
) -> Result:
    """Runs one pattern on the server at url (a postgresql:// URL) with
    the pg_bulk_ingest importable here; each reader pauses up to `think`
    seconds between its transactions. Drops its schema afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from pg_bulk_ingest import Delete, ingest

    p = PATTERNS[pattern]
    schema = schema or f"swap_readers_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pgcluster.with_driver(url, driver), poolclass=NullPool, future=True)  # 1.4 needs it
    names = {n: qi(schema, n) for n in ("t", "u", "v1", "v2", "vu")}
    result = Result()
    lock = threading.Lock()
    windows: List[Tuple[float, float]] = []
    valid = {t: {rows_of_ingest(t, k) for k in range(swaps + 1)} for t in p.tables}

    def table(name: str) -> sa.Table:
        return sa.Table(
            name, sa.MetaData(), sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("value", sa.INTEGER), schema=schema
        )

    def run_ingest(name: str, k: int, logger: logging.Logger) -> None:
        t = table(name)
        rows = [(t, (i, k)) for i in range(rows_of_ingest(name, k))]
        with engine.connect() as conn:
            ingest(conn, t.metadata, lambda hwm: [(k, None, rows)], delete=Delete.BEFORE_FIRST_BATCH, logger=logger)

    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {qi(schema)}"))
    for name in p.tables:
        run_ingest(name, 0, logging.getLogger("swap_readers.setup"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE VIEW {names['v1']} AS SELECT id, value FROM {names['t']}"))
        conn.execute(sa.text(f"CREATE VIEW {names['v2']} AS SELECT id, value FROM {names['t']} WHERE id >= 0"))
        if "u" in p.tables:
            conn.execute(sa.text(f"CREATE VIEW {names['vu']} AS SELECT id, value FROM {names['u']}"))

    stop = threading.Event()
    started = threading.Barrier(readers + 1)
    spans: List[Tuple[float, float]] = []  # every reader statement: start, end

    def check(counted: Sequence[str], values: Sequence[Any]) -> Optional[str]:
        seen: Dict[str, Any] = {}
        for t, n in zip(counted, values):
            if n not in valid[t] or seen.setdefault(t, n) != n:
                return f"counts {list(values)} of {list(counted)}"
        return None

    def read(reader: int) -> None:
        statements = [(sa.text(s.format(**names)), counted) for s, counted in (p.backward if reader % 2 else p.forward)]
        # One statement runs in autocommit, as most readers' do: its locks
        # last as long as it runs, not until the client's COMMIT.
        options = {"isolation_level": "AUTOCOMMIT"} if len(statements) == 1 else {}
        conn = engine.connect().execution_options(**options)
        started.wait()
        try:
            while not stop.is_set():
                try:
                    with conn.begin():
                        for k, (statement, counted) in enumerate(statements):
                            if k:
                                time.sleep(random.uniform(0.001, 0.003))
                            t0 = time.monotonic()
                            values = conn.execute(statement).one()
                            t1 = time.monotonic()
                            wrong = check(counted, values)
                            with lock:
                                spans.append((t0, t1))
                                if wrong:
                                    result.wrong_counts.append(wrong)
                except Exception as e:  # noqa: BLE001 - counted and reported
                    with lock:
                        result.reader_errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")
                    conn.invalidate()
                    conn.close()
                    conn = engine.connect().execution_options(**options)
                time.sleep(random.uniform(0, think))
        finally:
            conn.close()

    def ingests(name: str) -> None:
        logger = logging.getLogger(f"swap_readers.{uuid.uuid4().hex}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        handler = SwapWindows(result)
        logger.addHandler(handler)
        for k in range(1, swaps + 1):
            time.sleep(random.uniform(0.02, 0.1))
            handler.start = None
            try:
                run_ingest(name, k, logger)
                with lock:
                    result.ingests += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    result.ingest_errors.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0]}")
            if handler.start is not None:
                with lock:
                    windows.append((handler.start, time.monotonic()))

    threads = [threading.Thread(target=read, args=(r,)) for r in range(readers)]
    for th in threads:
        th.start()
    started.wait()
    began = time.monotonic()
    writers = [threading.Thread(target=ingests, args=(name,)) for name in p.tables]
    for th in writers:
        th.start()
    for th in writers:
        th.join()
    result.seconds = time.monotonic() - began
    stop.set()
    for th in threads:
        th.join()
    result.statements = len(spans)
    result.waits_ms = [(e - s) * 1000 for s, e in spans if any(s < we and e > ws for ws, we in windows)]
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {qi(schema)} CASCADE"))
    engine.dispose()
    return result


# --- the side-by-side run -------------------------------------------------------------------------


def child(args: Dict[str, Any]) -> None:
    try:
        r = run_pattern(args["url"], args["driver"], args["pattern"], args["readers"], args["swaps"], args["think"])
        print(json.dumps(r.summary()))
    except Exception:  # noqa: BLE001 - the parent reports it
        print(json.dumps({"crash": traceback.format_exc()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--swaps", type=int, default=10)
    parser.add_argument("--many", type=int, default=200, help="readers of two_views' second run (0: none)")
    parser.add_argument("--patterns", default=",".join(PATTERNS))
    parser.add_argument("--think", type=float, default=0.005, help="readers' pause between reads, at most (s)")
    parser.add_argument("--contenders", default="ours,upstream")
    parser.add_argument("--driver", default="psycopg", choices=["psycopg", "psycopg2"])
    parser.add_argument("--url", default=None, help="default: a throwaway server")
    parser.add_argument("--upstream-python", default=os.path.join(ROOT, ".venvs", "bench-upstream", "bin", "python"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    server = None
    url = args.url
    if url is None:
        url, server = pgcluster.start(max_connections=300)
    pythons = {
        "ours": (os.path.join(ROOT, ".venvs", "sqlalchemy2", "bin", "python"), os.path.join(ROOT, "python")),
        "upstream": (args.upstream_python, ""),
    }
    runs = [(pattern, args.readers) for pattern in args.patterns.split(",")]
    if args.many and "two_views" in args.patterns.split(","):
        runs.append(("two_views", args.many))
    header = (
        f"{'pattern':<22}{'readers':>8}{'contender':>10}{'ingests':>8}{'failed':>7}{'reader err':>11}"
        f"{'wrong':>6}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'retries':>8}{'secs':>6}"
    )
    print(f"{args.swaps} swaps per table per run, driver {args.driver}, readers pause up to {args.think * 1000:g} ms")
    print(header)
    try:
        for pattern, readers in runs:
            for contender in args.contenders.split(","):
                python, path = pythons[contender]
                doc = {
                    "url": url, "driver": args.driver, "pattern": pattern, "readers": readers, "swaps": args.swaps,
                    "think": args.think,
                }
                env = dict(os.environ, PYTHONPATH=path)
                out = subprocess.run(
                    [python, os.path.abspath(__file__), "--child", json.dumps(doc)], capture_output=True, text=True, env=env
                )
                lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
                r = json.loads(lines[-1]) if lines else {"crash": out.stderr[-2000:]}
                if "crash" in r:
                    print(f"{pattern:<22}{readers:>8}{contender:>10}  crashed:\n{r['crash']}")
                    continue
                print(
                    f"{pattern:<22}{readers:>8}{contender:>10}{r['ingests']:>8}{r['ingest_errors']:>7}"
                    f"{r['reader_errors']:>11}{r['wrong_counts']:>6}{r['wait_p50_ms']!s:>8}{r['wait_p99_ms']!s:>8}"
                    f"{r['wait_max_ms']!s:>8}{r['retries']:>8}{r['seconds']:>6}"
                )
                for example in r["examples"]:
                    print(f"    {example}")
                sys.stdout.flush()
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
