#!/usr/bin/env python3
"""Side-by-side benchmarks: this package against upstream pg-bulk-ingest and
against the COPY baselines (psycopg 3 write_row, ADBC, psql \\copy of a
binary file, the server's own COPY FROM a file), over eleven scenarios.

    python3 tests/benchmarks/suite.py [--quick] [--reps N] [--rows N]
        [--scenarios S1,S2] [--contenders ours-arrow,adbc] [--all] [--output NAME] [--no-prepare]

1. Builds this checkout's wheel (as tests/run.py does) and prepares two
   virtual environments: .venvs/bench-upstream (upstream pg-bulk-ingest from
   PyPI: the same import name, so its own environment) and .venvs/bench
   (ours, pyarrow, ADBC, matplotlib, pgserver...). --no-prepare reuses them
   as they are.
2. Uses DATABASE_URL, or starts a throwaway PostgreSQL (pgserver).
3. Runs every contender of every scenario --reps times (3; --quick: 1 and
   a tenth of the rows), round-robin with the order rotated each round.
   Each run is two fresh processes: an untimed setup (drop the schema,
   setup ingest with the same tool, tables for the COPY-only contenders),
   then the run, which times the ingest only, and afterwards checks the
   row counts (a wrong count is an error) and, in the first round, a
   checksum of the tables' contents (on S10, ingest_versioned, also the
   partition's hash: one other than upstream's is an error, a compatibility
   check). Peak RSS is the run process's own.
4. Prints a table per scenario and the targets, and writes
   tests/benchmarks/results/latest.{md,json,png} (--output names them).

Scenarios are in workloads.py, contenders in contenders.py, the tables,
targets and chart in report.py. S11 times whole cold processes from the
outside (start, imports, input, ingest, exit), the way a cron job runs. S9 (10x the rows, streamed) runs ours only,
to keep the suite's runtime down: upstream would take about 10x its S1
time per run, per driver and round (--all includes it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path[:0] = [HERE, TESTS]

import report  # noqa: E402
import wide_rows  # noqa: E402
import run as testrun  # noqa: E402  tests/run.py: wheel building and environments
from contenders import CONTENDERS, OURS, UPSTREAM  # noqa: E402
from workloads import SCENARIOS, scenario_rows  # noqa: E402

RESULTS = os.path.join(HERE, "results")
DOCS = os.path.join(os.path.dirname(TESTS), "docs", "benchmarks.md")
DOCS_BEGIN, DOCS_END = "<!-- suite.py writes from here -->", "<!-- to here -->"
CHILD = os.path.join(HERE, "contenders.py")
CHILD_TIMEOUT = 3600  # seconds: a run that takes longer is an error

REQUIREMENTS = {
    UPSTREAM: ["pg-bulk-ingest==0.1.3", "SQLAlchemy>=2", "psycopg2-binary>=2.9.2", "psycopg[binary]>=3.1.4"],
    OURS: [
        "SQLAlchemy>=2", "psycopg[binary]>=3.1.4", "psycopg2-binary>=2.9.2", "pyarrow", "pandas", "polars",
        "adbc-driver-postgresql", "adbc-driver-manager", "matplotlib", "pgserver>=0.1.4",
    ],
}
NOTES = [
    "Seconds are measured inside each run's own process (S11 aside), around the ingest only (connection made and Arrow "
    "inputs built before); peak RSS is that process's (psql's own for psql-copy-binary).",
    "'us/row beyond generator' is (seconds - generator's) / rows, for the contenders that consume the Python "
    "row generator inside the timer.",
    "'data' compares a checksum of the ingested rows' text (t::text, first round) with upstream-psycopg3's: "
    "DIFFERS means other values, or other text of the same values (e.g. a NUMERIC without its trailing zeros).",
    "Each run is a fresh process in which the library (upstream's or ours) first ingests one row into a scratch "
    "table, untimed, as a long-lived worker has: one-time costs stay out of the figures (ours loads its Go engine). "
    "Building the Arrow contenders' input before the timer (pa.array) makes pyarrow import pandas, which is "
    "installed: about 45 MiB of their peak RSS; ours alone never has it imported.",
    "S11 times each contender's whole fresh process from the outside, as a cron job or an Airflow task runs: "
    "interpreter start, imports (ours loads its Go engine), the input made (the Python rows; the pa.Table for "
    "ours-arrow and adbc; the COPY file is made beforehand), S1's ingest, exit; no warm-up. Its peak RSS is the "
    "process's.",
    "S9 runs ours only, to keep the runtime down (upstream would take ~10x its S1 time per run; --all includes "
    "it); its Arrow input is record batches of 100,000 rows built from the Python rows inside the timer.",
    "S10 times ingest_versioned of a second version (the first, of the same rows, set up untimed by the same "
    "library): copy-forward of the first, the batch upserted, hash, attach and view; its 'data' covers the view's "
    "rows and the partition comment's hash, and DIFFERS there is an error (a compatibility check).",
]
REPORTED_PACKAGES = (
    "pg-bulk-ingest", "pg-bulk-ingest-go", "SQLAlchemy", "psycopg", "psycopg-binary", "psycopg2-binary", "pyarrow",
    "pandas", "polars", "adbc-driver-postgresql", "adbc-driver-manager", "matplotlib", "pgserver",
)


# --- preparing ----------------------------------------------------------------------------------


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, one repetition")
    parser.add_argument("--reps", type=int, help="repetitions per contender (default 3, --quick 1)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of S1-S4, S7, S8, S10 (S5, S6: a fifth; S9: 10x)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, e.g. S1,S2")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated names (the generator baseline always runs)")
    parser.add_argument("--all", action="store_true", help="upstream on S9 too")
    parser.add_argument("--output", default="latest", help="results/OUTPUT.{md,json,png} (default latest)")
    parser.add_argument("--no-prepare", action="store_true", help="reuse .venvs/bench* as they are")
    parser.add_argument("--wide", default="W1,W2,W3,W4,W5",
                        help="wide-row cases of wide_rows.py to run after the scenarios ('' for none)")
    parser.add_argument("--prepared", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows //= 10
    args.reps = args.reps or (1 if args.quick else 3)
    args.scenarios = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for name, known in (("scenario", SCENARIOS), ("contender", CONTENDERS)):
        unknown = [x for x in getattr(args, name + "s") if x not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}; known: {', '.join(known)}")
    return args


def prepare_environment(name: str, requirements: List[str], wheel: Optional[str]) -> None:
    """A virtual environment under .venvs/ with the requirements (and our wheel, reinstalled)."""
    if wheel is not None:
        testrun.prepare(name, testrun.Environment(requirements, []), wheel)
        return
    testrun.log(f"Preparing environment {name}")
    if not os.path.exists(testrun.python_of(name)) and testrun.create_venv(name, None):
        sys.exit(f"creating environment {name} failed")
    if testrun.run([testrun.python_of(name), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]):
        sys.exit(f"installing environment {name} failed")


def prepare() -> None:
    wheel = testrun.build_wheel()
    prepare_environment(UPSTREAM, REQUIREMENTS[UPSTREAM], None)
    prepare_environment(OURS, REQUIREMENTS[OURS], wheel)


def versions(environment: str) -> Dict[str, str]:
    out = subprocess.run(
        [testrun.python_of(environment), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout
    installed = {p["name"].lower(): p["version"] for p in json.loads(out)}
    return {name: installed[name.lower()] for name in REPORTED_PACKAGES if name.lower() in installed}


# --- the machine --------------------------------------------------------------------------------


def cpu_description() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        models = []
    return f"{os.cpu_count()} x {models[0] if models else platform.processor() or 'unknown CPU'}"


def memory_description() -> str:
    try:
        with open("/proc/meminfo") as f:
            total_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal"))
        return f"{total_kib / 1024 ** 2:.1f} GiB"
    except (OSError, StopIteration):
        return "unknown"


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]


def checkout_description() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=testrun.ROOT, capture_output=True, text=True).stdout.strip()

    changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    return f"{git('rev-parse', '--short', 'HEAD')}" + (f" with {changed} file(s) changed" if changed else "")


# --- running ------------------------------------------------------------------------------------


def contenders_for(scenario: str, args: argparse.Namespace) -> List[str]:
    """The contenders of a scenario: the COPY-only ones on append-only scenarios; on S9 ours with
    psycopg 3 (and upstream with --all); the generator always, as the baseline."""
    info = SCENARIOS[scenario]
    chosen = []
    for name, contender in CONTENDERS.items():
        if name != "generator" and name not in args.contenders:
            continue
        if contender.copy_only and not info.append_only:
            continue
        if info.streaming and (name == "ours-tuple-psycopg2" or (contender.venv == UPSTREAM and not args.all)):
            continue
        chosen.append(name)
    return chosen


def child(phase: str, contender: str, scenario: str, rows: int, url: str, workdir: str, checksum: bool) -> Dict[str, Any]:
    """One fresh process of the contender's environment; its JSON answer, or {"error": ...}."""
    request = {
        "phase": phase, "scenario": scenario, "contender": contender, "rows": rows, "url": url,
        "schema": f"bench_{scenario}_{contender}".lower().replace("-", "_"), "workdir": workdir, "checksum": checksum,
    }
    python = testrun.python_of(CONTENDERS[contender].venv)
    try:
        done = subprocess.run([python, CHILD, json.dumps(request)], capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"{phase} took more than {CHILD_TIMEOUT} s"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):  # died before answering
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"error": f"{phase}: " + (lines[-1].strip() if lines else f"exit code {done.returncode}")[:300]}


def run_once(contender: str, scenario: str, rows: int, url: str, workdir: str, checksum: bool) -> Dict[str, Any]:
    prepared = child("setup", contender, scenario, rows, url, workdir, False)
    if "error" in prepared:
        return prepared
    if not SCENARIOS[scenario].cold:
        return child("run", contender, scenario, rows, url, workdir, checksum)
    # The whole process is timed, from its start to its exit; the checks run in another one.
    started = time.perf_counter()
    result = child("run", contender, scenario, rows, url, workdir, False)
    wall = time.perf_counter() - started
    if "error" in result:
        return result
    result |= {"seconds": wall, "in_process_seconds": result["seconds"]}
    return result | child("check", contender, scenario, rows, url, workdir, checksum)


def rotated(names: List[str], by: int) -> List[str]:
    by %= len(names)
    return names[by:] + names[:by]


def run_scenario(scenario: str, args: argparse.Namespace, url: str, workdir: str) -> Dict[str, List[Dict[str, Any]]]:
    rows = scenario_rows(scenario, args.rows)
    names = contenders_for(scenario, args)
    testrun.log(f"{scenario}: {SCENARIOS[scenario].title}, {rows:,} rows, {args.reps} round(s)")
    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(args.reps):
        for name in rotated(names, round_):
            started = time.monotonic()
            result = run_once(name, scenario, rows, url, workdir, checksum=round_ == 0 and scenario != "S9")
            runs[name].append(result)
            wall = time.monotonic() - started
            if "error" in result:
                print(f"  round {round_ + 1} {name:<20} error: {result['error']}", flush=True)
            else:
                print(
                    f"  round {round_ + 1} {name:<20} {result['seconds']:8.3f} s  peak {result['peak_rss_mib']:6.0f} MiB"
                    f"  (setup and checks included: {wall:.0f} s)",
                    flush=True,
                )
    return runs


def start_server() -> tuple[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, None
    testrun.log("Starting PostgreSQL (pgserver) since DATABASE_URL is not set")
    import pgcluster

    return pgcluster.start()


def write_results(
    name: str, markdown: str, raw: Dict[str, Any], summary: report.Summary, found: List[report.Target]
) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    base = os.path.join(RESULTS, name)
    with open(base + ".md", "w") as f:
        f.write(markdown)
    with open(base + ".json", "w") as f:
        json.dump(raw, f, indent=1, default=str)
    report.chart(summary, found, base + ".png")
    print(f"\nWritten: {base}.md, {base}.json, {base}.png")


def write_docs(summary: report.Summary, found: List[report.Target], about: Dict[str, str]) -> None:
    """The summary table and the targets of a run written as latest into docs/benchmarks.md, between
    its markers, so that the docs show the last full run's figures as measured."""
    with open(DOCS) as f:
        text = f.read()
    head, rest = text.split(DOCS_BEGIN)
    _, tail = rest.split(DOCS_END)
    block = [
        f"Run {about['date']} at {about['checkout']}: {about['CPU']}, {about['RAM']}, {about['PostgreSQL'].split(' on ')[0]}, "
        f"Python {about['Python']}; rows {about['rows (--rows)']}. Seconds; × = times faster than upstream on "
        "the same driver (Arrow: than upstream on psycopg 3).",
        "",
        report.summary_table(summary),
        "| verdict | target | figures | why not met (measured) |",
        "| --- | --- | --- | --- |",
        *(f"| {t.verdict} | {t.what} | {t.detail.replace('|', '/')} | {t.why.replace('|', '/')} |" for t in found),
    ]
    with open(DOCS, "w") as f:
        f.write(head + DOCS_BEGIN + "\n" + "\n".join(block) + "\n" + DOCS_END + tail)
    print(f"Written: {DOCS} (between its markers)")


def benchmark(args: argparse.Namespace) -> int:
    url, server = start_server()
    workdir = tempfile.mkdtemp(prefix="pbi-bench-")
    os.chmod(workdir, 0o777)  # the server writes the COPY files here
    started = datetime.datetime.now().astimezone()
    try:
        runs = {scenario: run_scenario(scenario, args, url, workdir) for scenario in args.scenarios}
        if args.wide:
            print("\nWide rows (tests/benchmarks/wide_rows.py), one run each:", flush=True)
            os.environ["DATABASE_URL"] = url
            wide_rows.main(["--no-prepare", "--cases", args.wide])
        context = {
            "about": {
                "date": started.strftime("%Y-%m-%d %H:%M %Z"),
                "command": "python3 tests/benchmarks/suite.py " + " ".join(args.argv),
                "rows (--rows)": f"{args.rows:,}; repetitions: {args.reps} (median reported)",
                "checkout": checkout_description(),
                "CPU": cpu_description(),
                "RAM": memory_description(),
                "PostgreSQL": server_version(url),
                "Python": platform.python_version(),
            },
            "versions": {env: versions(env) for env in (UPSTREAM, OURS)},
            "notes": NOTES,
        }
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = report.summarise(runs)
    found = report.targets(summary)
    text = report.text_report(summary, found)
    print(text)
    raw = {
        "context": context,
        "runs": runs,
        "summary": {s: {n: vars(line) for n, line in lines.items()} for s, lines in summary.items()},
        "targets": [vars(t) | {"verdict": t.verdict} for t in found],
    }
    write_results(args.output, report.markdown_report(summary, found, context), raw, summary, found)
    if args.output == "latest":
        write_docs(summary, found, context["about"])
    return 0


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    args.argv = [a for a in argv if a != "--prepared"]
    if args.prepared:
        return benchmark(args)
    if not args.no_prepare:
        prepare()
    python = testrun.python_of(OURS)
    os.execv(python, [python, os.path.abspath(__file__), "--prepared", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
