"""Fixtures of the example tests: the server (DATABASE_URL, or one started with
pgserver where it is installed), an engine to check the results with, and a
fresh schema per test."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(__file__))
from example_support import ROOT, sqlalchemy_url  # noqa: E402


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip("set DATABASE_URL to a PostgreSQL server (pgserver is not installed here to start one)")
    sys.path.insert(0, str(ROOT / "tests"))
    import pgcluster

    url, server = pgcluster.start()
    yield url
    server.cleanup()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.engine.Engine]:
    engine = sa.create_engine(sqlalchemy_url(database_url), future=True)
    yield engine
    engine.dispose()


@pytest.fixture
def schema(engine: sa.engine.Engine) -> Iterator[str]:
    """A schema name of the test's own, dropped afterwards."""
    name = f"example_{uuid.uuid4().hex[:12]}"
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


@pytest.fixture
def landing_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "landing"
