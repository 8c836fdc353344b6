"""A throwaway PostgreSQL server for tests, benchmarks and the demo, from
the pip-installable pgserver package (binaries included, works as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from typing import Any, Optional


class Server:
    """pgserver's handle, whose cleanup also stops a server that a test
    restarted with pg_ctl: pgserver only knows the postmaster it started,
    and would otherwise delete the data directory under the new one (or
    try to stop the old one, a zombie until reaped)."""

    def __init__(self, handle: Any, data: str) -> None:
        self.handle, self.data = handle, data
        self.postmaster = postmaster_pid(data)

    def get_uri(self) -> str:
        return self.handle.get_uri()  # type: ignore[no-any-return]

    def cleanup(self) -> None:
        running = postmaster_pid(self.data)
        if running is not None and running != self.postmaster:
            try:
                run_pg_ctl(self.data, "stop", "-m", "fast", "-w")
                self.handle._postmaster_info = None  # stopped: pgserver only deletes the directory
            except (OSError, subprocess.SubprocessError):
                pass  # pgserver's own cleanup tries
        self.handle.cleanup()


def postmaster_pid(data: str) -> Optional[int]:
    """The PID in data's postmaster.pid; None when there is none."""
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


# The name of the data directory of every server that start() makes.
THROWAWAY_PREFIX = "pbi-pg-"


def is_throwaway(data: str) -> bool:
    """Whether data is the data directory of a server that start() made:
    one that no one else uses, which a test may restart."""
    return os.path.basename(os.path.normpath(data)).startswith(THROWAWAY_PREFIX)


def import_pgserver() -> Any:
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime directory at import,
        # which warns where XDG_RUNTIME_DIR is unset (CI, root shells).
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)
        import pgserver

    return pgserver


def start(max_connections: int = 200) -> tuple[str, Server]:
    """Starts a fresh server; returns its URL and the handle that keeps it
    running (it stops when the handle is cleaned up or the process exits)."""
    pgserver = import_pgserver()  # imported here: only needed when no DATABASE_URL is given

    # Short path: the server's Unix socket lives in the data directory.
    data = tempfile.mkdtemp(prefix=THROWAWAY_PREFIX)
    # Settings take effect at the next start: configure, stop, start again.
    server = pgserver.get_server(data, cleanup_mode="stop")
    server.psql(f"ALTER SYSTEM SET max_connections = {max_connections};")
    server.cleanup()
    server = pgserver.get_server(data, cleanup_mode="delete")
    return server.get_uri(), Server(server, data)


def with_driver(url: str, driver: str) -> str:
    """The SQLAlchemy URL of url for a driver: psycopg2 or psycopg."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+{driver}://{rest}"


def pg_ctl_path() -> Optional[str]:
    """pgserver's pg_ctl, else one on PATH; None when there is none."""
    try:
        pgserver = import_pgserver()
    except ImportError:
        return shutil.which("pg_ctl")
    path = os.path.join(os.path.dirname(pgserver.__file__), "pginstall", "bin", "pg_ctl")
    return path if os.path.exists(path) else shutil.which("pg_ctl")


def run_pg_ctl(data: str, *args: str, timeout: float = 120) -> str:
    """Runs pg_ctl -D data args as the owner of the data directory (the
    server refuses to run as root; pgserver runs it as its own user when
    started by root) and returns its output. The server's log goes to
    data/log, where pgserver puts it."""
    pg_ctl = pg_ctl_path()
    if pg_ctl is None:
        raise FileNotFoundError("pg_ctl not found: pip install pgserver")
    owner = os.stat(data).st_uid
    kwargs: dict[str, Any] = {}
    if os.geteuid() != owner:
        kwargs["user"] = owner  # only root may, and must, switch
    # Output to a file, not a pipe: a server started by pg_ctl keeps the
    # pipe open, and reading it would never end.
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(
            [pg_ctl, "-D", data, "-l", os.path.join(data, "log"), *args],
            stdout=out, stderr=subprocess.STDOUT, timeout=timeout, text=True, **kwargs,
        )
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args, output)
    return output
