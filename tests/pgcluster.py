"""A throwaway PostgreSQL server for tests, benchmarks and the demo, from
the pip-installable pgserver package (binaries included, works as root)."""

from __future__ import annotations

import tempfile
from typing import Any


def start(max_connections: int = 200) -> tuple[str, Any]:
    """Starts a fresh server; returns its URL and the handle that keeps it
    running (it stops when the handle is cleaned up or the process exits)."""
    import pgserver  # imported here: only needed when no DATABASE_URL is given

    # Short path: the server's Unix socket lives in the data directory.
    data = tempfile.mkdtemp(prefix="pbi-pg-")
    # Settings take effect at the next start: configure, stop, start again.
    server = pgserver.get_server(data, cleanup_mode="stop")
    server.psql(f"ALTER SYSTEM SET max_connections = {max_connections};")
    server.cleanup()
    server = pgserver.get_server(data, cleanup_mode="delete")
    return server.get_uri(), server


def with_driver(url: str, driver: str) -> str:
    """The SQLAlchemy URL of url for a driver: psycopg2 or psycopg."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+{driver}://{rest}"
