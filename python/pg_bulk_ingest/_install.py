"""Refuses to run from a directory shared with upstream pg-bulk-ingest.

Both distributions install the import package `pg_bulk_ingest`; pip
installs one over the other without a word, the files mix, and removing
either later deletes files the other needs (`cannot import name
'ingest'`). Upstream's metadata beside our package is the sign: looked up
by name in that one directory, which costs a directory listing, not a
scan of sys.path.
"""

from __future__ import annotations

import glob
import os

FIX = "pip uninstall -y pg-bulk-ingest pg-bulk-ingest-go && pip install pg-bulk-ingest-go"


def refuse_a_shared_directory(package_dir: str) -> None:
    site = os.path.dirname(os.path.abspath(package_dir))
    upstream = sorted(
        glob.glob(os.path.join(glob.escape(site), "pg_bulk_ingest-*.dist-info"))
        + glob.glob(os.path.join(glob.escape(site), "pg_bulk_ingest-*.egg-info"))
    )
    if not upstream:
        return
    version = os.path.basename(upstream[0]).split("-")[1].rsplit(".", 1)[0]
    raise ImportError(
        f"pg_bulk_ingest: upstream pg-bulk-ingest {version} is installed in the same directory as "
        f"pg-bulk-ingest-go ({site}), and both install the package pg_bulk_ingest: their files are "
        f"mixed, and uninstalling either one breaks the other. pg-bulk-ingest-go replaces upstream "
        f"with the same API, so remove both and install it alone:\n    {FIX}"
    )
