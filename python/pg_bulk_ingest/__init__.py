"""pg_bulk_ingest: ingest batches of rows into SQLAlchemy-defined PostgreSQL
tables, with a Go engine underneath. A drop-in for upstream pg-bulk-ingest."""

from ._install import refuse_a_shared_directory

refuse_a_shared_directory(__path__[0])

from to_file_like_obj import to_file_like_obj  # noqa: E402

from ._constants import Delete, HighWatermark, Upsert, Visibility  # noqa: E402
from ._errors import IngestError  # noqa: E402
from ._ingest import ingest  # noqa: E402

__all__ = [
    "Delete",
    "HighWatermark",
    "IngestError",
    "Upsert",
    "Visibility",
    "ingest",
    "to_file_like_obj",
]
