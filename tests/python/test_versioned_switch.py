"""A versioned dataset switched between upstream pg-bulk-ingest 0.1.3 and
ours, both ways: each copies forward from the other's partition, and a
version whose rows equal the other's newest is found a duplicate, since
both compute the same hash. Upstream runs in a child process, in the
environment PBI_UPSTREAM_PYTHON names (tests/run.py makes one)."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from typing import Any, List, Optional

import pytest
import sqlalchemy as sa
from helpers import Batches, query, relations
from test_versioned import P1, P2, ROWS, UPSTREAM_HASH, V1, V2, attached, batch, comment_of, run_versioned, view_source
from versioned_table import base_table

from pg_bulk_ingest import OnDuplicate

UPSTREAM = os.environ.get("PBI_UPSTREAM_PYTHON")
pytestmark = pytest.mark.skipif(
    not UPSTREAM,
    reason="PBI_UPSTREAM_PYTHON does not name a Python with upstream pg-bulk-ingest==0.1.3 (tests/run.py sets it)",
)
V3, P3 = "2024-01-03", "mytab__20240103"

# Upstream's ingest_versioned of the rows given as JSON into base_table;
# prints "duplicate" for its DuplicatePartitionError.
CHILD = """
import json, sys
from decimal import Decimal
import sqlalchemy as sa
from pg_bulk_ingest.versioned import DuplicatePartitionError, ingest_versioned

url, schema, version, rows, on_duplicate, tests = json.loads(sys.argv[1])
sys.path.insert(0, tests)
from versioned_table import base_table

table = base_table(schema)
rows = [(r[0], r[1], None if r[2] is None else Decimal(r[2]), r[3]) for r in rows]

def batches(high_watermark):
    if rows:
        yield "h", None, [(table, r) for r in rows]

with sa.create_engine(url).connect() as conn:
    try:
        ingest_versioned(conn, table, batches, version, on_duplicate=on_duplicate)
    except DuplicatePartitionError:
        print("duplicate")
"""


def upstream(engine: sa.engine.Engine, schema: str, version: str, rows: List[Any], on_duplicate: str = "__ERROR__") -> Optional[str]:
    """Runs upstream's ingest_versioned, under psycopg 3 whatever ours
    runs under; "duplicate" when it found one."""
    url = engine.url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    as_json = [[r[0], r[1], None if r[2] is None else str(r[2]), r[3]] for r in rows]
    # Not our package: the child must import upstream's.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert UPSTREAM is not None
    done = subprocess.run(
        [UPSTREAM, "-c", CHILD, json.dumps([url, schema, version, as_json, on_duplicate, os.path.dirname(__file__)])],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() or None


NEW = (3, "c", Decimal("3.25"), "z")


def test_upstream_then_ours(engine: sa.engine.Engine, schema: str) -> None:
    upstream(engine, schema, V1, ROWS)
    assert comment_of(engine, schema, P1)["pg-bulk-ingest"]["hash"] == UPSTREAM_HASH
    table = base_table(schema)
    # Nothing new: a duplicate of upstream's version, by upstream's hash.
    run_versioned(engine, table, Batches(), V2)
    assert P2 not in relations(engine, schema) and view_source(engine, schema) == [f"{schema}.{P1}"]
    # A new row: upstream's rows copied forward, attached beside upstream's.
    batches = Batches(batch(table, [NEW]))
    run_versioned(engine, table, batches, V2)
    assert batches.calls == ["h"]
    assert query(engine, f'SELECT * FROM "{schema}".mytab ORDER BY id') == [r + (V2,) for r in [*ROWS, NEW]]
    assert attached(engine, schema, P1) and attached(engine, schema, P2)
    # Back to upstream: ours is a duplicate to it of the same rows (a
    # batch of a row it has already: upstream's partition copied forward
    # without a batch lacks the indexes, so hashes otherwise)...
    assert upstream(engine, schema, V3, [NEW]) == "duplicate"
    # ...and it carries on from ours with new rows.
    later = (4, "d", None, None)
    assert upstream(engine, schema, "2024-01-04", [later]) is None
    assert query(engine, f'SELECT id, _version FROM "{schema}".mytab ORDER BY id') == [
        (i, "2024-01-04") for i in (1, 2, 3, 4)
    ]


def test_ours_then_upstream(engine: sa.engine.Engine, schema: str) -> None:
    table = base_table(schema)
    run_versioned(engine, table, Batches(batch(table, ROWS)), V1)
    # Nothing new: upstream finds our version a duplicate, by our hash.
    assert upstream(engine, schema, V2, ROWS[:1]) == "duplicate"
    with engine.begin() as conn:  # what upstream's ERROR leaves unattached
        conn.execute(sa.text(f'DROP TABLE "{schema}".{P2}'))
    # A new row: upstream copies ours forward.
    assert upstream(engine, schema, V2, [NEW]) is None
    assert query(engine, f'SELECT * FROM "{schema}".mytab ORDER BY id') == [r + (V2,) for r in [*ROWS, NEW]]
    assert view_source(engine, schema) == [f"{schema}.{P2}"]
    # Back to ours: upstream's version is a duplicate of the same rows.
    run_versioned(engine, table, Batches(), V3, on_duplicate=OnDuplicate.SKIP)
    assert P3 not in relations(engine, schema)
    run_versioned(engine, table, Batches(batch(table, [(4, "d", None, None)])), V3)
    assert attached(engine, schema, P3) and view_source(engine, schema) == [f"{schema}.{P3}"]
    assert query(engine, f'SELECT count(*) FROM "{schema}".{P3}') == [(4,)]
