#!/usr/bin/env python3
"""Runs every test: Go (go test ./...) and Python (pytest), the latter under
SQLAlchemy 2 with psycopg2 and psycopg 3 and under SQLAlchemy 1.4 with
psycopg2, each in its own virtual environment under .venvs/. All run
against DATABASE_URL, or against a PostgreSQL server started here.

    python tests/run.py [extra pytest arguments]
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENVS = os.path.join(ROOT, ".venvs")
WHEELS = os.path.join(ROOT, "build", "wheel")

# Each environment: its name and the requirements beside the package.
ENVIRONMENTS = {
    "sqlalchemy2": [
        "SQLAlchemy>=2", "psycopg2-binary>=2.9.2", "psycopg[binary]>=3.1.4", "pytest>=7", "pgserver>=0.1.4",
        "pgvector>=0.2", "numpy", "pandas", "polars",
    ],
    "sqlalchemy14": ["SQLAlchemy>=1.4.24,<2", "psycopg2-binary>=2.9.2", "pytest>=7", "pgserver>=0.1.4"],
}


def log(message: str) -> None:
    print(f"\n=== {message}", flush=True)


def run(cmd: list[str], **kwargs: object) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kwargs)  # type: ignore[arg-type]


def python_of(name: str) -> str:
    return os.path.join(VENVS, name, "bin", "python")


def build_wheel() -> str:
    log("Building the wheel (Go engine included)")
    shutil.rmtree(WHEELS, ignore_errors=True)
    if run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", WHEELS, "."]) != 0:
        sys.exit("building the wheel failed")
    return glob.glob(os.path.join(WHEELS, "*.whl"))[0]


def prepare(name: str, requirements: list[str], wheel: str) -> None:
    log(f"Preparing environment {name}")
    python = python_of(name)
    if not os.path.exists(python):
        venv.create(os.path.join(VENVS, name), with_pip=True)
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if run(pip + requirements + [wheel]) != 0 or run(pip + ["--force-reinstall", "--no-deps", wheel]) != 0:
        sys.exit(f"installing environment {name} failed")


def main() -> int:
    wheel = build_wheel()
    for name, requirements in ENVIRONMENTS.items():
        prepare(name, requirements, wheel)
    # Carry on under the first environment, which has pgserver.
    python = python_of("sqlalchemy2")
    os.execv(python, [python, __file__, "--prepared", *sys.argv[1:]])


def test(pytest_args: list[str]) -> int:
    env = dict(os.environ)
    server = None
    if not env.get("DATABASE_URL"):
        log("Starting PostgreSQL (pgserver) since DATABASE_URL is not set")
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import pgcluster

        env["DATABASE_URL"], server = pgcluster.start()
    print(f"DATABASE_URL={env['DATABASE_URL']}", flush=True)

    results = {}
    log("Go tests")
    results["go test ./..."] = run(["go", "test", "-count=1", "./..."], env=env)
    for name in ENVIRONMENTS:
        log(f"Python tests, {name}")
        results[f"pytest ({name})"] = run([python_of(name), "-m", "pytest", "-q", *pytest_args], env=env)

    if server is not None:
        server.cleanup()
    log("Summary")
    for what, code in results.items():
        print(f"{'ok  ' if code == 0 else 'FAIL'} {what}")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepared"]:
        sys.exit(test(sys.argv[2:]))
    sys.exit(main())
