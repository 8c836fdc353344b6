"""Splits a batch's (table, row) stream into per-table Arrow chunks."""

from __future__ import annotations

from itertools import islice, repeat
from operator import is_
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple

import pyarrow as pa

from ._arrow import TableConverter
from ._arrow_input import ArrowInput, is_arrow

# Rows are turned into Arrow columns in slabs smaller than the cyclic
# garbage collector's youngest generation (700 allocations), so that a row
# tuple is converted and dropped before a collection can promote it: with
# slabs of 10,000 rows the collector's passes over them cost more than
# the conversion.
SLAB_ROWS = 500
# Rows of JSON documents or arrays hold many containers each, which the
# collector walks at every pass while a slab is held: smaller slabs of
# them (measured: 100 rows of 20-key documents convert 30% faster).
CONTAINER_SLAB_ROWS = 100


class _Pending:
    """Rows of one table not yet sent: row tuples, then Arrow slabs."""

    def __init__(self, converter: TableConverter) -> None:
        self.converter = converter
        self.rows: List[Sequence[Any]] = []
        self.slabs: List[List[pa.Array]] = []
        self.slab_rows = 0  # rows in self.slabs
        self.converted = 0  # rows of the batch converted (or sent as Arrow) so far
        self.arrow: Any = None  # the table's ArrowInput, once it has Arrow items

    def convert(self) -> None:
        self.slabs.append(self.converter.arrays(self.rows, self.converted))
        self.converted += len(self.rows)
        self.slab_rows += len(self.rows)
        self.rows = []

    def take(self) -> pa.RecordBatch:
        batch = self.converter.record_batch(self.slabs)
        self.slabs, self.slab_rows = [], 0
        return batch

    def flush(self) -> Iterator[pa.RecordBatch]:
        """The rows not sent yet, as one chunk if any."""
        if self.rows:
            self.convert()
        if self.slab_rows:
            yield self.take()

    def arrow_chunks(self, data: Any, chunk_rows: int, batch: Any) -> Iterator[pa.RecordBatch]:
        """An Arrow-native item's chunks, after the rows before it."""
        yield from self.flush()
        if self.arrow is None:
            self.arrow = ArrowInput(self.converter.table)
        for chunk in self.arrow.batches(data, chunk_rows, batch):
            self.converted += chunk.num_rows
            yield chunk


def chunks(
    rows: Iterable[Tuple[Any, Any]],
    index: Dict[Any, int],
    converters: List[TableConverter],
    chunk_rows: int,
    batch: Any = None,
) -> Iterator[Tuple[int, pa.RecordBatch]]:
    """Yields (table index, batch) of at least chunk_rows rows (fewer at the
    end, or before an Arrow-native item of the table), keeping each table's
    row order. An item is a row, or Arrow data of any number of rows (see
    _arrow_input), sent in chunks of at most chunk_rows rows. Items of
    tables missing from index are skipped; batch names the batch in
    messages."""
    slab_rows = min(CONTAINER_SLAB_ROWS if any(c.containers for c in converters) else SLAB_ROWS, chunk_rows)
    pending = [_Pending(c) for c in converters]
    it = iter(rows)
    while True:
        head = next(it, _END)
        if head is _END:
            break
        items = [head]
        if not _is_arrow_item(head):
            # Arrow data is taken an item at a time, so that a stream of
            # it is not pulled in ahead of its turn; rows a slab at a time.
            items.extend(islice(it, slab_rows - 1))
        tables, data = zip(*items)
        types = list(map(type, data))  # row tuples, or also Arrow data?
        if types.count(tuple) != len(types) and any(map(is_arrow, set(types))):
            yield from _mixed(items, index, pending, chunk_rows, batch)
            touched: Iterable[int] = range(len(pending))
        else:
            first = tables[0]
            if all(map(is_, tables, repeat(first))):  # the common case: one table
                i = index.get(first)
                if i is None:
                    continue
                pending[i].rows.extend(data)
                touched = (i,)
            else:
                for table, row in zip(tables, data):
                    i = index.get(table)
                    if i is not None:
                        pending[i].rows.append(row)
                touched = range(len(pending))
        for i in touched:
            p = pending[i]
            if len(p.rows) >= slab_rows:
                p.convert()
                if p.slab_rows >= chunk_rows:
                    yield i, p.take()
    for i, p in enumerate(pending):
        for chunk in p.flush():
            yield i, chunk


_END = object()


def _is_arrow_item(item: Any) -> bool:
    return type(item) is tuple and len(item) == 2 and is_arrow(type(item[1]))


def _mixed(
    items: List[Tuple[Any, Any]], index: Dict[Any, int], pending: List[_Pending], chunk_rows: int, batch: Any
) -> Iterator[Tuple[int, pa.RecordBatch]]:
    """A slab with Arrow-native items: each sent where it comes among its
    table's rows."""
    for table, item in items:
        i = index.get(table)
        if i is None:
            continue
        if is_arrow(type(item)):
            for chunk in pending[i].arrow_chunks(item, chunk_rows, batch):
                yield i, chunk
        else:
            pending[i].rows.append(item)
