#!/usr/bin/env python3
"""Runs every test against what a user installs: builds the wheel (the Go
engine compiled by zig for manylinux2014), checks it with auditwheel and
that its library exports the C ABI alone, builds the library with the
test hooks that the tests of Go panics load in a child process (python
build.py --test-hooks), installs the wheel into virtual environments
under .venvs/ and runs pytest there with no Go on PATH: under SQLAlchemy
2 with psycopg2 and psycopg 3, under SQLAlchemy 1.4 with psycopg2, and
the Airflow and Dagster examples in environments of their own; upstream
pg-bulk-ingest 0.1.3 gets one too, which the switch test of
ingest_versioned runs (PBI_UPSTREAM_PYTHON). The Go
tests run from the checkout, with the test hooks (-tags pbitest). All
against DATABASE_URL, or a PostgreSQL server started here; the Citus
tests (under SQLAlchemy 2 and Go) against CITUS_DATABASE_URL, or a
Citus cluster started here (tests/citus_cluster.py: built once per
machine, about 4 minutes), or skipped with the reason it could not be.

    python tests/run.py [extra pytest arguments]
"""

from __future__ import annotations

import glob
import json
import os
import platform
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
import zipfile
from typing import Dict, List, NamedTuple, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import citus_cluster  # noqa: E402  (tests/, stdlib only)

VENVS = os.path.join(ROOT, ".venvs")
BUILD = os.path.join(ROOT, "build")
WHEELS = os.path.join(BUILD, "wheel")
RESULTS = os.path.join(BUILD, "test-results")
# Wall-clock start, carried across the exec into the runner environment.
STARTED = float(os.environ.setdefault("PBI_STARTED", str(time.time())))


class Environment(NamedTuple):
    requirements: List[str]
    runs: List[List[str]]  # pytest's paths, one run each: tests/python and tests/examples each have a conftest
    optional: bool = False  # a failed install skips its tests instead of failing the run
    python: Optional[str] = None  # another Python version than this one's, e.g. "3.9"
    wheel: bool = True  # ours installed too; not beside upstream's package, which has the same name
    citus: bool = False  # runs the Citus tests against the cluster started here; elsewhere they skip


PYTEST_BASE = ["pytest>=7", "pgserver>=0.1.4"]
SMOKE = [f"tests/python/test_{name}.py"
         for name in ("api", "ingest", "types", "high_watermark", "arrow_input", "bad_input", "process", "install")]
ENVIRONMENTS: Dict[str, Environment] = {
    "sqlalchemy2": Environment(
        ["SQLAlchemy>=2", "psycopg2-binary>=2.9.2", "psycopg[binary]>=3.1.4", *PYTEST_BASE,
         "pgvector>=0.2", "numpy", "pandas", "polars", "pgarrow>=0.0.9"],
        [["tests/python"], ["tests/examples/test_script.py"]],
        citus=True,
    ),
    "sqlalchemy14": Environment(["SQLAlchemy>=1.4.24,<2", "psycopg2-binary>=2.9.2", *PYTEST_BASE], [["tests/python"]]),
    # Pinned: Airflow's constraint files are not on PyPI; these resolve cleanly with plain pip.
    "airflow": Environment(
        ["apache-airflow==3.3.2", "psycopg2-binary>=2.9.2", "pytest>=7"], [["tests/examples/test_airflow.py"]], True
    ),
    "dagster": Environment(
        ["dagster==1.13.29", "psycopg[binary]>=3.1.4", "pytest>=7"], [["tests/examples/test_dagster.py"]], True
    ),
    # The same wheel under the oldest Python with the oldest dependencies
    # pyproject.toml allows, and under the newest Python, where the machine
    # has them (pyenv's or on PATH): the tests of the API, the types, Arrow
    # input, bad input, the process (cffi, fork, panics) and installing.
    "python3.9-oldest": Environment(
        ["SQLAlchemy==2.0.0", "psycopg2-binary==2.9.2", "psycopg[binary]==3.1.4", "pyarrow==16.0.0", "numpy<2",
         "cffi==1.15.0", "pg-force-execute==0.0.10", "to-file-like-obj==0.0.5", "pytest>=7", "pgvector>=0.2"],
        [SMOKE], True, "3.9",
    ),
    # Upstream's package, which test_versioned_switch.py runs in a child
    # process (PBI_UPSTREAM_PYTHON) to switch a versioned dataset between
    # the two libraries; no tests run in it. Its utils module imports psycopg2.
    "upstream": Environment(
        ["pg-bulk-ingest==0.1.3", "psycopg[binary]>=3.1.4", "psycopg2-binary>=2.9.2"], [], True, wheel=False
    ),
    "python3.13": Environment(
        ["SQLAlchemy>=2", "psycopg2-binary>=2.9.2", "psycopg[binary]>=3.1.4", "pytest>=7", "pgvector>=0.2",
         "numpy", "pandas"],
        [SMOKE], True, "3.13",
    ),
}
# The environment this script carries on in once all are ready: it has pgserver.
RUNNER = "sqlalchemy2"


def log(message: str) -> None:
    print(f"\n=== [{time.time() - STARTED:4.0f}s] {message}", flush=True)


def run(cmd: List[str], **kwargs: object) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kwargs)  # type: ignore[arg-type]


def python_of(name: str) -> str:
    return os.path.join(VENVS, name, "bin", "python")


def build_wheel() -> str:
    log("Building the wheel: the Go engine compiled by zig for glibc 2.17 (about a minute; the first run also "
        "downloads the ziglang build requirement, 100 MB)")
    shutil.rmtree(WHEELS, ignore_errors=True)
    if run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check", "-w", WHEELS, "."]):
        sys.exit("building the wheel failed")
    return glob.glob(os.path.join(WHEELS, "*.whl"))[0]


def check_wheel(wheel: str) -> None:
    """auditwheel's verdict on the wheel: it must be manylinux2014 for this machine."""
    log(f"Checking {os.path.basename(wheel)} with auditwheel")
    tools = python_of("tools")
    if not os.path.exists(tools) and create_venv("tools", None):
        sys.exit("creating the tools environment failed")
    if run([tools, "-m", "pip", "install", "-q", "--disable-pip-version-check", "auditwheel>=6"]):
        sys.exit("installing auditwheel failed")
    shown = subprocess.run([tools, "-m", "auditwheel", "show", wheel], capture_output=True, text=True)
    print(shown.stdout.strip() or shown.stderr.strip(), flush=True)
    wanted = f'"manylinux_2_17_{platform.machine()}"'
    if shown.returncode != 0 or wanted not in " ".join(shown.stdout.split()):
        sys.exit(f"the wheel is not {wanted[1:-1]}: see auditwheel's output above")


def check_exports(wheel: str) -> None:
    """The wheel's library exports the C ABI's functions alone: no test
    hook, nothing of cgo's or the Go runtime's."""
    log("Checking the wheel's library exports (nm -D)")
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        library = archive.extract("pg_bulk_ingest/_lib/libpgbulkingest.so", tmp)
        nm = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True)
    if nm.returncode != 0:
        sys.exit(f"nm failed: {nm.stderr}")
    exported = sorted(line.split()[-1] for line in nm.stdout.splitlines() if line.split()[1:2] == ["T"])
    print(" ".join(exported), flush=True)
    # The API as Go defines it: _protocol.py, generated, read without
    # importing the package.
    api = sorted(runpy.run_path(os.path.join(ROOT, "python", "pg_bulk_ingest", "_protocol.py"))["API"])
    if exported != api:
        sys.exit(f"the library exports {exported}, want the C ABI's {api}")


def build_test_library() -> None:
    """The library with the test hooks, which the tests of Go panics load."""
    log("Building the library with the test hooks (python build.py --test-hooks)")
    if run([sys.executable, "build.py", "--test-hooks"]):
        sys.exit("building the library with the test hooks failed")


def prepare(name: str, environment: Environment, wheel: str) -> Optional[str]:
    """Installs the environment's requirements and the wheel; returns why
    it could not, for an optional environment."""
    python = python_of(name)
    fresh = not os.path.exists(python)
    log(f"{'Creating' if fresh else 'Updating'} environment .venvs/{name}"
        + (" (first run only: a minute or more)" if fresh else ""))
    reason = create_venv(name, environment.python) if fresh else None
    if reason is None:
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        ours = [wheel] if environment.wheel else []
        installed = subprocess.run(pip + environment.requirements + ours, cwd=ROOT, capture_output=True, text=True)
        if installed.returncode == 0 and ours:
            installed = subprocess.run(pip + ["--force-reinstall", "--no-deps", wheel], cwd=ROOT,
                                       capture_output=True, text=True)
        if installed.returncode == 0:
            return None
        if not environment.optional:
            print(installed.stdout + installed.stderr)
        reason = "could not install its requirements: " + (installed.stderr.strip().splitlines() or ["pip failed"])[-1]
    if not environment.optional:
        sys.exit(f"environment {name}: {reason}")
    print(f"{name}: {reason}; its tests are skipped", flush=True)
    return reason


def create_venv(name: str, version: Optional[str]) -> Optional[str]:
    """Creates .venvs/name with that Python version (default: this one's);
    returns why it could not."""
    interpreter = find_python(version) if version else sys.executable
    if interpreter is None:
        return f"no Python {version} interpreter on this machine (PATH or pyenv)"
    if run([interpreter, "-m", "venv", os.path.join(VENVS, name)]):
        return f"{interpreter} could not create a virtual environment"
    return None


def find_python(version: str) -> Optional[str]:
    """An interpreter of that version: pyenv's, else one on PATH that runs
    (a pyenv shim for a version not selected is on PATH and fails)."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(pyenv, "versions", f"{version}.*", "bin", f"python{version}")))
    candidates.append(shutil.which(f"python{version}") or "")
    for candidate in reversed([c for c in candidates if c]):
        if subprocess.run([candidate, "-c", "import venv"], capture_output=True).returncode == 0:
            return candidate
    return None


def main() -> int:
    wheel = build_wheel()
    check_wheel(wheel)
    check_exports(wheel)
    build_test_library()
    unavailable = {}
    for name, environment in ENVIRONMENTS.items():
        reason = prepare(name, environment, wheel)
        if reason:
            unavailable[name] = reason
    python = python_of(RUNNER)
    os.environ["PBI_WHEEL"] = wheel
    os.environ["PBI_UNAVAILABLE"] = json.dumps(unavailable)
    os.execv(python, [python, __file__, "--prepared", *sys.argv[1:]])


def without_go(path: str) -> str:
    """PATH without the directories that hold a `go` command: the Python
    tests run as a user's installed package does."""
    return os.pathsep.join(d for d in path.split(os.pathsep) if not os.path.exists(os.path.join(d, "go")))


def go_tests(env: Dict[str, str]) -> str:
    """go test ./... from the checkout, with the test hooks, printing each
    package's result and the output of failed and skipped tests; returns
    the counts."""
    log("Go tests (go test -tags pbitest ./...)")
    counts = {"pass": 0, "fail": 0, "skip": 0}
    output: Dict[str, List[str]] = {}
    process = subprocess.Popen(["go", "test", "-tags", "pbitest", "-count=1", "-json", "./..."], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            print(line, end="")  # a build error
            continue
        test, action = event.get("Test"), event.get("Action")
        if test is None:
            if action == "output" and not event["Output"].startswith(("PASS\n", "FAIL\n", "=== ")):
                print(event["Output"], end="", flush=True)
            continue
        key = f"{event['Package']} {test}"
        if action == "output":
            output.setdefault(key, []).append(event["Output"])
        elif action in counts:
            counts[action] += 1
            if action != "pass":
                print("".join(output.get(key, [])), end="", flush=True)
            output.pop(key, None)
    process.wait()
    if process.returncode != 0 and counts["fail"] == 0:
        counts["fail"] += 1  # a package that did not build
    return f"{counts['pass']} passed, {counts['skip']} skipped, {counts['fail']} failed"


def pytest_counts(report: str) -> List[int]:
    """passed, skipped, failed in a JUnit XML report."""
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    total, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    return [total - skipped - failed, skipped, failed]


def python_tests(name: str, environment: Environment, env: Dict[str, str], pytest_args: List[str]) -> str:
    python = python_of(name)
    log(f"Python tests in .venvs/{name}, against the installed wheel, no Go on PATH")
    where = subprocess.run([python, "-c", "import pg_bulk_ingest; print(pg_bulk_ingest.__file__)"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    if where.returncode != 0 or not where.stdout.startswith(os.path.join(VENVS, name) + os.sep):
        print(where.stdout + where.stderr)
        return "FAILED: pg_bulk_ingest is not the package installed in the environment"
    print(f"pg_bulk_ingest from {where.stdout.strip()}", flush=True)
    totals = [0, 0, 0]
    for number, paths in enumerate(environment.runs):
        report = os.path.join(RESULTS, f"{name}-{number}.xml")
        if os.path.exists(report):
            os.remove(report)
        code = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    *paths, *pytest_args], env=env)
        if not os.path.exists(report):
            return f"FAILED: pytest {' '.join(paths)} wrote no report (exit code {code})"
        totals = [a + b for a, b in zip(totals, pytest_counts(report))]
    return "%d passed, %d skipped, %d failed" % tuple(totals)


def start_citus(env: Dict[str, str]) -> Optional[citus_cluster.Cluster]:
    """A local Citus cluster, its URL in env; without one, the reason in
    env, which the Citus tests skip with rather than each trying again."""
    log("Starting a Citus cluster (coordinator and two workers) since CITUS_DATABASE_URL is not set; "
        "the first run on a machine builds Citus (about 4 minutes)")
    started = time.time()
    try:
        cluster = citus_cluster.start()
    except citus_cluster.Unavailable as e:
        print(f"no Citus cluster, the Citus tests are skipped: {e}", flush=True)
        env[citus_cluster.UNAVAILABLE_ENV] = str(e)
        return None
    env["CITUS_DATABASE_URL"] = cluster.url
    print(f"CITUS_DATABASE_URL={cluster.url} (ready in {time.time() - started:.0f}s)", flush=True)
    return cluster


def without_citus(env: Dict[str, str]) -> Dict[str, str]:
    """env for an environment that does not run the Citus tests."""
    env = {k: v for k, v in env.items() if k != "CITUS_DATABASE_URL"}
    env[citus_cluster.UNAVAILABLE_ENV] = "tests/run.py runs the Citus tests in .venvs/sqlalchemy2 only"
    return env


def test(pytest_args: List[str]) -> int:
    env = dict(os.environ)
    server = None
    if not env.get("DATABASE_URL"):
        log("Starting PostgreSQL (pgserver) since DATABASE_URL is not set")
        import pgcluster

        env["DATABASE_URL"], server = pgcluster.start()
    print(f"DATABASE_URL={env['DATABASE_URL']}", flush=True)
    citus = None if env.get("CITUS_DATABASE_URL") else start_citus(env)
    os.makedirs(RESULTS, exist_ok=True)
    unavailable = json.loads(env.pop("PBI_UNAVAILABLE", "{}"))

    results = {"go test ./...": go_tests(env)}
    # PBI_REQUIRE_TEST_HOOKS: the tests of Go panics fail, not skip, without
    # the library with the test hooks (build_test_library built it).
    user_env = dict(env, PATH=without_go(env.get("PATH", "")), PBI_DOWNLOADS=os.path.join(BUILD, "downloads"),
                    PBI_REQUIRE_TEST_HOOKS="1")
    if "upstream" not in unavailable:
        user_env["PBI_UPSTREAM_PYTHON"] = python_of("upstream")
    for name, environment in ENVIRONMENTS.items():
        if not environment.runs:
            continue
        label = f"pytest .venvs/{name}"
        if name in unavailable:
            results[label] = f"skipped: {unavailable[name]}"
            continue
        results[label] = python_tests(name, environment, user_env if environment.citus else without_citus(user_env),
                                      pytest_args)

    if citus is not None:
        citus.stop()
    if server is not None:
        server.cleanup()
    log("Summary")
    ok = True
    for what, counts in results.items():
        good = counts.startswith("skipped") or counts.endswith(" 0 failed")
        ok = ok and good
        print(f"{'ok  ' if good else 'FAIL'} {what:32} {counts}")
    print(f"{'all passed' if ok else 'FAILED'} in {time.time() - STARTED:.0f}s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepared"]:
        sys.exit(test(sys.argv[2:]))
    sys.exit(main())
