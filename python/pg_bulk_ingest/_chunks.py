"""Splits a batch's (table, row) stream into per-table Arrow chunks."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from itertools import islice, repeat
from operator import is_
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import sqlalchemy as sa

from ._arrow import TableConverter
from ._arrow_input import ArrowInput, is_arrow
from ._errors import describe

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
    seen = 0  # items of the batch before this slab's, for messages
    while True:
        head = next(it, _END)
        if head is _END:
            break
        items = [head]
        if not _is_arrow_item(head):
            # Arrow data is taken an item at a time, so that a stream of
            # it is not pulled in ahead of its turn; rows a slab at a time.
            items.extend(islice(it, slab_rows - 1))
        try:
            tables, data = _transpose(items)
        except (TypeError, ValueError):
            raise _not_a_pair(items, seen, batch) from None
        types = list(map(type, data))  # row tuples, or also Arrow data?
        rows_only = types.count(tuple) == len(types)
        if not rows_only and any(map(is_arrow, set(types))):
            yield from _mixed(items, index, pending, chunk_rows, batch, seen)
            touched: Iterable[int] = range(len(pending))
        else:
            first = tables[0]
            if all(map(is_, tables, repeat(first))):  # the common case: one table
                i = _index_of(index, first, items, seen, batch)
                if i is None:
                    touched = ()
                else:
                    if not rows_only and not all(map(_is_row_type, set(types))):
                        for k, row in enumerate(data):
                            _check_row(row, pending[i], batch, k)
                    pending[i].rows.extend(data)
                    touched = (i,)
            else:
                try:
                    distinct = set(tables)
                except TypeError:  # unhashable: not a Table
                    raise _not_a_pair(items, seen, batch) from None
                position = {t: _index_of(index, t, items, seen, batch) for t in distinct}
                check = not rows_only and not all(map(_is_row_type, set(types)))
                for table, row in zip(tables, data):
                    i = position[table]
                    if i is None:
                        continue
                    if check:
                        _check_row(row, pending[i], batch)
                    pending[i].rows.append(row)
                touched = range(len(pending))
        seen += len(items)
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


if sys.version_info >= (3, 10):

    def _transpose(items: List[Any]) -> Iterator[Tuple[Any, ...]]:
        """(tables, rows) of the items; ValueError unless all are pairs
        (zip alone would drop the third value of a triple among pairs)."""
        return zip(*items, strict=True)

else:

    def _transpose(items: List[Any]) -> Iterator[Tuple[Any, ...]]:
        if sum(map(len, items)) != 2 * len(items):
            raise ValueError("not pairs")
        return zip(*items)


def _is_arrow_item(item: Any) -> bool:
    return type(item) is tuple and len(item) == 2 and is_arrow(type(item[1]))


def _index_of(index: Dict[Any, int], table: Any, items: List[Any], seen: int, batch: Any) -> Optional[int]:
    """The position of table in the metadata; None for another Table,
    whose rows are skipped as upstream skips them."""
    try:
        i = index.get(table)
    except TypeError:  # unhashable: not a Table
        i = None
    if i is None and not isinstance(table, sa.Table):
        raise _not_a_pair(items, seen, batch)
    return i


def _is_pair(item: Any) -> bool:
    try:
        return not isinstance(item, (str, bytes)) and len(item) == 2 and isinstance(item[0], sa.Table)
    except Exception:  # noqa: BLE001 - whatever it is, it is not a pair
        return False


def _not_a_pair(items: List[Any], seen: int, batch: Any) -> TypeError:
    """The error for the first of items that is not a (table, row) pair."""
    k = next((k for k, item in enumerate(items) if not _is_pair(item)), 0)
    return TypeError(
        f"batch {batch}, item {seen + k} of its rows (counting from 0): {describe(items[k])} is not a (table, row) "
        "pair: each item must be (table, row), a sqlalchemy Table and a tuple of its values, or (table, data) "
        "with Arrow data"
    )


def _is_row_type(t: type) -> bool:
    """Whether values of type t can be rows: tuples, lists, namedtuples,
    SQLAlchemy Rows; not a dict or a str, which upstream would take apart
    into keys or characters, nor None or a number."""
    return t is tuple or (hasattr(t, "__len__") and not issubclass(t, (str, bytes, bytearray, Mapping, AbstractSet)))


def _check_row(row: Any, p: _Pending, batch: Any, offset: int = 0) -> None:
    """Refuses a row of a type that cannot be a row, naming its position;
    offset counts the rows before it not yet added to p."""
    if _is_row_type(type(row)):
        return
    c = p.converter
    raise TypeError(
        f"batch {batch}, table {c.label}, row {p.converted + len(p.rows) + offset} of this table's rows in the batch: "
        f"{describe(row)} is not a row: expected a tuple of its {len(c.names)} values ({', '.join(c.names)})"
    )


def _mixed(
    items: List[Tuple[Any, Any]],
    index: Dict[Any, int],
    pending: List[_Pending],
    chunk_rows: int,
    batch: Any,
    seen: int,
) -> Iterator[Tuple[int, pa.RecordBatch]]:
    """A slab with Arrow-native items: each sent where it comes among its
    table's rows."""
    for table, item in items:
        i = _index_of(index, table, items, seen, batch)
        if i is None:
            continue
        if is_arrow(type(item)):
            for chunk in pending[i].arrow_chunks(item, chunk_rows, batch):
                yield i, chunk
        else:
            _check_row(item, pending[i], batch)
            pending[i].rows.append(item)
