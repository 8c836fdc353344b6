#!/usr/bin/env python3
"""Wide rows: peak RSS and seconds of this package and upstream side by
side, on rows of 1 MB BYTEA and of 220 KB, 40 KB and 10 KB TEXT, and on
1 KB rows with max_rows_per_table_buffer=1 and 10 (which must not make the
COPY crawl: it bounds the rows of one table held while another's are sent).

    python3 tests/benchmarks/wide_rows.py [--cases W1,W5] [--contenders ours,upstream] [--no-prepare]

Prepares .venvs/bench and .venvs/bench-upstream as suite.py does (--no-prepare
reuses them), uses DATABASE_URL, and runs each contender of each case once
in a fresh process of its environment: a 1-row warm-up ingest, then one
timed ingest of a (id BIGINT, v) table from a Python generator of rows
(ours-arrow: of record batches of 16 rows), psycopg 3; afterwards the row
count and the sum of the values' lengths are checked. Peak RSS is the
process's own (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

from contenders import OURS, UPSTREAM, drop_schema, execute, library_timed, quoted  # noqa: E402


@dataclass(frozen=True)
class Case:
    title: str
    kind: str  # bytea or text
    rows: int
    width: int  # bytes of each value
    contenders: tuple = ("upstream", "ours", "ours-arrow")


CASES: Dict[str, Case] = {
    "W1": Case("3,000 rows of 1 MB BYTEA", "bytea", 3_000, 1_000_000),
    "W2": Case("10,000 rows of 220 KB TEXT (2.2 GB: over int32 offsets in a 10,000-row chunk)", "text", 10_000, 220_000),
    "W3": Case("40,000 rows of 40 KB TEXT", "text", 40_000, 40_000),
    "W4": Case("300,000 rows of 10 KB TEXT", "text", 300_000, 10_000),
    "W5": Case("1,000,000 rows of 1 KB TEXT", "text", 1_000_000, 1_000, ("upstream", "ours", "ours-buffer-1", "ours-buffer-10")),
}
# Contender -> (environment, ingest's keyword arguments).
CONTENDERS: Dict[str, tuple] = {
    "upstream": (UPSTREAM, {}),
    "ours": (OURS, {}),
    "ours-arrow": (OURS, {}),
    "ours-buffer-1": (OURS, {"max_rows_per_table_buffer": 1}),
    "ours-buffer-10": (OURS, {"max_rows_per_table_buffer": 10}),
}


def table(case: Case, schema: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    column_type = postgresql.BYTEA if case.kind == "bytea" else sa.TEXT
    return sa.Table("wide", sa.MetaData(), sa.Column("id", sa.BIGINT), sa.Column("v", column_type), schema=schema)


def values(case: Case) -> Iterator[Any]:
    """Each row's value: a new object of case.width bytes, ending in its row number."""
    base = b"x" * case.width if case.kind == "bytea" else "x" * case.width
    suffix = b"%010d" if case.kind == "bytea" else "%010d"
    for i in range(case.rows):
        yield base[:-10] + suffix % i


def items(case: Case, t: Any, arrow: bool) -> Iterator[Any]:
    if not arrow:
        yield from ((t, (i, v)) for i, v in enumerate(values(case)))
        return
    import pyarrow as pa

    arrow_type = pa.binary() if case.kind == "bytea" else pa.string()
    ids: List[int] = []
    vs: List[Any] = []
    for i, v in enumerate(values(case)):
        ids.append(i)
        vs.append(v)
        if len(ids) == 16 or i == case.rows - 1:
            yield t, pa.record_batch({"id": pa.array(ids, pa.int64()), "v": pa.array(vs, arrow_type)})
            ids, vs = [], []


def child(request: Dict[str, Any]) -> Dict[str, Any]:
    """One timed ingest, in the contender's environment."""
    case, url = CASES[request["case"]], request["url"]
    schema = f"bench_wide_{request['case']}_{request['contender']}".lower().replace("-", "_")
    drop_schema(url, schema)
    t = table(case, schema)
    options = CONTENDERS[request["contender"]][1]
    seconds = library_timed(url, "psycopg", t.metadata, lambda: items(case, t, request["contender"] == "ours-arrow"), **options)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    count, total = execute(url, *(f"SELECT {f} FROM {quoted(schema, 'wide')}" for f in ("count(*)", "sum(length(v))")))
    drop_schema(url, schema)
    result = {"seconds": seconds, "peak_rss_mib": peak}
    if (count, total) != (case.rows, case.rows * case.width):
        result["error"] = f"stored {count} rows of {total} bytes, expected {case.rows} of {case.rows * case.width}"
    return result


def run_child(case: str, contender: str, url: str) -> Dict[str, Any]:
    import run as testrun  # tests/run.py

    request = {"case": case, "contender": contender, "url": url}
    python = testrun.python_of(CONTENDERS[contender][0])
    done = subprocess.run([python, os.path.abspath(__file__), "--child", json.dumps(request)], capture_output=True, text=True)
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):  # died before answering: its last words
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": (lines[-1].strip() if lines else f"exit code {done.returncode}")[:300]}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, e.g. W1,W5")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated names")
    parser.add_argument("--no-prepare", action="store_true", help="reuse .venvs/bench* as they are")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        try:
            result = child(json.loads(args.child))
        except Exception as error:
            result = {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:300]}
        print(json.dumps(result))
        return 0
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("set DATABASE_URL")
    if not args.no_prepare:
        import suite

        suite.prepare()
    chosen = [c.strip() for c in args.contenders.split(",") if c.strip()]
    print(f"{'case':<5} {'contender':<15} {'seconds':>8} {'peak RSS MiB':>13}  title")
    for key in [c.strip().upper() for c in args.cases.split(",") if c.strip()]:
        case = CASES[key]
        for contender in (c for c in case.contenders if c in chosen):
            started = time.monotonic()
            result = run_child(key, contender, url)
            if "error" in result:
                print(f"{key:<5} {contender:<15} error: {result['error']}  ({time.monotonic() - started:.0f} s)", flush=True)
            else:
                print(f"{key:<5} {contender:<15} {result['seconds']:8.2f} {result['peak_rss_mib']:13.0f}  {case.title}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
