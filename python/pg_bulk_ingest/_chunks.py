"""Splits a batch's (table, row) stream into per-table Arrow chunks, and
SQL rows' text."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from itertools import islice, repeat
from operator import is_
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import pyarrow as pa
import sqlalchemy as sa

from ._arrow import TableConverter
from ._arrow_input import ArrowInput, is_arrow
from ._errors import describe, shorten

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
# A slab is held twice while converted (Python values, Arrow arrays): wide
# rows go in slabs of fewer rows, about this many bytes by the size of the
# table's previous slab, and a table's first slab is one row.
SLAB_BYTES = 1 << 20


class Limits(NamedTuple):
    chunk_rows: int  # rows of a chunk, at most
    chunk_bytes: int  # bytes of a chunk's Arrow data, at most, unless it is one slab
    # max_rows_per_table_buffer, as upstream: the rows of a table held
    # while another table's are sent; more are sent, as a chunk of their own.
    buffer_rows: int


# The sql modules of the drivers whose SQL objects can be rows.
SQL_MODULES = ("psycopg2.sql", "psycopg.sql")

# A chunk's rows: Arrow, or the text of an SQL row.
Rows = Union[pa.RecordBatch, str]


def sql_module(cls: type) -> Optional[str]:
    """The driver's sql module of which cls is SQL or Composed, if any: a
    driver not imported has no objects to be rows."""
    if issubclass(cls, tuple):  # the common row: spare it the module look-ups
        return None
    for name in SQL_MODULES:
        module = sys.modules.get(name)
        if module is not None and issubclass(cls, (module.SQL, module.Composed)):
            return name
    return None


class SqlRows:
    """SQL objects of the connection's driver as rows: the engine inserts
    the rows of their text (a VALUES list or a SELECT), which the driver
    composes, Literals and all; nothing of it is formatted here."""

    def __init__(self, driver: str, driver_connection: Any) -> None:
        self.driver, self.module = driver, driver + ".sql"
        self._connection = driver_connection
        if driver == "pgarrow":
            # ADBC has no sql module: pgarrow's rows are psycopg 3's, as
            # upstream takes them, composed without a connection.
            self.module, self._connection = "psycopg.sql", None

    def text(self, row: Any, p: _Pending, batch: Any) -> str:
        row_number = p.converted + len(p.rows)
        where = f"batch {batch}, table {p.converter.label}, row {row_number} of this table's rows in the batch"
        module = sql_module(type(row))
        if module != self.module:
            raise TypeError(
                f"{where}: {describe(row)} is of {module}, but the connection's driver is {self.driver}: "
                f"SQL rows must be {self.module}.SQL or {self.module}.Composed objects"
            )
        text: str = row.as_string(self._connection)
        if not text.strip():
            raise ValueError(f"{where}: the SQL row is empty: expected a VALUES list or a SELECT")
        return text


def _is_item(cls: type) -> bool:
    """Whether values of type cls are items other than rows: Arrow data or SQL."""
    return is_arrow(cls) or sql_module(cls) is not None


class _Pending:
    """Rows of one table not yet sent: row tuples, then Arrow slabs."""

    def __init__(self, converter: TableConverter, limits: Limits, batch: Any) -> None:
        self.converter = converter
        self.limits = limits
        self.batch = batch  # for messages
        self.max_slab_rows = min(CONTAINER_SLAB_ROWS if converter.containers else SLAB_ROWS, limits.chunk_rows)
        self.slab_limit = 1  # rows of the next slab
        self.sized = False  # whether slab_limit comes from a slab of its rows
        self.rows: List[Sequence[Any]] = []
        self.slabs: List[List[pa.Array]] = []
        self.slab_rows = 0  # rows in self.slabs
        self.slab_bytes = 0  # bytes of self.slabs' arrays
        self.converted = 0  # rows of the batch converted (or sent as Arrow) so far
        self.arrow: Any = None  # the table's ArrowInput, once it has Arrow items

    def held(self) -> int:
        return len(self.rows) + self.slab_rows

    def convert(self) -> Iterator[pa.RecordBatch]:
        """Converts the rows into slabs; yields the chunks that fill up, so
        that a chunk is at most chunk_bytes unless it is one slab."""
        rows, self.rows = self.rows, []
        for arrays, n, size in self._slabs(rows, self.converted):
            self.converted += n
            self.slab_limit = max(1, min(self.max_slab_rows, SLAB_BYTES * n // max(size, 1)))
            self.sized = True
            if self.slabs and self.slab_bytes + size > self.limits.chunk_bytes:
                yield self.take()
            self.slabs.append(arrays)
            self.slab_rows += n
            self.slab_bytes += size
            if self.slab_rows >= self.limits.chunk_rows or self.slab_bytes >= self.limits.chunk_bytes:
                yield self.take()

    def _slabs(self, rows: List[Sequence[Any]], first: int) -> Iterator[Tuple[List[pa.Array], int, int]]:
        """(arrays, rows, bytes) of rows' slabs: one, or more when a column
        holds over 2 GiB, which Arrow splits into a ChunkedArray."""
        arrays = self.converter.arrays(rows, first, self.batch)
        if len(rows) > 1 and any(isinstance(a, pa.ChunkedArray) for a in arrays):
            half = len(rows) // 2
            yield from self._slabs(rows[:half], first)
            yield from self._slabs(rows[half:], first + half)
        else:
            yield arrays, len(rows), sum(a.nbytes for a in arrays)

    def take(self) -> pa.RecordBatch:
        batch = self.converter.record_batch(self.slabs)
        self.slabs, self.slab_rows, self.slab_bytes = [], 0, 0
        return batch

    def flush(self) -> Iterator[pa.RecordBatch]:
        """The rows not sent yet, as chunks."""
        if self.rows:
            yield from self.convert()
        if self.slab_rows:
            yield self.take()

    def arrow_chunks(self, data: Any, batch: Any) -> Iterator[pa.RecordBatch]:
        """An Arrow-native item's chunks, after the rows before it."""
        yield from self.flush()
        if self.arrow is None:
            self.arrow = ArrowInput(self.converter.table)
        for chunk in self.arrow.batches(data, self.limits.chunk_rows, self.limits.chunk_bytes, batch):
            self.converted += chunk.num_rows
            yield chunk

    def sql_chunks(self, text: str) -> Iterator[Rows]:
        """An SQL row, after the rows before it: it counts as one row."""
        yield from self.flush()
        self.converted += 1
        yield text


def chunks(
    rows: Iterable[Tuple[Any, Any]],
    index: Dict[Any, int],
    converters: List[TableConverter],
    limits: Limits,
    sql: SqlRows,
    batch: Any = None,
) -> Iterator[Tuple[int, Rows]]:
    """Yields (table index, batch) of limits.chunk_rows rows or about
    limits.chunk_bytes (fewer at the end, before an Arrow-native item or an
    SQL row of the table, or when limits.buffer_rows of a table are held
    while another's are sent), keeping each table's row order. An item is a
    row, Arrow data of any number of rows (see _arrow_input), sent in chunks
    within the same limits, or an SQL object of sql's driver, yielded as its
    text. Items of tables missing from index are skipped; batch names the
    batch in messages."""
    pending = [_Pending(c, limits, batch) for c in converters]
    slab_rows = 1  # items read at a time: the smallest next slab of the tables with rows
    current = None  # the table being sent
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
        types = list(map(type, data))  # row tuples, or also Arrow data or SQL?
        rows_only = types.count(tuple) == len(types)
        if not rows_only and any(map(_is_item, set(types))):
            for i, chunk in _mixed(items, index, pending, sql, batch, seen):
                yield i, chunk
                current = i
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
                touched = sorted(i for i in position.values() if i is not None)
                check = not rows_only and not all(map(_is_row_type, set(types)))
                for table, row in zip(tables, data):
                    i = position[table]
                    if i is None:
                        continue
                    if check:
                        _check_row(row, pending[i], batch)
                    pending[i].rows.append(row)
        seen += len(items)
        for i in touched:
            p = pending[i]
            if len(p.rows) >= p.slab_limit:
                for chunk in p.convert():
                    yield i, chunk
                    current = i
            if current is None and p.held():
                current = i
            elif i != current and p.held() >= limits.buffer_rows:
                for chunk in p.flush():
                    yield i, chunk
                current = i
        slab_rows = min((pending[i].slab_limit for i in touched if pending[i].sized), default=slab_rows)
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
    if i is None:
        _refuse_a_namesake(index, table, batch)
    return i


def _refuse_a_namesake(index: Dict[Any, int], table: sa.Table, batch: Any) -> None:
    """Refuses rows of a Table that is not the metadata's but names one of
    its tables (a to_metadata() copy, a Table of another MetaData): upstream
    skips them silently, losing them while the high watermark moves on."""
    for ours in index:
        if ours.name == table.name and ours.schema == table.schema:
            raise ValueError(
                f"batch {batch}: rows of {shorten(table)} (id {id(table):#x}) are for a Table object that is not "
                f"the one in the metadata passed to ingest ({shorten(ours)}, id {id(ours):#x}), though it names "
                "the same table: pass rows with the metadata's own Table (metadata.tables[...]); rows of Tables "
                "not in the metadata at all are skipped, as upstream skips them"
            )


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
    sql: SqlRows,
    batch: Any,
    seen: int,
) -> Iterator[Tuple[int, Rows]]:
    """A slab with Arrow-native items or SQL rows: each sent where it comes
    among its table's rows."""
    for table, item in items:
        i = _index_of(index, table, items, seen, batch)
        if i is None:
            continue
        if is_arrow(type(item)):
            for chunk in pending[i].arrow_chunks(item, batch):
                yield i, chunk
        elif sql_module(type(item)) is not None:
            for chunk in pending[i].sql_chunks(sql.text(item, pending[i], batch)):
                yield i, chunk
        else:
            _check_row(item, pending[i], batch)
            pending[i].rows.append(item)
