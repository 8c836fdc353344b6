"""Rows of Python values to Arrow record batches, one column at a time.

Upstream sends text COPY: each value as str(value) (integers through
int(), JSON through json.dumps, arrays as '{"a",NULL}', bytes as hex), and
the server's reading of that text decides what is stored. Here a column's
values go as the Arrow type its binary encoder reads when they are all of
the column's natural Python type, whose binary encoding is exactly what the
server reads from their text; otherwise the column goes as Arrow utf8
holding upstream's text of each value, and the engine sends that chunk as
text COPY for the server to read, as upstream does.

The common case is one type check over the column (set(map(type, ...)),
in C) and one pa.array call; only columns that need it pay per value."""

from __future__ import annotations

import datetime
import json
import sys
import sysconfig
import uuid
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, is_, is_not, sub
from typing import Any, Callable, FrozenSet, List, Optional, Sequence

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ._errors import IngestError, shorten, value_error
from ._native import lib

Column = Sequence[Any]

NoneType = type(None)
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)
_tzinfo = attrgetter("tzinfo")
_UUID_TYPES = tuple(t for t in (getattr(sa, "Uuid", None), postgresql.UUID) if t is not None)


# Whether the library may read this interpreter's objects (goext/capi's
# dumps.c, walk.c): CPython's, whose id() is the object's address, and with
# a GIL, whose objects' header the library reads.
_NATIVE = sys.implementation.name == "cpython" and not sysconfig.get_config_var("Py_GIL_DISABLED")

# The kinds of column of pbi_walk_column (goext/capi/walk.c).
_WALK_INT64, _WALK_FLOAT64, _WALK_BOOL, _WALK_UTF8, _WALK_STR_OF, _WALK_TIMESTAMP, _WALK_DATE32 = range(7)


def _walk(rows: List[Sequence[Any]], column: int, kind: int, typ: Any, arrow_type: pa.DataType) -> Optional[pa.Array]:
    """The Arrow array of each row's value at column, written by the
    library: None when a value is not of the kind's exact type (or None)."""
    if kind in (_WALK_TIMESTAMP, _WALK_DATE32) and not _datetimes_readable():
        return None
    out: List[bytes] = []
    nulls = lib().pbi_walk_column(id(rows), column, kind, id(typ), id(out))
    if nulls < 0:
        return None
    return _library_array(arrow_type, len(rows), out, nulls)


def _library_array(arrow_type: pa.DataType, length: int, out: List[bytes], nulls: int) -> pa.Array:
    """The array whose buffers the library wrote into out: its values' buffers
    in Arrow's order, then the validity bitmap when some are null."""
    buffers = [pa.py_buffer(b) for b in out]
    validity = buffers.pop() if nulls else None
    return pa.Array.from_buffers(arrow_type, length, [validity, *buffers], null_count=nulls)


_datetimes_checked: List[bool] = []


def _datetimes_readable() -> bool:
    """Whether walk.c reads this interpreter's datetimes (and dates, their
    head) as Python subtracts them (their layout is CPython's, not its
    stable ABI's)."""
    if not _datetimes_checked:
        rows = [(datetime.datetime(2001, 2, 3, 4, 5, 6, 789012),)]
        out: List[bytes] = []
        ok = lib().pbi_walk_column(id(rows), 0, _WALK_TIMESTAMP, id(datetime.datetime), id(out)) == 0
        _datetimes_checked.append(ok and out == [(981173106789012).to_bytes(8, sys.byteorder)])
    return _datetimes_checked[0]


def _pool() -> pa.MemoryPool:
    """Where the arrays made here are allocated: pyarrow's jemalloc where it
    has one. Peak RSS measured against it, on S1 and on wide rows of 1 KB
    to 1 MB: pyarrow's default, mimalloc, 5 MiB more on S1 and up to 20 on
    wide rows (it backs its arenas with 2 MiB huge pages, and keeps pages
    that Go's threads free a while); the C library's malloc as much on S1,
    7-18 MiB more on wide rows (fragmentation around MiB buffers)."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it
        return pa.system_memory_pool()


POOL = _pool()


def _array(values: Any, type: pa.DataType) -> pa.Array:
    return pa.array(values, type=type, memory_pool=POOL)


def _compute() -> Any:
    """pyarrow.compute, imported by the few conversions that need it: its
    import takes about 8 MiB."""
    import pyarrow.compute

    return pyarrow.compute


def _map_present(f: Callable[[Any], Any], values: Column) -> List[Any]:
    """f of each value, None kept; map() keeps the common case in C."""
    if any(map(is_, values, repeat(None))):
        return [None if v is None else f(v) for v in values]
    return list(map(f, values))


def _types(values: Column) -> FrozenSet[type]:
    """The Python types of the values, None's included."""
    return frozenset(map(type, values))


def _any_aware(values: Column) -> bool:
    """Whether any value (datetimes or times, and Nones) has a tzinfo."""
    return any(map(_tzinfo, filter(None, values)))


class ColumnConverter:
    """Converts one column's values to an Arrow array: of `arrow_type`
    when they allow it, else utf8 of upstream's text of each value."""

    arrow_type: pa.DataType = pa.string()
    # Whether its values are usually containers (dicts, lists), which the
    # cyclic garbage collector walks while they are held.
    containers = False

    # The kind of column the library writes the array of (goext/capi/walk.c)
    # when its values are all of walk_type (or the kind's type) or None.
    walk_kind: Optional[int] = None
    walk_type: Any = None

    def __init__(self, name: str) -> None:
        self.name = name

    def walked(self, rows: List[Sequence[Any]], column: int) -> Optional[pa.Array]:
        """The array convert() makes of the column of rows, written by the
        library; None when convert() must make it."""
        if self.walk_kind is None or not _NATIVE:
            return None
        return _walk(rows, column, self.walk_kind, self.walk_type, self.arrow_type)

    # Upstream's text of a value (before COPY escaping); a builtin, not a
    # method, so that mapping it over a column stays in C.
    text: Callable[[Any], str] = str

    def to_text(self, values: Column) -> pa.Array:
        return _array(_map_present(self.text, values), type=pa.string())

    def as_text(self, array: pa.Array) -> pa.Array:
        """The text of the values of an array this converter made: for a
        chunk whose slabs came out as different Arrow types."""
        if array.type == pa.string():
            return array
        return self.to_text(array.to_pylist())

    def convert(self, values: Column) -> pa.Array:
        return self.to_text(values)


class _Typed(ColumnConverter):
    """Values of `natural` types convert with one pa.array call; any other
    type sends the column as text."""

    natural: FrozenSet[type] = frozenset()

    def convert(self, values: Column) -> pa.Array:
        if _types(values) <= self.natural:
            try:
                return _array(values, type=self.arrow_type)
            except _ARROW_ERRORS:
                pass  # e.g. out of Arrow's range: the server decides
        return self.to_text(values)


class IntConverter(ColumnConverter):
    # Upstream sends str(int(v)): True is 1, "42" is 42, 1.9 is 1. Arrow's
    # own int64 conversion truncates floats and Decimals as int() does.
    arrow_type = pa.int64()
    walk_kind = _WALK_INT64

    def convert(self, values: Column) -> pa.Array:
        try:
            return _array(values, type=self.arrow_type)
        except _ARROW_ERRORS:
            return _array(_map_present(int, values), type=self.arrow_type)


class FloatConverter(_Typed):
    # Not bool (str(True) is no number), not numpy's float32 (whose str()
    # has fewer digits than its value as a double): those go as text.
    arrow_type = pa.float64()
    natural = frozenset((float, int, NoneType))
    walk_kind = _WALK_FLOAT64

    def convert(self, values: Column) -> pa.Array:
        types = _types(values)
        if types <= self.natural or types <= self.natural | _numpy_types(_NUMPY_DOUBLES):
            try:
                return _array(values, type=self.arrow_type)
            except _ARROW_ERRORS:
                pass
        return self.to_text(values)


# numpy scalars whose str() is the number Arrow takes.
_NUMPY_DOUBLES = ("float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _numpy_types(names: Sequence[str]) -> FrozenSet[type]:
    numpy = sys.modules.get("numpy")  # values of its types mean it is imported
    return frozenset(getattr(numpy, n) for n in names) if numpy is not None else frozenset()


class BoolConverter(ColumnConverter):
    # Arrow takes bools and numpy bools, whose str() the server reads the
    # same; anything else ('t', 1, 'yes') is the server's to read.
    arrow_type = pa.bool_()
    walk_kind = _WALK_BOOL

    def convert(self, values: Column) -> pa.Array:
        try:
            return _array(values, type=self.arrow_type)
        except _ARROW_ERRORS:
            return self.to_text(values)


class NumericConverter(ColumnConverter):
    # Always text: it keeps each Decimal's own scale, and str() of an int
    # or float is what upstream sends; the engine parses it exactly.
    walk_kind, walk_type = _WALK_STR_OF, Decimal
    def convert(self, values: Column) -> pa.Array:
        return self.to_text(values)


class StringConverter(_Typed):
    # Arrow would take bytes as UTF-8 where upstream sends str(b'...').
    natural = frozenset((str, NoneType))
    walk_kind = _WALK_UTF8


class JSONConverter(ColumnConverter):
    containers = True
    # Upstream: json.dumps(v); None is SQL NULL, not JSON null.
    text = staticmethod(json.dumps)

    def to_text(self, values: Column) -> pa.Array:
        array = _dumps_natively(values)
        return super().to_text(values) if array is None else array


def _dumps_natively(values: Column) -> Any:
    """The utf8 array of json.dumps's text of each value, None as null,
    written by the library: json.dumps's own text, several times faster.
    None when json.dumps must write it here: it fails for a value (the
    error is raised by the caller's own json.dumps), or the interpreter
    is not one the library can read."""
    if not _NATIVE:
        return None
    values = tuple(values)  # the library walks a tuple, which nothing can change under it
    out: List[bytes] = []
    nulls = lib().pbi_json_dumps(id(values), id(json.dumps), id(out))
    if nulls < 0:
        return None
    return _library_array(pa.string(), len(values), out, nulls)


class BytesConverter(ColumnConverter):
    arrow_type = pa.binary()
    natural = frozenset((bytes, bytearray, memoryview, NoneType))

    def convert(self, values: Column) -> pa.Array:
        if not _types(values) <= self.natural:
            for v in values:
                if v is not None and not isinstance(v, (bytes, bytearray, memoryview)):
                    # Upstream calls v.hex(): str, int... fail there too, with
                    # this class.
                    raise AttributeError(f"BYTEA takes bytes, bytearray or memoryview, not {type(v).__name__}")
            values = _map_present(bytes, values)
        return _array(values, type=self.arrow_type)


class DateConverter(_Typed):
    # A datetime is not a date here: str(datetime) goes as text, and the
    # server keeps its date (an aware one's own, not UTC's).
    arrow_type = pa.date32()
    natural = frozenset((datetime.date, NoneType))
    walk_kind, walk_type = _WALK_DATE32, datetime.date


# Epochs to subtract datetimes from: naive from naive, aware from aware
# (a tzinfo object of its own, so that Python uses both offsets).
_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(0), "epoch"))
_MICROS = pa.duration("us")


def _since(values: Column, epoch: datetime.datetime, has_none: bool) -> pa.Array:
    """Microseconds from epoch to each datetime, as int64 with nulls.
    Raises TypeError when a value's awareness differs from epoch's, which
    makes it the check as well: faster than Arrow's own conversion."""
    if not has_none:
        return _array(list(map(sub, values, repeat(epoch))), type=_MICROS).view(pa.int64())
    deltas = _array(list(map(sub, filter(None, values), repeat(epoch))), type=_MICROS).view(pa.int64())
    present = _array(list(map(is_not, values, repeat(None))), type=pa.bool_())
    nulls = pa.nulls(len(values), pa.int64(), memory_pool=POOL)
    return _compute().replace_with_mask(nulls, present, deltas, memory_pool=POOL)


class TimestampConverter(ColumnConverter):
    """TIMESTAMP: naive datetimes, and dates as their midnight; an aware
    datetime goes as text, whose offset the server ignores."""

    arrow_type = pa.timestamp("us")
    natural = frozenset((datetime.datetime, NoneType))
    walk_kind, walk_type = _WALK_TIMESTAMP, datetime.datetime
    with_dates = frozenset((datetime.datetime, datetime.date, NoneType))

    def convert(self, values: Column) -> pa.Array:
        types = _types(values)
        if types <= self.with_dates:
            if not types <= self.natural:
                values = _map_present(_midnight, values)
            try:
                return _since(values, _EPOCH, NoneType in types).view(self.arrow_type)
            except _ARROW_ERRORS:
                pass  # an aware datetime
        return self.to_text(values)


def _midnight(v: Any) -> Any:
    if type(v) is datetime.date:
        return datetime.datetime.combine(v, datetime.time())
    return v


class TimestampTZConverter(ColumnConverter):
    """TIMESTAMP WITH TIME ZONE: aware datetimes as instants; naive ones
    (and dates) go as text, which the server reads in the session's
    TimeZone, as upstream's."""

    arrow_type = pa.timestamp("us", tz="UTC")
    natural = frozenset((datetime.datetime, NoneType))

    def convert(self, values: Column) -> pa.Array:
        types = _types(values)
        if types <= self.natural:
            try:
                return _since(values, _EPOCH_UTC, NoneType in types).view(self.arrow_type)
            except _ARROW_ERRORS:
                pass  # a naive datetime
        return self.to_text(values)


class TimeConverter(ColumnConverter):
    """TIME: naive times; an aware one goes as text (the server drops its
    offset)."""

    arrow_type = pa.time64("us")
    natural = frozenset((datetime.time, NoneType))

    def convert(self, values: Column) -> pa.Array:
        if _types(values) <= self.natural and not _any_aware(values):
            try:
                return _array(values, type=self.arrow_type)
            except _ARROW_ERRORS:
                pass
        return self.to_text(values)


class IntervalConverter(_Typed):
    arrow_type = pa.duration("us")
    natural = frozenset((datetime.timedelta, NoneType))


class UUIDConverter(_Typed):
    arrow_type = pa.binary(16)
    natural = frozenset((uuid.UUID, NoneType))

    def as_text(self, array: pa.Array) -> pa.Array:
        if array.type == pa.string():
            return array
        return self.to_text([None if b is None else uuid.UUID(bytes=b) for b in array.to_pylist()])


class VectorConverter(ColumnConverter):
    """pgvector's VECTOR: lists, tuples and numpy arrays of numbers as
    list<float32>; anything else as text pgvector reads ('[1,2,3]')."""

    arrow_type = pa.list_(pa.float32())
    natural = frozenset((list, tuple, NoneType))

    @staticmethod
    def text(v: Any) -> str:
        if isinstance(v, list):
            return str(v)  # upstream's
        if _is_ndarray(v):
            v = v.tolist()  # str() of an array is not pgvector's syntax
        if isinstance(v, (tuple, list)):
            return "[" + ",".join(map(str, v)) + "]"
        return str(v)

    def convert(self, values: Column) -> pa.Array:
        types = _types(values)
        ndarray = getattr(sys.modules.get("numpy"), "ndarray", None)
        if types <= self.natural or (ndarray is not None and types <= self.natural | {ndarray}):
            try:
                doubles = _array(values, type=pa.list_(pa.float64()))
            except _ARROW_ERRORS:
                pass
            else:
                if doubles.values.null_count == 0:  # pgvector has no NULL elements: let it say so
                    return pa.ListArray.from_arrays(
                        doubles.offsets, _to_float32(doubles.values), mask=doubles.is_null(), pool=POOL
                    )
        return self.to_text(values)


def _to_float32(doubles: pa.Array) -> pa.Array:
    """REALs as pgvector reads str() of each double: rounded once from
    the decimal text, which differs from rounding the double itself only
    for doubles halfway between two REALs (found with numpy, when there)."""
    try:
        import numpy as np
    except ImportError:
        return _compute().cast(doubles, pa.float32(), safe=False, memory_pool=POOL)

    d = doubles.to_numpy(zero_copy_only=False)
    with np.errstate(over="ignore"):
        f = d.astype(np.float32)
    back = f.astype(np.float64)
    inexact = np.flatnonzero((back != d) & np.isfinite(d))
    for i in inexact:
        v = float(d[i])
        if back[i] < v:
            lo, hi = f[i], np.nextafter(f[i], np.float32(np.inf))
        else:
            lo, hi = np.nextafter(f[i], np.float32(-np.inf)), f[i]
        mid = (float(lo) + float(hi)) / 2  # exact in a double
        if v == mid:
            exact, text = Decimal(v), Decimal(repr(v))
            if text != exact:
                f[i] = hi if text > exact else lo
    return _array(f, type=pa.float32())


def _is_ndarray(v: Any) -> bool:
    ndarray = getattr(sys.modules.get("numpy"), "ndarray", None)
    return ndarray is not None and isinstance(v, ndarray)


def _escape_array_item(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class ArrayConverter(ColumnConverter):
    containers = True
    """sa.ARRAY: upstream's literal, each item str()'d and quoted."""

    @staticmethod
    def text(v: Any) -> str:
        return (
            "{"
            + ",".join("NULL" if item is None else '"' + _escape_array_item(str(item)) + '"' for item in v)
            + "}"
        )


def _is_vector(typ: Any) -> bool:
    cls = type(typ)
    return cls.__name__ == "VECTOR" and cls.__module__.startswith("pgvector")


def converter_for(column: sa.Column[Any]) -> ColumnConverter:
    typ = column.type
    name = column.name
    if isinstance(typ, sa.ARRAY):
        return ArrayConverter(name)
    if isinstance(typ, sa.JSON):
        return JSONConverter(name)
    if isinstance(typ, sa.Integer):
        return IntConverter(name)
    if isinstance(typ, sa.Boolean):
        return BoolConverter(name)
    if isinstance(typ, sa.Float):  # REAL, DOUBLE PRECISION, FLOAT; before Numeric (its base in 2.0)
        return FloatConverter(name)
    if isinstance(typ, sa.Numeric):
        return NumericConverter(name)
    if isinstance(typ, sa.DateTime):
        return TimestampTZConverter(name) if getattr(typ, "timezone", False) else TimestampConverter(name)
    if isinstance(typ, sa.Date):
        return DateConverter(name)
    if isinstance(typ, sa.Time):
        # TIME WITH TIME ZONE is always text: the server applies its rules.
        return ColumnConverter(name) if getattr(typ, "timezone", False) else TimeConverter(name)
    if isinstance(typ, postgresql.INTERVAL):
        return IntervalConverter(name)
    if isinstance(typ, _UUID_TYPES):
        return UUIDConverter(name)
    if isinstance(typ, postgresql.BYTEA):
        return BytesConverter(name)
    if _is_vector(typ):
        return VectorConverter(name)
    if isinstance(typ, sa.String):
        return StringConverter(name)
    # INET, CIDR, enums, domains, MONEY, user-defined types: str(v).
    return ColumnConverter(name)


class TableConverter:
    """Turns a list of row tuples of one table into a RecordBatch."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.label = f"{table.schema}.{table.name}"
        self.columns: List[ColumnConverter] = [converter_for(c) for c in table.columns]
        self.containers = any(c.containers for c in self.columns)
        self.names = [c.name for c in self.columns]

    def arrays(self, rows: List[Sequence[Any]], first_row: int, batch: Any) -> List[pa.Array]:
        """The columns of rows; batch, and first_row, the position of rows[0]
        among this table's rows in the batch, are for messages."""
        width = len(self.columns)
        if set(map(len, rows)) != {width}:
            for i, row in enumerate(rows):
                if len(row) != width:
                    raise IngestError(
                        f"batch {batch}, table {self.label}, row {first_row + i} of this table's rows in the batch: "
                        f"{len(row)} values for {width} columns: {row!r}"
                    )
        if not rows:
            return []
        columns: Optional[List[Column]] = None  # made when a column is not walked
        arrays = []
        for c, conv in enumerate(self.columns):
            array = conv.walked(rows, c)
            if array is not None:
                arrays.append(array)
                continue
            if columns is None:
                columns = list(zip(*rows))
            try:
                arrays.append(conv.convert(columns[c]))
            except Exception as e:
                raise self._value_error(conv, c, rows, first_row, batch, e) from e
        return arrays

    def record_batch(self, slabs: List[List[pa.Array]]) -> pa.RecordBatch:
        """Joins the columns of several slabs of rows into one batch."""
        if len(slabs) == 1:
            return pa.RecordBatch.from_arrays(slabs[0], names=self.names)
        columns = []
        for c, conv in enumerate(self.columns):
            parts = [slab[c] for slab in slabs]
            if any(p.type != parts[0].type for p in parts):
                # Some slabs needed text: the whole chunk's column is text.
                parts = [conv.as_text(p) for p in parts]
            columns.append(pa.concat_arrays(parts, memory_pool=POOL))
        return pa.RecordBatch.from_arrays(columns, names=self.names)

    def _value_error(
        self, conv: ColumnConverter, c: int, rows: List[Sequence[Any]], first_row: int, batch: Any, cause: Exception
    ) -> IngestError:
        for i, row in enumerate(rows):
            try:
                conv.convert([row[c]])
            except Exception as e:
                return value_error(
                    f"batch {batch}, table {self.label}, column {conv.name!r}, row {first_row + i} of this table's rows "
                    f"in the batch: value {shorten(row[c])} does not fit {self.table.columns[conv.name].type}: "
                    f"{type(e).__name__}: {e}",
                    e,
                )
        return value_error(f"batch {batch}, table {self.label}, column {conv.name!r}: {type(cause).__name__}: {cause}", cause)
