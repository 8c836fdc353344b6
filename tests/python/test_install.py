"""Installing over upstream pg-bulk-ingest: both distributions own the
package directory pg_bulk_ingest/, so pip mixes their files. Our import
then refuses with the commands that fix it, and those commands work.

Real pip, real wheels: upstream's released wheel from PyPI and the wheel
the test command built (PBI_WHEEL), installed into a throwaway virtual
environment whose .pth file lends it this environment's dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

UPSTREAM = "pg-bulk-ingest==0.1.3"
WHEEL = os.environ.get("PBI_WHEEL", "")

pytestmark = pytest.mark.skipif(
    not os.path.isfile(WHEEL), reason="needs the wheel under test in PBI_WHEEL: tests/run.py sets it"
)


def _upstream_wheel(directory: Path) -> str:
    found = sorted(directory.glob("pg_bulk_ingest-*.whl"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(directory), UPSTREAM]
        if subprocess.run(pip, capture_output=True, text=True).returncode != 0:
            pytest.skip(f"could not download {UPSTREAM} from PyPI")
        found = sorted(directory.glob("pg_bulk_ingest-*.whl"))
    return str(found[0])


class Environment:
    def __init__(self, path: Path) -> None:
        venv.create(path, with_pip=True)
        self.python = str(path / "bin" / "python")
        site = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        self.site = Path(site)

    def pip(self, *args: str) -> None:
        subprocess.run([self.python, "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True)

    def import_package(self) -> "subprocess.CompletedProcess[str]":
        # This environment's packages, appended after the environment's own
        # site-packages, so its own pg_bulk_ingest comes first. Only while
        # importing: pip would take them for installed.
        lend = self.site / "lend-dependencies.pth"
        lend.write_text(sysconfig.get_paths()["purelib"] + "\n")
        code = "import pg_bulk_ingest; print(pg_bulk_ingest.__file__); print(pg_bulk_ingest.ingest.__module__)"
        try:
            return subprocess.run([self.python, "-c", code], capture_output=True, text=True)
        finally:
            lend.unlink()


@pytest.fixture(scope="module")
def upstream_wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = Path(os.environ.get("PBI_DOWNLOADS", tmp_path_factory.mktemp("downloads")))
    cache.mkdir(parents=True, exist_ok=True)
    return _upstream_wheel(cache)


def test_ours_over_upstream_refuses_with_the_fix_and_the_fix_works(tmp_path: Path, upstream_wheel: str) -> None:
    env = Environment(tmp_path / "venv")
    env.pip("install", "--no-deps", upstream_wheel)
    env.pip("install", "--no-deps", WHEEL)

    mixed = env.import_package()
    assert mixed.returncode != 0
    last_line = mixed.stderr.strip().splitlines()[-1]
    assert last_line == "    pip uninstall -y pg-bulk-ingest pg-bulk-ingest-go && pip install pg-bulk-ingest-go"
    assert "ImportError: pg_bulk_ingest: upstream pg-bulk-ingest 0.1.3 is installed in the same directory" in mixed.stderr
    assert str(env.site) in mixed.stderr

    # The fix, as the message gives it (the wheel under test for the name).
    env.pip("uninstall", "-y", "pg-bulk-ingest", "pg-bulk-ingest-go")
    env.pip("install", "--no-deps", WHEEL)
    fixed = env.import_package()
    assert fixed.returncode == 0, fixed.stderr
    path, module = fixed.stdout.split()
    assert path == str(env.site / "pg_bulk_ingest" / "__init__.py")
    assert module == "pg_bulk_ingest._ingest"  # ours, not upstream's core


def test_ours_alone_imports_without_a_word(tmp_path: Path) -> None:
    env = Environment(tmp_path / "venv")
    env.pip("install", "--no-deps", WHEEL)
    alone = env.import_package()
    assert alone.returncode == 0, alone.stderr
    assert alone.stderr == ""
    assert alone.stdout.split()[1] == "pg_bulk_ingest._ingest"
