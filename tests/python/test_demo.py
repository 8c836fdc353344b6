"""The demo, run as a user runs it: `python -m pg_bulk_ingest.demo` in a
fresh interpreter with DATABASE_URL set. It ingests, carries on from its
high watermark, compares its speed with plain psycopg write_row, and never
drops a schema it did not make.

Each test gives the demo a schema name of its own (--schema), so that the
tests never touch a real demo schema on a DATABASE_URL server."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import uuid
from typing import Iterator, Optional, Tuple

import pgcluster
import pytest
import sqlalchemy as sa
from helpers import execute, qi, query, relations

from pg_bulk_ingest.demo import DEFAULT_SCHEMA, MARKER

COMPARISON = re.compile(
    r"^pg-bulk-ingest-go: (\d[\d,]*) rows/s; plain psycopg write_row: (\d[\d,]*) rows/s \((\d+\.\d)x\)$", re.M
)
SMALL = ["--days", "3", "--orders-per-day", "2000", "--compare-rows", "20000"]


def demo(
    url: Optional[str], *args: str, timeout: float = 300, unset: Tuple[str, ...] = ()
) -> "subprocess.CompletedProcess[str]":
    """Runs the demo in a fresh interpreter that imports what this one does
    (the checkout's package or the installed one), without the environment
    variables in unset."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH", *unset)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "pg_bulk_ingest.demo", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def admin(database_url: str) -> Iterator[sa.engine.Engine]:
    """An engine of the test's own, to look at what the demo left."""
    driver = "psycopg2" if importlib.util.find_spec("psycopg2") else "psycopg"
    kwargs = {} if int(sa.__version__.split(".")[0]) >= 2 else {"future": True}
    engine = sa.create_engine(pgcluster.with_driver(database_url, driver), **kwargs)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_schema(admin: sa.engine.Engine) -> Iterator[str]:
    name = f"demo_test_{uuid.uuid4().hex[:12]}"
    yield name
    execute(admin, f"DROP SCHEMA IF EXISTS {qi(name)} CASCADE")


def test_demo_ingests_carries_on_compares_and_runs_again(
    database_url: str, admin: sa.engine.Engine, demo_schema: str
) -> None:
    out = demo(database_url, "--schema", demo_schema, *SMALL)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f'Working in schema {demo_schema} on the DATABASE_URL server (created now' in out.stdout
    # Run 1 ingests days 0 and 1; run 2 carries on from the stored watermark.
    assert "[run 1] stored high watermark: None; ingesting days 0..1" in out.stdout
    assert "[run 2] stored high watermark: '2024-01-02'; ingesting days 2..2" in out.stdout
    assert "[run 2] 2024-01-03:     2,200 rows sent,     6,000 in the table" in out.stdout
    assert f'{demo_schema}.orders holds 6,000 orders; its comment: {{"pg-bulk-ingest": {{"high-watermark": "2024-01-03"}}}}' in out.stdout
    if importlib.util.find_spec("psycopg") is not None:
        assert "The same 20,000 orders into a new table without keys, each (best of 2):" in out.stdout
        found = COMPARISON.search(out.stdout)
        assert found is not None, out.stdout
        ours, plain, ratio = (float(g.replace(",", "")) for g in found.groups())
        assert ours > 0 and plain > 0
        assert ratio == pytest.approx(ours / plain, abs=0.051)
    else:
        assert "No speed comparison: it needs psycopg 3" in out.stdout
    assert "XDG_RUNTIME_DIR" not in out.stderr
    assert f"DROP SCHEMA {demo_schema} CASCADE" in out.stdout

    # What a user finds afterwards: the orders in the marked schema, and
    # nothing else (the comparison's tables are gone).
    assert relations(admin, demo_schema) == ["orders"]
    assert query(admin, f"SELECT count(*), count(DISTINCT order_id), max(placed_at)::date::text FROM {qi(demo_schema, 'orders')}") == [
        (6000, 6000, "2024-01-03")
    ]
    assert query(admin, "SELECT obj_description(to_regnamespace(:s), 'pg_namespace')", s=demo_schema) == [(MARKER,)]

    # Run again: the schema it made is dropped and made again, same result.
    again = demo(database_url, "--schema", demo_schema, *SMALL, "--compare-rows", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "made by an earlier run: dropped and created again" in again.stdout
    assert "[run 1] stored high watermark: None" in again.stdout
    assert "plain psycopg" not in again.stdout
    assert query(admin, f"SELECT count(*) FROM {qi(demo_schema, 'orders')}") == [(6000,)]


@pytest.mark.parametrize("existing_comment", [None, "owned by the reporting team"])
def test_demo_leaves_a_schema_it_did_not_make_untouched(
    database_url: str, admin: sa.engine.Engine, demo_schema: str, existing_comment: Optional[str]
) -> None:
    statements = [
        f"CREATE SCHEMA {qi(demo_schema)}",
        f"CREATE TABLE {qi(demo_schema, 'orders')} (id int PRIMARY KEY, note text)",
        f"INSERT INTO {qi(demo_schema, 'orders')} VALUES (1, 'keep me'), (2, 'me too')",
    ]
    if existing_comment is not None:
        statements.append(f"COMMENT ON SCHEMA {qi(demo_schema)} IS '{existing_comment}'")
    execute(admin, *statements)

    out = demo(database_url, "--schema", demo_schema, *SMALL)
    assert out.returncode != 0
    assert f"The schema {demo_schema} already exists on the DATABASE_URL server and this demo did not create it" in out.stderr
    assert "leaves it untouched" in out.stderr and "--schema" in out.stderr
    assert "Traceback" not in out.stderr
    assert "[run 1]" not in out.stdout

    assert relations(admin, demo_schema) == ["orders"]
    assert query(admin, f"SELECT id, note FROM {qi(demo_schema, 'orders')} ORDER BY id") == [(1, "keep me"), (2, "me too")]
    assert query(admin, "SELECT obj_description(to_regnamespace(:s), 'pg_namespace')", s=demo_schema) == [
        (existing_comment,)
    ]


def test_demo_names_its_default_schema() -> None:
    out = demo(None, "--help", timeout=60)
    assert out.returncode == 0, out.stderr
    assert DEFAULT_SCHEMA == "pgbulkingest_go_demo"
    assert f"a schema of its own, {DEFAULT_SCHEMA}" in out.stdout


def test_demo_without_database_url_starts_a_server_quietly() -> None:
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip("pgserver is not installed in this environment: the demo needs it without DATABASE_URL")
    # As in a container or a cron job, where XDG_RUNTIME_DIR is not set.
    out = demo(None, *SMALL, "--compare-rows", "0", unset=("XDG_RUNTIME_DIR",))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DATABASE_URL is not set: starting an embedded PostgreSQL (pgserver)" in out.stdout
    assert f"Working in schema {DEFAULT_SCHEMA} on the embedded server (created now" in out.stdout
    assert f"{DEFAULT_SCHEMA}.orders holds 6,000 orders" in out.stdout
    # No warning about XDG_RUNTIME_DIR (platformdirs', through pgserver), nor any other.
    assert out.stderr == ""
