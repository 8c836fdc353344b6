"""Against a Citus cluster (the citus_url fixture: CITUS_DATABASE_URL, or a
local coordinator and two workers that tests/citus_cluster.py builds and
starts), skipped with the reason when there is none."""

from __future__ import annotations

import uuid
from typing import Iterator

import pgcluster
import pytest
import sqlalchemy as sa

from conftest import SQLALCHEMY_2


@pytest.fixture
def citus_engine(citus_url: str, driver: str) -> Iterator[sa.engine.Engine]:
    kwargs = {} if SQLALCHEMY_2 else {"future": True}
    engine = sa.create_engine(pgcluster.with_driver(citus_url, driver), **kwargs)
    yield engine
    engine.dispose()


@pytest.fixture
def citus_schema(citus_engine: sa.engine.Engine) -> Iterator[str]:
    """A schema name unique to the test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    with citus_engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def test_cluster_distributes(citus_engine: sa.engine.Engine, citus_schema: str) -> None:
    table = f'"{citus_schema}"."t"'
    with citus_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{citus_schema}"'))
        conn.execute(sa.text(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v text)"))
        conn.execute(sa.text("SELECT create_distributed_table(:t, 'id')"), {"t": table})
        conn.execute(sa.text(f"INSERT INTO {table} SELECT i, i::text FROM generate_series(1, 1000) i"))
    with citus_engine.connect() as conn:
        method = conn.execute(sa.text("SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = CAST(:t AS regclass)"),
                              {"t": table}).scalar()
        shard_ports = set(conn.execute(sa.text("SELECT nodeport FROM citus_shards WHERE table_name = CAST(:t AS regclass)"),
                                       {"t": table}).scalars())
        worker_ports = set(conn.execute(sa.text("SELECT nodeport FROM pg_dist_node WHERE groupid <> 0")).scalars())
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
    assert method == "h"
    assert len(worker_ports) >= 2
    assert shard_ports == worker_ports
    assert count == 1000
