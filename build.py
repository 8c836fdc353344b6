"""Builds the Go engine as a C shared library into the package.

Run directly (`python build.py`) for a development build; pip runs it as
a hatchling build hook, which also tags the wheel. `python build.py
--test-hooks` builds the library with the test hooks (pbi_test_panic)
into build/test-hooks/ instead (or where --output says), for the tests
of Go panics; the package and its wheels never hold it.

On Linux the C side of cgo is compiled by zig (the `ziglang` build
requirement) against glibc 2.17, so a wheel built on any Linux machine is
a manylinux2014 wheel and no user needs a C compiler. The target is the
building machine's architecture unless PG_BULK_INGEST_TARGET says
otherwise:

    PG_BULK_INGEST_TARGET=aarch64 pip wheel .   # Linux arm64, cross-built
    PG_BULK_INGEST_TARGET=x86_64  pip wheel .   # Linux x86_64, cross-built
    PG_BULK_INGEST_TARGET=native  pip wheel .   # the system C compiler, this platform's tag

macOS builds natively (clang), for macOS 12 and later: Go 1.25's floor.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from typing import Any, NamedTuple, Optional

ROOT = os.path.dirname(os.path.abspath(__file__))
LIBRARY = os.path.join("python", "pg_bulk_ingest", "_lib", "libpgbulkingest.so")
# The library with the test hooks (`python build.py --test-hooks`, the Go
# build tag pbitest) that the tests of Go panics load; never in a wheel.
TEST_LIBRARY = os.path.join("build", "test-hooks", "libpgbulkingest.so")
TEST_HOOKS_TAG = "pbitest"
# On Linux the library exports the pbi_ functions alone.
EXPORTS = os.path.join("goext", "capi", "exports.map")
TARGET_VARIABLE = "PG_BULK_INGEST_TARGET"
# The oldest Go whose `go` command fetches the toolchain go.mod asks for.
GO_SWITCHES_TOOLCHAIN = (1, 21)
MACOS_FLOOR = "12.0"


# A NamedTuple, not a dataclass: hatchling loads this file without
# registering it in sys.modules, which dataclasses need.
class Target(NamedTuple):
    goarch: str
    cc: Optional[list[str]]  # None: Go's default C compiler
    wheel_platform: str
    env: tuple[tuple[str, str], ...] = ()


def manylinux(machine: str, goarch: str) -> Target:
    cc = [sys.executable, "-m", "ziglang", "cc", "-target", f"{machine}-linux-gnu.2.17"]
    return Target(goarch, cc, f"manylinux_2_17_{machine}.manylinux2014_{machine}")


MANYLINUX = {"x86_64": manylinux("x86_64", "amd64"), "aarch64": manylinux("aarch64", "arm64")}
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def native() -> Target:
    machine = platform.machine().lower()
    goarch = GOARCH.get(machine, machine)
    if sys.platform == "darwin":
        flag = f"-mmacosx-version-min={MACOS_FLOOR}"
        env = (("MACOSX_DEPLOYMENT_TARGET", MACOS_FLOOR), ("CGO_CFLAGS", flag), ("CGO_LDFLAGS", flag))
        arch = "arm64" if goarch == "arm64" else "x86_64"
        return Target(goarch, None, f"macosx_{MACOS_FLOOR.replace('.', '_')}_{arch}", env)
    return Target(goarch, None, sysconfig.get_platform().replace("-", "_").replace(".", "_"))


def choose_target() -> Target:
    wanted = os.environ.get(TARGET_VARIABLE, "").strip().lower()
    if wanted == "native":
        return native()
    if wanted:
        if wanted not in MANYLINUX:
            sys.exit(f"pg-bulk-ingest-go: {TARGET_VARIABLE}={wanted!r}: expected one of "
                     f"{', '.join([*MANYLINUX, 'native'])}")
        return need_zig(MANYLINUX[wanted])
    machine = platform.machine().lower()
    glibc = platform.libc_ver()[0] == "glibc"
    if sys.platform.startswith("linux") and glibc and machine in MANYLINUX and zig_installed():
        return MANYLINUX[machine]
    return native()  # macOS, musl, or a development build without zig


def zig_installed() -> bool:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return False
    return True


def need_zig(target: Target) -> Target:
    if not zig_installed():
        sys.exit("pg-bulk-ingest-go: a manylinux build compiles cgo with zig: pip install ziglang")
    return target


def required_go() -> tuple[int, ...]:
    """The Go version go.mod asks for: the one definition of it."""
    with open(os.path.join(ROOT, "go.mod")) as f:
        found = re.search(r"^go (\d+)\.(\d+)", f.read(), re.MULTILINE)
    assert found, "go.mod has no go line"
    return (int(found[1]), int(found[2]))


def go_version(go: str) -> tuple[int, ...]:
    out = subprocess.run([go, "version"], capture_output=True, text=True, env=dict(os.environ, GOTOOLCHAIN="local"))
    found = re.search(r"go(\d+)\.(\d+)", out.stdout)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def find_go() -> str:
    """The go command, if it can build this module; else exits saying what
    to install. A Go of 1.21 or newer fetches the toolchain go.mod names
    by itself (unless GOTOOLCHAIN=local), so only older ones are refused."""
    required = required_go()
    need = "%d.%d" % required
    go = shutil.which("go")
    if go is None:
        found = "no `go` on PATH"
    else:
        have = go_version(go)
        if have >= required or (have >= GO_SWITCHES_TOOLCHAIN and os.environ.get("GOTOOLCHAIN") != "local"):
            return go
        found = "found Go %d.%d at %s" % (*have, go)
    sys.exit(
        f"pg-bulk-ingest-go: building from source needs Go {need} or newer ({found}).\n"
        f"  Get it from https://go.dev/dl/ (distribution packages are often older: Debian 12's golang-go is 1.19).\n"
        f"  Any Go from 1.21 on fetches Go {need} by itself (GOTOOLCHAIN=auto, the default; not with GOTOOLCHAIN=local).\n"
        f"  Or install a binary wheel, which needs no Go: pip install --only-binary=:all: pg-bulk-ingest-go"
    )


def build_library(target: Optional[Target] = None, test_hooks: bool = False, out: Optional[str] = None) -> str:
    """Builds the release library into the package, or with test_hooks the
    test library (TEST_LIBRARY); or either into out."""
    target = target or choose_target()
    go = find_go()
    out = os.path.abspath(out) if out else os.path.join(ROOT, TEST_LIBRARY if test_hooks else LIBRARY)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="1", GOARCH=target.goarch, **dict(target.env))
    if target.cc is not None:
        env["CC"] = shlex.join(target.cc)
    # -s: zig's linker keeps debug info that Go's -s only drops from its own linker.
    extldflags = ["-s"] if target.cc is not None else []
    if "linux" in target.wheel_platform:
        extldflags.append(f'"-Wl,--version-script={os.path.join(ROOT, EXPORTS)}"')
    ldflags = "-s -w" + (f" '-extldflags={' '.join(extldflags)}'" if extldflags else "")
    tags = [f"-tags={TEST_HOOKS_TAG}"] if test_hooks else []
    subprocess.run(
        [go, "build", "-buildmode=c-shared", "-trimpath", *tags, f"-ldflags={ldflags}", "-o", out, "./goext/capi"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    header = os.path.splitext(out)[0] + ".h"
    if os.path.exists(header):
        os.remove(header)  # the Python side declares the ABI itself
    return out


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # a development build needs no hatchling
    BuildHookInterface = object  # type: ignore[misc,assignment]


class GoBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    PLUGIN_NAME = "go"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        target = choose_target()
        build_library(target)
        build_data["pure_python"] = False
        # cffi's ABI mode: one wheel for every Python 3.
        build_data["tag"] = f"py3-none-{target.wheel_platform}"
        build_data["force_include"][os.path.join(ROOT, LIBRARY)] = "pg_bulk_ingest/_lib/libpgbulkingest.so"


def run_pypa_build() -> None:
    """`python -m build` in this directory finds this file before pypa's
    build package (the current directory comes first on sys.path): hand
    over to that package, which builds the sdist and the wheel."""
    import runpy

    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != ROOT]
    sys.modules.pop("build", None)
    try:
        runpy.run_module("build", run_name="__main__", alter_sys=True)
    except ImportError:
        sys.exit("python -m build needs pypa's build package: pip install build")


if __name__ == "__main__":
    if __spec__ is not None:  # run as `python -m build`, not `python build.py`
        run_pypa_build()
    else:
        import argparse

        parser = argparse.ArgumentParser(description="Builds the Go engine's library (see this file's docstring).")
        parser.add_argument("--test-hooks", action="store_true", help=f"the test library, into {TEST_LIBRARY}")
        parser.add_argument("--output", help="where to write the library instead")
        args = parser.parse_args()
        print(build_library(test_hooks=args.test_hooks, out=args.output))
