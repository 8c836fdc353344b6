"""The host side of the engine's Source (goext/engine/conn.go): the user's
batches, cut into Arrow chunks and SQL rows, their high watermarks and the
on_before_visible callback. Each method answers the Source method it is
named after."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import sqlalchemy as sa

from ._arrow import TableConverter
from ._chunks import Limits, Rows, SqlRows, chunks
from ._constants import HighWatermark
from ._errors import describe
from ._native import ffi
from ._pandas_gate import spare as spare_pandas
from ._protocol import (
    ChunkAnswer,
    HighWatermarkAnswer,
    NextBatchAnswer,
    OnBeforeVisibleRequest,
    OnDuplicateAnswer,
    OnDuplicateRequest,
    OnPartitionAttachedRequest,
)

# An Arrow chunk is cut at CHUNK_ROWS rows or CHUNK_BYTES of values,
# whichever comes first: big enough to amortise a call, small enough to
# keep memory flat however wide the rows (a chunk lives in several stages
# at once: built, encoded, queued for the driver, kept for messages).
CHUNK_ROWS = 10_000
CHUNK_BYTES = 4 << 20


class Chunk(NamedTuple):
    """The answer to NEXT_CHUNK: its JSON and the chunk's record batch,
    exported through the Arrow C Data Interface for the engine to import."""

    answer: ChunkAnswer
    array: Any  # cffi's struct ArrowArray *
    schema: Any  # cffi's struct ArrowSchema *


class Versioned(NamedTuple):
    """What makes an ingest ingest_versioned's (versioned.py): the job's
    "versioned" section, and what answers the engine's questions about the
    version."""

    section: Dict[str, Any]
    on_duplicate: Optional[Callable[[Any, str, str, str], Any]]  # when a callable, else None
    on_partition_attached: Optional[Callable[[Any, sa.Table, Any, Dict[str, Any]], Any]]
    version: Any


def is_batch(item: Any) -> bool:
    """Whether item is a (high_watermark, batch_metadata, rows) batch.
    Upstream unpacks any iterable of three: a str or dict of three would be
    taken apart, so only sequences are."""
    return isinstance(item, Sequence) and not isinstance(item, (str, bytes, bytearray)) and len(item) == 3


class HostSource:
    def __init__(
        self,
        conn: Any,
        tables: List[sa.Table],
        batches: Callable[[Any], Any],
        high_watermark: Any,
        on_before_visible: Callable[[Any, sa.Table, Any], Any],
        logger: logging.Logger,
        max_rows_per_table_buffer: int,
        versioned: Optional[Versioned] = None,
    ) -> None:
        spare_pandas()  # before the first conversion of rows
        self._conn = conn  # handed to on_before_visible
        self._tables = tables
        self._index = {t: i for i, t in enumerate(tables)}
        self._converters = [TableConverter(t) for t in tables]
        self._batches = batches
        self._from = high_watermark  # ingest()'s high_watermark argument
        self._on_before_visible = on_before_visible
        self._logger = logger
        self._buffer_rows = max_rows_per_table_buffer
        self._versioned = versioned
        self._batch_iter: Optional[Iterator[Any]] = None
        self._batch_hwm: Any = None
        self._batch_metadata: Any = None
        self._batch_number = 0  # batches read so far; the engine numbers them alike
        self._sql = SqlRows(conn.engine.driver, conn.connection.driver_connection)
        self._chunks: Optional[Iterator[Tuple[int, Rows]]] = None

    def start(self, stored: Any) -> None:
        """Calls batches() with the high watermark to start from: stored is
        the one the first table keeps (None when none)."""
        if self._from == HighWatermark.LATEST:
            value = stored
        elif self._from == HighWatermark.EARLIEST:
            value = None
        else:
            value = self._from
        first = self._tables[0]
        self._logger.info("High-watermark of %s.%s is %s", first.schema, first.name, value)
        result = self._batches(value)
        try:
            self._batch_iter = iter(result)
        except TypeError:
            raise TypeError(
                f"batches(high_watermark) returned {describe(result)}: expected an iterable (a generator, a list) "
                "of (high_watermark, batch_metadata, rows) tuples"
            ) from None

    def next_batch(self, _doc: Any) -> Optional[NextBatchAnswer]:
        """Starts the next batch; None when there is none left."""
        assert self._batch_iter is not None
        try:
            item = next(self._batch_iter)
        except StopIteration:
            return None
        self._batch_number += 1
        if not is_batch(item):
            raise TypeError(
                f"batch {self._batch_number}: batches yielded {describe(item)}: expected a tuple "
                "(high_watermark, batch_metadata, rows)"
            )
        hwm, metadata, rows = item
        try:
            rows = iter(rows)
        except TypeError:
            raise TypeError(
                f"batch {self._batch_number}: its rows are {describe(rows)}: expected an iterable of (table, row) pairs"
            ) from None
        self._batch_hwm, self._batch_metadata = hwm, metadata
        self._chunks = chunks(
            rows,
            self._index,
            self._converters,
            Limits(CHUNK_ROWS, CHUNK_BYTES, self._buffer_rows),
            self._sql,
            self._batch_number,
        )
        return {"metadata": str(metadata), "high_watermark": str(hwm)}

    def next_chunk(self, _doc: Any) -> Union[Chunk, ChunkAnswer, None]:
        """The next rows of the batch, for the table they go to, as Arrow or
        as an SQL row's text; None at its end."""
        assert self._chunks is not None
        try:
            table, batch = next(self._chunks)
        except StopIteration:
            return None
        if isinstance(batch, str):
            return {"table": table, "sql": batch}
        c_arr = ffi.new("struct ArrowArray *")
        c_schema = ffi.new("struct ArrowSchema *")
        batch._export_to_c(int(ffi.cast("uintptr_t", c_arr)), int(ffi.cast("uintptr_t", c_schema)))
        return Chunk({"table": table}, c_arr, c_schema)

    def high_watermark(self, _doc: Any) -> HighWatermarkAnswer:
        """The finished batch's high watermark, as the JSON value to store
        and as text for the log."""
        value = self._batch_hwm() if callable(self._batch_hwm) else self._batch_hwm
        try:
            # allow_nan=False: the engine stores JSON, which has no NaN.
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise (TypeError if isinstance(e, TypeError) else ValueError)(
                f"batch {self._batch_number}: its high watermark {describe(value)} is not JSON-encodable ({e}); "
                "it is stored as JSON in the first table's comment, so it must be None, a bool, an int, a finite "
                "float, a str, or lists and dicts of them (a datetime as its isoformat(), say)"
            ) from e
        return {"value": value, "text": str(value)}

    def on_before_visible(self, doc: OnBeforeVisibleRequest) -> None:
        self._on_before_visible(self._conn, self._ingest_table(doc), self._batch_metadata)

    def on_duplicate(self, doc: OnDuplicateRequest) -> OnDuplicateAnswer:
        """ingest_versioned's on_duplicate callable, for a new partition that
        hashes as the source's: true stops there, unattached."""
        assert self._versioned is not None and self._versioned.on_duplicate is not None
        return {"result": bool(self._versioned.on_duplicate(self._conn, doc["schema"], doc["partition"], doc["source"]))}

    def on_partition_attached(self, doc: OnPartitionAttachedRequest) -> None:
        """ingest_versioned's on_partition_attached, if any, with the
        partition's Table and the "pg-bulk-ingest" object of its comment."""
        assert self._versioned is not None
        if self._versioned.on_partition_attached is not None:
            self._versioned.on_partition_attached(self._conn, self._tables[0], self._versioned.version, doc["metadata"])

    def _ingest_table(self, doc: OnBeforeVisibleRequest) -> sa.Table:
        """The Table the batch's rows went into: the user's own, or the new
        ingest table that will be swapped in for it."""
        table = self._tables[doc["table"]]
        if doc["name"] == table.name and doc["schema"] == table.schema:
            return table
        return sa.Table(
            doc["name"],
            sa.MetaData(),
            *(
                sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key, unique=c.unique)
                for c in table.columns
            ),
            schema=doc["schema"],
        )
