"""docs/examples/script.py run as a program, twice, as cron would run it: the
second run starts from the high watermark the first one stored, and ingests
only the file that landed since. Then the line of docs/examples/crontab,
paths swapped for temporary ones: flock keeps a run from starting beside one
that holds the lock, and the log file gets the INFO lines.

tests/run.py runs this file with tests/python (no framework needed)."""

from __future__ import annotations

import fcntl
import pathlib
import shlex
import shutil
import subprocess
import sys
from typing import List, Tuple

import pytest
import sqlalchemy as sa

pytest.importorskip("pg_bulk_ingest", reason="pg_bulk_ingest is not importable (install the wheel, or PYTHONPATH=python)")

from example_support import (  # noqa: E402
    EXAMPLES,
    check_first_run,
    check_second_run,
    child_env,
    land_first_files,
    land_second_files,
    sqlalchemy_url,
)

SCRIPT = EXAMPLES / "script.py"
TIMEOUT = 300


def run_script(database_url: str, landing_dir: pathlib.Path, schema: str) -> List[str]:
    """One run; the lines it logged (stderr, as logging.basicConfig writes)."""
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--landing-dir", str(landing_dir), "--schema", schema],
        env=child_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stderr.splitlines()


def test_script_ingests_new_files_and_carries_on_from_the_high_watermark(
    database_url: str, engine: sa.engine.Engine, schema: str, landing_dir: pathlib.Path
) -> None:
    url = sqlalchemy_url(database_url).render_as_string(hide_password=False)
    land_first_files(landing_dir)
    check_first_run(engine, schema, run_script(url, landing_dir, schema), logger="INFO pg_bulk_ingest: ")
    land_second_files(landing_dir)
    lines = run_script(url, landing_dir, schema)
    check_second_run(engine, schema, lines, logger="INFO pg_bulk_ingest: ")
    assert any("INFO ingest_events: Ingested 1 new file(s)" in line for line in lines), lines


def test_script_without_database_url_says_what_to_set(tmp_path: pathlib.Path) -> None:
    env = child_env()
    env.pop("DATABASE_URL", None)
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--landing-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert run.returncode == 2
    assert "set DATABASE_URL" in run.stderr


def crontab_command(
    tmp_path: pathlib.Path, landing_dir: pathlib.Path, schema: str
) -> Tuple[str, List[str], pathlib.Path, pathlib.Path]:
    """The crontab's job, its placeholder paths replaced: (command, URL
    variable name, lock file, log file)."""
    lines = [line for line in (EXAMPLES / "crontab").read_text().splitlines() if line.strip() and not line.startswith("#")]
    variables = [line.split("=", 1)[0] for line in lines if "=" in line.split()[0]]
    (job,) = [line for line in lines if "=" not in line.split()[0]]
    fields = job.split(None, 5)
    assert fields[0] == "*/15" and len(fields) == 6, job
    lock, log = tmp_path / "ingest-events.lock", tmp_path / "log" / "ingest.log"
    log.parent.mkdir()
    command = fields[5]
    for placeholder, replacement in [
        ("/var/lock/ingest-events.lock", shlex.quote(str(lock))),
        ("/opt/ingest-events/venv/bin/python", shlex.quote(sys.executable)),
        ("/opt/ingest-events/script.py", shlex.quote(str(SCRIPT))),
        ("/data/landing/events", f"{shlex.quote(str(landing_dir))} --schema {shlex.quote(schema)}"),
        ("/var/log/ingest-events/ingest.log", shlex.quote(str(log))),
    ]:
        assert placeholder in command, (placeholder, command)
        command = command.replace(placeholder, replacement)
    return command, variables, lock, log


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) is not installed")
def test_crontab_line(database_url: str, engine: sa.engine.Engine, schema: str, landing_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    command, variables, lock, log = crontab_command(tmp_path, landing_dir, schema)
    assert variables == ["DATABASE_URL"]
    env = child_env(DATABASE_URL=sqlalchemy_url(database_url).render_as_string(hide_password=False))
    land_first_files(landing_dir)

    # A run still going (it holds the lock): this one exits at once, untouched.
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert busy.returncode == 1, busy.stdout + busy.stderr
    assert log.read_text() == ""
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}".events'}).scalar_one() is None

    # The lock free: the run goes ahead and logs into the file.
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr + log.read_text()
    assert done.stdout == done.stderr == ""
    check_first_run(engine, schema, log.read_text().splitlines(), logger="INFO pg_bulk_ingest: ")
