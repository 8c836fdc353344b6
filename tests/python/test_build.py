"""Building from source without a suitable Go: the message says which Go
is needed and how to get it, not a distribution package that is too old.
Runs build.py as pip's build hook does, with a PATH of our making."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _build(path: str, **env: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, str(ROOT / "build.py")],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PATH=path, **env),
    )


def _fake_go(directory: Path, version: str) -> str:
    go = directory / "go"
    # Answers `go version`; records any other command instead of running it.
    go.write_text(f"#!/bin/sh\necho \"$@\" >> {directory}/calls\necho 'go version go{version} linux/amd64'\n")
    go.chmod(0o755)
    return str(directory)


def _needed_go() -> str:
    line = next(l for l in (ROOT / "go.mod").read_text().splitlines() if l.startswith("go "))
    return ".".join(line.split()[1].split(".")[:2])


@pytest.mark.parametrize(
    "go_version, found",
    [(None, "no `go` on PATH"), ("1.19.8", "found Go 1.19 at")],
    ids=["no-go", "debian-12-go"],
)
def test_without_a_suitable_go_the_message_says_what_to_install(tmp_path: Path, go_version: str, found: str) -> None:
    path = os.path.dirname(sys.executable) + os.pathsep + "/usr/bin" + os.pathsep + "/bin"
    if go_version is not None:
        path = _fake_go(tmp_path, go_version) + os.pathsep + path
    elif any(os.path.exists(os.path.join(d, "go")) for d in path.split(os.pathsep)):
        pytest.skip("a go command lives in /usr/bin or /bin here: cannot take it off PATH")
    result = _build(path)
    need = _needed_go()
    assert result.returncode != 0
    assert f"building from source needs Go {need} or newer ({found}" in result.stderr
    assert "https://go.dev/dl/" in result.stderr
    assert f"fetches Go {need} by itself (GOTOOLCHAIN=auto" in result.stderr
    assert "pip install --only-binary=:all: pg-bulk-ingest-go" in result.stderr
    assert "apt-get install golang" not in result.stderr


def test_go_that_switches_toolchains_is_refused_only_with_gotoolchain_local(tmp_path: Path) -> None:
    path = _fake_go(tmp_path, "1.22.0") + os.pathsep + "/usr/bin:/bin"
    refused = _build(path, GOTOOLCHAIN="local")
    assert refused.returncode != 0
    assert "found Go 1.22 at" in refused.stderr
    assert "build" not in (tmp_path / "calls").read_text().split()

    env = {k: v for k, v in os.environ.items() if k != "GOTOOLCHAIN"}
    switched = subprocess.run([sys.executable, str(ROOT / "build.py")], capture_output=True, text=True,
                              timeout=60, env=dict(env, PATH=path, PG_BULK_INGEST_TARGET="native"))
    assert switched.returncode == 0, switched.stderr
    assert "build -buildmode=c-shared" in (tmp_path / "calls").read_text()


def test_an_unknown_target_is_named_with_the_choices() -> None:
    result = _build(os.environ["PATH"], PG_BULK_INGEST_TARGET="sparc")
    assert result.returncode != 0
    assert "PG_BULK_INGEST_TARGET='sparc': expected one of x86_64, aarch64, native" in result.stderr
