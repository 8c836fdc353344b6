"""The process the package lives in: the Go library loads at first use, so
importing and then forking (multiprocessing, Celery, Airflow) works, and
ingests on separate connections may run in threads at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any, List

import sqlalchemy as sa
from helpers import int_table, query, rows_of, run_ingest


def _child_ingest(url: str, schema: str, queue: Any) -> None:
    try:
        engine = sa.create_engine(url, future=True)  # SQLAlchemy 1.4 needs it; 2.x accepts it
        metadata = sa.MetaData()
        table = int_table(metadata, schema, name="from_child")
        run_ingest(engine, metadata, lambda hwm: [("child", None, rows_of(table, [(1, "forked")]))])
        queue.put("ok")
    except BaseException as e:  # report anything: the parent asserts on it
        queue.put(repr(e))


def test_import_then_fork_then_ingest_in_the_child(engine: sa.engine.Engine, schema: str) -> None:
    # A fresh interpreter, so that the library is surely not loaded before the fork.
    code = textwrap.dedent(
        f"""
        import multiprocessing, sys
        sys.path[:0] = {sys.path!r}
        import pg_bulk_ingest, test_process
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=test_process._child_ingest, args=({engine.url.render_as_string(hide_password=False)!r}, {schema!r}, queue))
        child.start()
        child.join(60)
        print(queue.get(timeout=5))
        print(child.exitcode)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["ok", "0"], out.stderr
    assert query(engine, f'SELECT id, value FROM "{schema}".from_child') == [(1, "forked")]


def test_library_not_loaded_by_import() -> None:
    code = "import pg_bulk_ingest._native as n, pg_bulk_ingest; print(n._lib is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_ingests_in_threads_on_separate_connections(engine: sa.engine.Engine, schema: str) -> None:
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            metadata = sa.MetaData()
            table = int_table(metadata, schema, name=f"thread_{n}")
            rows = rows_of(table, [(i, f"t{n}-{i}") for i in range(20_000)])
            run_ingest(engine, metadata, lambda hwm: [(n, None, rows)])
        except BaseException as e:  # collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for n in range(4):
        assert query(engine, f'SELECT count(*), max(value) FROM "{schema}".thread_{n}') == [(20_000, f"t{n}-9999")]
