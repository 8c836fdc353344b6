"""Fixtures: a real PostgreSQL server (DATABASE_URL, or one started here),
a Citus cluster (CITUS_DATABASE_URL, or one built and started here),
SQLAlchemy engines for each installed driver, and a fresh schema per test."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import citus_cluster  # noqa: E402
import pgcluster  # noqa: E402

SQLALCHEMY_2 = int(sa.__version__.split(".")[0]) >= 2
DRIVERS = ["psycopg2", "psycopg"]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    url, server = pgcluster.start()
    yield url
    server.cleanup()


@pytest.fixture(scope="session")
def citus_url() -> Iterator[str]:
    """A Citus cluster's coordinator: CITUS_DATABASE_URL, else a local
    cluster built and started on first use (tests/citus_cluster.py)."""
    try:
        cluster = citus_cluster.start()
    except citus_cluster.Unavailable as e:
        pytest.skip(f"no Citus cluster: {e}")
    yield cluster.url
    cluster.stop()


@pytest.fixture(params=DRIVERS)
def driver(request: Any) -> str:
    name: str = request.param
    if name == "psycopg" and not SQLALCHEMY_2:
        pytest.skip("SQLAlchemy 1.4 has no psycopg 3 dialect")
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed in this environment")
    return name


@pytest.fixture
def engine(database_url: str, driver: str) -> Iterator[sa.engine.Engine]:
    kwargs = {} if SQLALCHEMY_2 else {"future": True}
    engine = sa.create_engine(pgcluster.with_driver(database_url, driver), **kwargs)
    yield engine
    engine.dispose()


@pytest.fixture
def schema(engine: sa.engine.Engine) -> Iterator[str]:
    """A schema name unique to the test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
