"""docs/examples/airflow_dag.py, run as a user debugs a DAG: `python
airflow_dag.py` (its dag.test()) in a throwaway AIRFLOW_HOME whose metadata DB
`airflow db migrate` set up, with the warehouse Connection given as
AIRFLOW_CONN_WAREHOUSE. Twice: the second run starts from the high watermark
the first one stored, and ingests only the file that landed since.

tests/run.py runs this file in .venvs/airflow (Airflow, psycopg2, this
package's wheel); elsewhere it skips."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys
from typing import Dict, List

import pytest
import sqlalchemy as sa

# Not pytest.importorskip: importing airflow here would create ~/airflow
# (its default AIRFLOW_HOME) in the home of whoever runs the tests. The
# examples run in child processes with an AIRFLOW_HOME of their own.
if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "Apache Airflow is not installed in this environment (tests/run.py runs this file in .venvs/airflow)",
        allow_module_level=True,
    )

from example_support import EXAMPLES, check_first_run, check_second_run, child_env, land_first_files, land_second_files

TIMEOUT = 600

# How the task log, as dag.test() prints it, marks a line of the library's
# INFO messages: Airflow 3 names the logger ("... [pg_bulk_ingest]"),
# Airflow 2 the level ("{file.py:N} INFO - ...").
AIRFLOW_MAJOR = int(importlib.metadata.version("apache-airflow").split(".")[0])
LOGGER_MARK = "[pg_bulk_ingest]" if AIRFLOW_MAJOR >= 3 else "INFO - "


def warehouse_connection(database_url: str) -> str:
    """DATABASE_URL as the JSON of an Airflow Connection, the form
    AIRFLOW_CONN_<ID> takes. A Unix-socket URL (?host=/dir) becomes a host
    that is a directory, which libpq reads as the socket's."""
    url = sa.engine.make_url(database_url)
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    host = url.host or query.pop("host", None)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": host,
            "port": url.port,
            "login": url.username,
            "password": url.password,
            "schema": url.database,
            "extra": query,
        }
    )


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """A fresh AIRFLOW_HOME with the example as its only DAG file and its
    metadata DB (SQLite) migrated."""
    home = tmp_path_factory.mktemp("airflow_home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(EXAMPLES / "airflow_dag.py", dags)
    env = child_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    return env


def run_dag(env: Dict[str, str]) -> List[str]:
    dag_file = pathlib.Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) / "airflow_dag.py"
    run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    lines = output.splitlines()
    assert any("DagRun Finished: dag_id=ingest_events" in line and "state=success" in line for line in lines), output
    return lines


def test_dag_ingests_new_files_and_carries_on_from_the_high_watermark(
    airflow_env: Dict[str, str], database_url: str, engine: sa.engine.Engine, schema: str, landing_dir: pathlib.Path
) -> None:
    env = dict(
        airflow_env,
        AIRFLOW_CONN_WAREHOUSE=warehouse_connection(database_url),
        EVENTS_LANDING_DIR=str(landing_dir),
        EVENTS_SCHEMA=schema,
    )
    land_first_files(landing_dir)
    # The library's INFO lines are in the task log with no logging setup in the DAG.
    check_first_run(engine, schema, run_dag(env), logger=LOGGER_MARK)

    land_second_files(landing_dir)
    lines = run_dag(env)
    check_second_run(engine, schema, lines, logger=LOGGER_MARK)
    # The task's return value (its XCom), logged by the task itself.
    assert any("Ingested 1 new file(s)" in line and "events-20240601T1200.jsonl" in line for line in lines)
