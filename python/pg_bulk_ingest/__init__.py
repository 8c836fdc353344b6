"""pg_bulk_ingest: ingest batches of rows into SQLAlchemy-defined PostgreSQL
tables, with a Go engine underneath. A drop-in for upstream pg-bulk-ingest."""

from to_file_like_obj import to_file_like_obj

from ._constants import Delete, HighWatermark, Upsert, Visibility
from ._errors import IngestError
from ._ingest import ingest

__all__ = [
    "Delete",
    "HighWatermark",
    "IngestError",
    "Upsert",
    "Visibility",
    "ingest",
    "to_file_like_obj",
]
