"""Splits a batch's (table, row) stream into per-table Arrow chunks."""

from __future__ import annotations

from itertools import islice, repeat
from operator import is_
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple

import pyarrow as pa

from ._arrow import TableConverter

# Rows are turned into Arrow columns in slabs smaller than the cyclic
# garbage collector's youngest generation (700 allocations), so that a row
# tuple is converted and dropped before a collection can promote it: with
# slabs of 10,000 rows the collector's passes over them cost more than
# the conversion.
SLAB_ROWS = 500


class _Pending:
    """Rows of one table not yet sent: row tuples, then Arrow slabs."""

    def __init__(self, converter: TableConverter) -> None:
        self.converter = converter
        self.rows: List[Sequence[Any]] = []
        self.slabs: List[List[pa.Array]] = []
        self.slab_rows = 0  # rows in self.slabs
        self.converted = 0  # rows of the batch converted so far

    def convert(self) -> None:
        self.slabs.append(self.converter.arrays(self.rows, self.converted))
        self.converted += len(self.rows)
        self.slab_rows += len(self.rows)
        self.rows = []

    def take(self) -> pa.RecordBatch:
        batch = self.converter.record_batch(self.slabs)
        self.slabs, self.slab_rows = [], 0
        return batch


def chunks(
    rows: Iterable[Tuple[Any, Sequence[Any]]],
    index: Dict[Any, int],
    converters: List[TableConverter],
    chunk_rows: int,
) -> Iterator[Tuple[int, pa.RecordBatch]]:
    """Yields (table index, batch) of at least chunk_rows rows (fewer at the
    end), keeping each table's row order. Rows of tables missing from
    index are skipped."""
    slab_rows = min(SLAB_ROWS, chunk_rows)
    pending = [_Pending(c) for c in converters]
    it = iter(rows)
    while True:
        items = list(islice(it, slab_rows))
        if not items:
            break
        tables, data = zip(*items)
        first = tables[0]
        if all(map(is_, tables, repeat(first))):  # the common case: one table
            i = index.get(first)
            if i is None:
                continue
            pending[i].rows.extend(data)
            touched: Iterable[int] = (i,)
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
        if p.rows:
            p.convert()
        if p.slab_rows:
            yield i, p.take()
