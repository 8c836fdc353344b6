"""The contenders of the benchmark suite, and the child process that runs
one of them once (see suite.py).

    python contenders.py '{"phase": "setup" | "run" | "check", "scenario": "S1", "contender": "adbc",
                           "rows": 1000000, "url": "postgresql://...", "schema": "...",
                           "workdir": "/tmp/...", "checksum": true}'

prints one JSON line: for "run", the seconds measured around the ingest
only, the process's peak RSS, the row counts found afterwards and,
optionally, a checksum of the tables' contents.

Importable in both virtual environments: upstream's pg_bulk_ingest and ours
share the import name, so the library is imported only where it is used.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import pgcluster  # noqa: E402
from workloads import BASIC_ROWS_SQL, SCENARIOS, Workload, arrow_batches, to_arrow_tables, workload  # noqa: E402

UPSTREAM, OURS = "bench-upstream", "bench"  # the virtual environments under .venvs/


@dataclass(frozen=True)
class Contender:
    venv: str
    kind: str  # generator, tuple, arrow, write_row, adbc, psql, server
    driver: str = "psycopg"  # SQLAlchemy driver name, for tuple and arrow
    description: str = ""

    @property
    def python_rows(self) -> bool:
        """Whether it consumes the Python row generator inside the timer."""
        return self.kind in ("generator", "tuple", "write_row")

    @property
    def copy_only(self) -> bool:
        """Whether it only appends into a table made beforehand (append-only scenarios)."""
        return self.kind in ("write_row", "adbc", "psql", "server")


CONTENDERS: Dict[str, Contender] = {
    "generator": Contender(OURS, "generator", description="the Python row generator, rows dropped"),
    "upstream-psycopg3": Contender(UPSTREAM, "tuple", "psycopg", "upstream pg-bulk-ingest, tuple rows"),
    "upstream-psycopg2": Contender(UPSTREAM, "tuple", "psycopg2", "upstream pg-bulk-ingest, tuple rows"),
    "ours-tuple-psycopg3": Contender(OURS, "tuple", "psycopg", "pg_bulk_ingest (this), tuple rows"),
    "ours-tuple-psycopg2": Contender(OURS, "tuple", "psycopg2", "pg_bulk_ingest (this), tuple rows"),
    "ours-arrow": Contender(OURS, "arrow", "psycopg", "pg_bulk_ingest (this), (table, pa.Table) items"),
    "psycopg3-write_row": Contender(OURS, "write_row", description="psycopg 3 binary COPY, write_row per row"),
    "adbc": Contender(OURS, "adbc", description="adbc_driver_postgresql adbc_ingest of the pa.Table"),
    "psql-copy-binary": Contender(OURS, "psql", description="psql \\copy FROM a binary COPY file"),
    "server-copy-file": Contender(OURS, "server", description="server-side COPY FROM a binary file"),
}


# --- connections and SQL ------------------------------------------------------------------------


def psycopg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def execute(url: str, *statements: str) -> List[Any]:
    """Runs statements in autocommit; returns the first value of each one's first row (or None)."""
    with psycopg_connect(url) as conn:
        values = []
        for statement in statements:
            cur = conn.execute(statement)
            row = cur.fetchone() if cur.description else None
            values.append(row[0] if row else None)
        return values


def quoted(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def drop_schema(url: str, schema: str) -> None:
    execute(url, f"DROP SCHEMA IF EXISTS {quoted(schema)} CASCADE")


def checkpoint(url: str) -> None:
    """Flushes the server's dirty pages before a timed run, so that it does not pay for the previous one's."""
    try:
        execute(url, "CHECKPOINT")
    except Exception:  # not a superuser: carry on
        pass


def counts(url: str, schema: str, tables: List[Any]) -> Dict[str, int]:
    names = [t.name for t in tables]
    found = execute(url, *(f"SELECT count(*) FROM {quoted(schema, n)}" for n in names))
    return dict(zip(names, found))


def checksum(url: str, schema: str, tables: List[Any], version: Optional[str] = None) -> str:
    """md5 of the tables' rows as text, in id order: equal contents give equal checksums. With a
    version (ingest_versioned's tables are views), also the hash in its partition's comment."""
    statements = [
        f"SELECT md5(string_agg(md5(t::text), '' ORDER BY t.id)) FROM {quoted(schema, table.name)} t"
        for table in tables
    ]
    if version is not None:
        statements += [
            f"SELECT obj_description('{quoted(schema, partition_name(table.name, version))}'::regclass, 'pg_class')"
            "::json -> 'pg-bulk-ingest' ->> 'hash'"
            for table in tables
        ]
    return "-".join(p or "empty" for p in execute(url, *statements))


def partition_name(base: str, version: str) -> str:
    """The partition of a version, as both libraries name it."""
    return f"{base}__{version.replace('-', '')}"


# --- ingesting ----------------------------------------------------------------------------------


def library_ingest(conn: Any, metadata: Any, items: Any, version: Optional[str] = None, **options: Any) -> None:
    """One batch through pg_bulk_ingest (upstream's or ours, whichever this environment has): ingest,
    or with a version ingest_versioned of the metadata's one table."""
    import pg_bulk_ingest

    def batches(high_watermark: Any) -> Any:
        return [(None, None, items)]

    if version is None:
        pg_bulk_ingest.ingest(conn, metadata, batches, **options)
    else:
        (base_table,) = metadata.tables.values()
        pg_bulk_ingest.ingest_versioned(conn, base_table, batches, version, **options)


def ingest_with_library(url: str, driver: str, metadata: Any, items: Any, version: Optional[str] = None) -> None:
    """One batch through library_ingest on a connection of its own."""
    import sqlalchemy as sa

    engine = sa.create_engine(pgcluster.with_driver(url, driver))
    try:
        with engine.connect() as conn:
            library_ingest(conn, metadata, items, version)
    finally:
        engine.dispose()


def warm_up(url: str, driver: str, schema: str) -> None:
    """One 1-row ingest before the timer, as a long-lived process (a worker, a
    scheduler) has done already: one-time costs stay out of the figures, such as
    loading our Go engine."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    table = sa.Table("warm_up", metadata, sa.Column("id", sa.BIGINT), sa.Column("name", sa.TEXT), schema=schema)
    ingest_with_library(url, driver, metadata, [(table, (1, "one"))])
    drop_schema(url, schema)


def library_timed(
    url: str, driver: str, metadata: Any, make_items: Callable[[], Any], version: Optional[str] = None,
    warm: bool = True, **options: Any,
) -> float:
    """Seconds of one library_ingest (options: ingest's keyword arguments), connection made and, when
    warm, the library warmed up beforehand."""
    import sqlalchemy as sa

    if warm:
        schema = next(iter(metadata.tables.values())).schema
        warm_up(url, driver, schema + "_warm_up")
    engine = sa.create_engine(pgcluster.with_driver(url, driver))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()
            items = make_items()
            started = time.perf_counter()
            library_ingest(conn, metadata, items, version, **options)
            return time.perf_counter() - started
    finally:
        engine.dispose()


def arrow_items(scenario: str, work: Workload) -> Callable[[], Any]:
    """The timed rows as Arrow items: pre-built pa.Tables, or for S9 a generator of record batches."""
    if scenario == "S9":
        return lambda: arrow_batches(work.tables, work.items())
    prebuilt = to_arrow_tables(work.tables, work.items())
    return lambda: iter(prebuilt)


def create_tables(url: str, metadata: Any, schema: str) -> None:
    """Makes the schema and tables as the libraries would (for the COPY-only contenders)."""
    import sqlalchemy as sa

    engine = sa.create_engine(pgcluster.with_driver(url, "psycopg"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
            metadata.create_all(conn)
    finally:
        engine.dispose()


def copy_file(workdir: str, scenario: str, rows: int) -> str:
    return os.path.join(workdir, f"{scenario}-{rows}.copy")


def make_copy_file(url: str, path: str, rows: int) -> None:
    """The scenario's rows as a binary COPY file, written by the server (once per suite run)."""
    if not os.path.exists(path):
        execute(url, f"COPY ({BASIC_ROWS_SQL.format(n=rows)}) TO '{path}' (FORMAT BINARY)")


def psql_path() -> str:
    """pgserver's psql (the same version as its server), else the one on PATH."""
    try:
        import pgserver

        candidate = os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", "psql")
        if os.path.exists(candidate):
            return candidate
    except ImportError:
        pass
    return shutil.which("psql") or "psql"


def write_row_timed(url: str, table: Any, make_items: Callable[[], Any]) -> float:
    import psycopg

    columns = ", ".join(quoted(c.name) for c in table.columns)
    types = ["int8", "varchar", "timestamp", "numeric", "bool"]  # basic_table's: S1 is its only scenario
    with psycopg.connect(url) as conn:
        items = make_items()
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY {quoted(table.schema, table.name)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for _, row in items:
                    copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def adbc_timed(url: str, table: Any, arrow_table: Any) -> float:
    import adbc_driver_postgresql.dbapi

    with adbc_driver_postgresql.dbapi.connect(url) as conn:
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.adbc_ingest(table.name, arrow_table, mode="append", db_schema_name=table.schema)
            conn.commit()
            return time.perf_counter() - started


def psql_timed(url: str, table: Any, path: str) -> float:
    command = f"\\copy {quoted(table.schema, table.name)} FROM '{path}' (FORMAT BINARY)"
    psql = psql_path()
    started = time.perf_counter()
    subprocess.run([psql, url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True)
    return time.perf_counter() - started


def server_timed(url: str, table: Any, path: str) -> float:
    with psycopg_connect(url) as conn:
        started = time.perf_counter()
        conn.execute(f"COPY {quoted(table.schema, table.name)} FROM '{path}' (FORMAT BINARY)")
        return time.perf_counter() - started


def generator_timed(make_items: Callable[[], Any]) -> float:
    items = make_items()
    started = time.perf_counter()
    for _ in items:
        pass
    return time.perf_counter() - started


# --- the two phases -----------------------------------------------------------------------------


def setup(args: Dict[str, Any]) -> Dict[str, Any]:
    """Untimed: drops the schema; ingests the setup rows with the same tool, or makes the tables and
    COPY file of the COPY-only contenders; then a checkpoint."""
    contender = CONTENDERS[args["contender"]]
    url, schema = args["url"], args["schema"]
    work = workload(args["scenario"], schema, args["rows"])
    if contender.kind == "generator":
        return {}
    drop_schema(url, schema)
    if contender.copy_only:
        create_tables(url, work.metadata, schema)
        if contender.kind in ("psql", "server"):
            make_copy_file(url, copy_file(args["workdir"], args["scenario"], args["rows"]), args["rows"])
    if work.setup_items is not None:
        if contender.kind == "arrow":
            setup_items = to_arrow_tables(list(work.setup_metadata.tables.values()), work.setup_items())
        else:
            setup_items = work.setup_items()
        setup_version = work.versions[0] if work.versions else None
        ingest_with_library(url, contender.driver, work.setup_metadata, setup_items, setup_version)
    checkpoint(url)
    return {}


def timed_version(work: Workload) -> Optional[str]:
    return work.versions[1] if work.versions else None


def timed(contender: Contender, args: Dict[str, Any], work: Workload) -> float:
    """Seconds of the contender's timed ingest; its inputs are made before the timer starts. A cold
    scenario's library is not warmed up: the suite times the whole process."""
    url, scenario = args["url"], args["scenario"]
    version, warm = timed_version(work), not SCENARIOS[scenario].cold
    if contender.kind == "generator":
        return generator_timed(work.items)
    if contender.kind == "tuple":
        return library_timed(url, contender.driver, work.metadata, work.items, version, warm)
    if contender.kind == "arrow":
        return library_timed(url, contender.driver, work.metadata, arrow_items(scenario, work), version, warm)
    (table,) = work.tables
    if contender.kind == "write_row":
        return write_row_timed(url, table, work.items)
    if contender.kind == "adbc":
        ((_, arrow_table),) = to_arrow_tables(work.tables, work.items())
        return adbc_timed(url, table, arrow_table)
    path = copy_file(args["workdir"], scenario, args["rows"])
    if contender.kind == "psql":
        return psql_timed(url, table, path)
    return server_timed(url, table, path)


def run(args: Dict[str, Any]) -> Dict[str, Any]:
    """Times the contender once; then, unless the scenario is cold (whose process the suite times
    from outside, then checks in another), the checks."""
    contender = CONTENDERS[args["contender"]]
    work = workload(args["scenario"], args["schema"], args["rows"])
    seconds = timed(contender, args, work)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result: Dict[str, Any] = {
        "seconds": seconds,
        "rows": work.timed_rows,
        # psql does the work in its own process: its peak is the one that counts.
        "peak_rss_mib": children if contender.kind == "psql" else own,
    }
    if SCENARIOS[args["scenario"]].cold:
        return result
    return result | check(args)


def check(args: Dict[str, Any]) -> Dict[str, Any]:
    """Untimed, after a run: the row counts (a wrong count is an error) and optionally a checksum of
    the tables; then drops the schema."""
    if CONTENDERS[args["contender"]].kind == "generator":
        return {}
    url, schema = args["url"], args["schema"]
    work = workload(args["scenario"], schema, args["rows"])
    found = counts(url, schema, work.tables)
    result: Dict[str, Any] = {"counts": found}
    if found != work.expected:
        result["error"] = f"wrong row counts: expected {work.expected}, found {found}"
    if args.get("checksum"):
        result["checksum"] = checksum(url, schema, work.tables, timed_version(work))
    drop_schema(url, schema)
    return result


PHASES = {"setup": setup, "run": run, "check": check}


def error_text(error: BaseException) -> str:
    """The exception's class and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def main() -> int:
    args = json.loads(sys.argv[1])
    try:
        result = PHASES[args["phase"]](args)
    except Exception as error:
        traceback.print_exc()
        print(json.dumps({"error": f"{args['phase']}: {error_text(error)}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
