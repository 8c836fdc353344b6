"""Builds the Go engine as a C shared library into the package.

Run directly (`python build.py`) for a development build; pip runs it as
a hatchling build hook, which also tags the wheel for this platform.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from typing import Any

ROOT = os.path.dirname(os.path.abspath(__file__))
LIBRARY = os.path.join("python", "pg_bulk_ingest", "_lib", "libpgbulkingest.so")


def build_library() -> str:
    go = shutil.which("go")
    if go is None:
        sys.exit(
            "pg-bulk-ingest-go: building from source needs the Go toolchain (1.25 or newer) "
            "and a C compiler on PATH; install Go (https://go.dev/doc/install or your "
            "package manager, e.g. 'apt-get install golang') and try again."
        )
    out = os.path.join(ROOT, LIBRARY)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="1")
    subprocess.run(
        [go, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, "./goext/capi"],
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
        build_library()
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{platform}"
        build_data["force_include"][os.path.join(ROOT, LIBRARY)] = "pg_bulk_ingest/_lib/libpgbulkingest.so"


if __name__ == "__main__":
    print(build_library())
