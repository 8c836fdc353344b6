"""pg_bulk_ingest: ingest batches of rows into SQLAlchemy-defined PostgreSQL
tables, with a Go engine underneath. A drop-in for upstream pg-bulk-ingest."""

from ._install import refuse_a_shared_directory

refuse_a_shared_directory(__path__[0])

from to_file_like_obj import to_file_like_obj  # noqa: E402

from ._constants import Delete, HighWatermark, OnDuplicate, Upsert, Visibility  # noqa: E402
from ._errors import IngestError  # noqa: E402
from ._ingest import ingest  # noqa: E402
from ._predicates import partition_attached, table_exists, view_exists  # noqa: E402
from .versioned import ingest_versioned  # noqa: E402

__all__ = [
    "Delete",
    "HighWatermark",
    "IngestError",
    "OnDuplicate",
    "Upsert",
    "Visibility",
    "ingest",
    "ingest_versioned",
    "partition_attached",
    "table_exists",
    "to_file_like_obj",
    "view_exists",
]
