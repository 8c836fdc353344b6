"""ingest_versioned: each version of a dataset in its own partition of a
LIST-partitioned root table, a view on the newest, and duplicate versions
detected by a hash of the rows; upstream 0.1.3's pg_bulk_ingest.versioned,
its names and behaviour (docs/versioned.md says where ours differs)."""

from __future__ import annotations

import enum
import sys

from ._constants import Delete as _Delete
from ._constants import HighWatermark as _HighWatermark
from ._constants import OnDuplicate as _OnDuplicate
from ._constants import Upsert as _Upsert
from ._predicates import partition_attached, table_exists, view_exists

__all__ = [
    "Delete",
    "DuplicatePartitionError",
    "HighWatermark",
    "OnDuplicate",
    "Upsert",
    "partition_attached",
    "table_exists",
    "view_exists",
]

if sys.version_info >= (3, 11):
    from enum import StrEnum as _StrEnum
else:

    class _StrEnum(str, enum.Enum):
        """enum.StrEnum before Python 3.11: str() and format() give the value."""

        def __str__(self) -> str:
            return str(self.value)

        __format__ = str.__format__


# String enums of the package's plain constants, as upstream's module has:
# each member equals its plain string.
class OnDuplicate(_StrEnum):
    SKIP = _OnDuplicate.SKIP
    ERROR = _OnDuplicate.ERROR
    KEEP = _OnDuplicate.KEEP


class Delete(_StrEnum):
    OFF = _Delete.OFF
    BEFORE_FIRST_BATCH = _Delete.BEFORE_FIRST_BATCH


class HighWatermark(_StrEnum):
    LATEST = _HighWatermark.LATEST
    EARLIEST = _HighWatermark.EARLIEST


class Upsert(_StrEnum):
    OFF = _Upsert.OFF
    IF_PRIMARY_KEY = _Upsert.IF_PRIMARY_KEY


class DuplicatePartitionError(Exception):
    """Raised by ingest_versioned(on_duplicate=OnDuplicate.ERROR) when the
    new version's rows hash as the version it would replace; the new
    partition is left unattached."""
