"""Rows of Python values to Arrow record batches, one column at a time,
with the Arrow type that the target column's encoder reads."""

from __future__ import annotations

import datetime
import json
from itertools import repeat
from operator import is_
from typing import Any, Callable, List, Optional, Sequence

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ._errors import IngestError

Column = Sequence[Any]


class ColumnConverter:
    """Converts one column's values. Columns whose encoder reads text send
    `str(value)`, as upstream does, when their values are not all of the
    column's natural Python type: the server's reading decides."""

    def __init__(
        self,
        name: str,
        arrow_type: pa.DataType,
        prepare: Optional[Callable[[Any], Any]] = None,
        accepts_text: bool = False,
        fallback: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        self.name = name
        self.arrow_type = arrow_type
        self.prepare = prepare
        self.accepts_text = accepts_text
        # Applied to each value when the values do not convert as they are:
        # upstream's own conversion of values of other Python types.
        self.fallback = fallback

    def convert(self, values: Column) -> pa.Array:
        if self.prepare is not None:
            values = _map_present(self.prepare, values)
        try:
            return pa.array(values, type=self.arrow_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            if self.fallback is not None:
                return pa.array(_map_present(self.fallback, values), type=self.arrow_type)
            if not self.accepts_text:
                raise
        return pa.array(_map_present(str, values), type=pa.string())


def _map_present(f: Callable[[Any], Any], values: Column) -> List[Any]:
    """f of each value, None kept; map() keeps the common case in C."""
    if any(map(is_, values, repeat(None))):
        return [None if v is None else f(v) for v in values]
    return list(map(f, values))


def converter_for(column: sa.Column[Any]) -> ColumnConverter:
    typ = column.type
    name = column.name
    if isinstance(typ, (postgresql.JSON, postgresql.JSONB)):
        return ColumnConverter(name, pa.string(), prepare=json.dumps)
    if isinstance(typ, sa.Boolean):
        return ColumnConverter(name, pa.bool_())
    if isinstance(typ, sa.Integer):
        # Upstream sends str(int(v)): True is 1, "42" is 42.
        return ColumnConverter(name, pa.int64(), fallback=int)
    if isinstance(typ, sa.Float):  # REAL, DOUBLE PRECISION, FLOAT
        return ColumnConverter(name, pa.float64())
    if isinstance(typ, sa.Numeric):
        # Text keeps each Decimal's own scale, and str() of an int or float
        # is what upstream sends; the engine parses it exactly.
        return ColumnConverter(name, pa.string(), prepare=str)
    if isinstance(typ, sa.DateTime):
        if getattr(typ, "timezone", False):
            return ColumnConverter(name, pa.timestamp("us", tz="UTC"))
        # Upstream sends str(v): the server reads a date as its midnight.
        return ColumnConverter(name, pa.timestamp("us"), fallback=_date_to_datetime)
    if isinstance(typ, sa.Date):
        return ColumnConverter(name, pa.date32())
    if isinstance(typ, sa.LargeBinary):
        return ColumnConverter(name, pa.binary())
    if isinstance(typ, sa.String):
        return ColumnConverter(name, pa.string(), accepts_text=True)
    raise TypeError(
        f"column {name!r}: type {typ!r} is not supported yet "
        "(supported: SMALLINT, INTEGER, BIGINT, REAL, DOUBLE PRECISION, NUMERIC, BOOLEAN, "
        "CHAR, VARCHAR, TEXT, DATE, TIMESTAMP, BYTEA, JSON, JSONB)"
    )


def _date_to_datetime(v: Any) -> Any:
    if isinstance(v, datetime.date) and not isinstance(v, datetime.datetime):
        return datetime.datetime.combine(v, datetime.time())
    return v


class TableConverter:
    """Turns a list of row tuples of one table into a RecordBatch."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.label = f"{table.schema}.{table.name}"
        self.columns: List[ColumnConverter] = [converter_for(c) for c in table.columns]
        self.names = [c.name for c in self.columns]

    def arrays(self, rows: List[Sequence[Any]], first_row: int) -> List[pa.Array]:
        """The columns of rows; first_row is the position of rows[0] among
        this table's rows in the batch, for messages."""
        width = len(self.columns)
        if set(map(len, rows)) != {width}:
            for i, row in enumerate(rows):
                if len(row) != width:
                    raise IngestError(
                        f"table {self.label}, row {first_row + i} of this table's rows in the batch: "
                        f"{len(row)} values for {width} columns: {row!r}"
                    )
        arrays = []
        for c, (conv, values) in enumerate(zip(self.columns, zip(*rows))):
            try:
                arrays.append(conv.convert(values))
            except Exception as e:
                raise self._value_error(conv, c, rows, first_row, e) from e
        return arrays

    def record_batch(self, slabs: List[List[pa.Array]]) -> pa.RecordBatch:
        """Joins the columns of several slabs of rows into one batch."""
        if len(slabs) == 1:
            return pa.RecordBatch.from_arrays(slabs[0], names=self.names)
        columns = [pa.concat_arrays([slab[c] for slab in slabs]) for c in range(len(self.names))]
        return pa.RecordBatch.from_arrays(columns, names=self.names)

    def _value_error(
        self, conv: ColumnConverter, c: int, rows: List[Sequence[Any]], first_row: int, cause: Exception
    ) -> IngestError:
        for i, row in enumerate(rows):
            try:
                conv.convert([row[c]])
            except Exception as e:
                return IngestError(
                    f"table {self.label}, column {conv.name!r}, row {first_row + i} of this table's rows "
                    f"in the batch: value {row[c]!r} does not fit {self.table.columns[conv.name].type}: {e}"
                )
        return IngestError(f"table {self.label}, column {conv.name!r}: {cause}")
