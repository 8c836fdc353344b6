"""Arrow-native items of a batch: `(table, data)` where data is a pyarrow
RecordBatch, Table or RecordBatchReader, a pandas or polars DataFrame, or
any object with the Arrow PyCapsule interface (`__arrow_c_stream__` or
`__arrow_c_array__`).

Its columns are matched to the table's by name and reordered without
copying (select), and it is sent in zero-copy slices of at most chunk_rows
rows and about chunk_bytes (a single row may be more). Its Arrow types are
the engine's to check against the table's column types, in the batch's
transaction: the binary and text COPY encoders say which Arrow types each
column type takes."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

import pyarrow as pa
import sqlalchemy as sa

# Whether values of a type are Arrow data rather than rows, by type.
_IS_ARROW: Dict[type, bool] = {}


def is_arrow(cls: type) -> bool:
    """Whether values of type cls are Arrow-native items, not rows."""
    known = _IS_ARROW.get(cls)
    if known is None:
        known = _IS_ARROW[cls] = _arrow_kind(cls) is not None
    return known


def _arrow_kind(cls: type) -> Optional[str]:
    if issubclass(cls, (tuple, list, str, bytes, dict)):
        return None  # rows, however they are spelled (namedtuples too)
    if issubclass(cls, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
        return "pyarrow"
    for base in cls.__mro__:
        if base.__name__ == "DataFrame" and base.__module__.split(".")[0] in ("pandas", "polars"):
            return base.__module__.split(".")[0]
    if hasattr(cls, "__arrow_c_stream__") or hasattr(cls, "__arrow_c_array__"):
        return "capsule"
    return None


Tabular = Union[pa.Table, pa.RecordBatch, pa.RecordBatchReader]


def to_arrow(data: Any) -> Tabular:
    """data as a pyarrow Table, RecordBatch or RecordBatchReader, without
    copying where its library allows."""
    kind = _arrow_kind(type(data))
    if kind == "pyarrow":
        return data  # type: ignore[no-any-return]
    if kind == "pandas":
        # The index is not a column of the table (pandas' own Arrow export
        # would add a non-default one as __index_level_0__).
        return pa.Table.from_pandas(data, preserve_index=False)
    if kind == "polars":
        return _from_polars(data)
    if hasattr(data, "__arrow_c_stream__"):
        # Read batch by batch: a stream of any length keeps memory flat.
        return pa.RecordBatchReader.from_stream(data)
    return pa.record_batch(data)


def _from_polars(data: Any) -> pa.Table:
    import polars

    # Object columns would export as the addresses of their Python objects.
    objects = [name for name, dtype in data.schema.items() if dtype == polars.Object]
    if objects:
        raise TypeError(
            f"column(s) {', '.join(map(repr, objects))} of polars type Object hold Python objects, "
            "which have no Arrow form: cast them to a polars type first"
        )
    # Polars' own layouts (string_view, binary_view), which the engine
    # takes; its default export converts them, copying every string.
    level = getattr(polars, "CompatLevel", None)  # polars >= 1.1
    kwargs = {"compat_level": level.newest()} if level is not None else {}
    try:
        return data.to_arrow(**kwargs)
    except Exception as e:
        failing = [f"{name!r} ({dtype})" for name, dtype in data.schema.items() if not _exports(data.select(name), kwargs)]
        raise TypeError(f"column(s) {', '.join(failing)}: {e}") from e


def _exports(data: Any, kwargs: Dict[str, Any]) -> bool:
    try:
        data.to_arrow(**kwargs)
    except Exception:
        return False
    return True


class ArrowInput:
    """Arrow-native items of one table: checked, reordered and sliced."""

    def __init__(self, table: sa.Table) -> None:
        self.label = f"{table.schema}.{table.name}"
        self.names: List[str] = [c.name for c in table.columns]
        self._names = set(self.names)

    def batches(self, data: Any, chunk_rows: int, chunk_bytes: int, batch: Any = None) -> Iterator[pa.RecordBatch]:
        """The record batches of data with the table's columns in order, of
        at most chunk_rows rows and about chunk_bytes each, all slices of
        data's own buffers."""
        try:
            tabular = to_arrow(data)
        except Exception as e:
            raise TypeError(
                f"{self._where(batch)}: {type(data).__module__}.{type(data).__qualname__} "
                f"could not be read as Arrow data: {e}"
            ) from e
        self._check_columns(tabular.schema, data, batch)
        if isinstance(tabular, pa.RecordBatchReader):
            parts: Iterable[pa.RecordBatch] = tabular
        elif isinstance(tabular, pa.Table):
            parts = tabular.to_batches()
        else:
            parts = (tabular,)
        return self._sliced(parts, chunk_rows, chunk_bytes)

    def _sliced(self, parts: Iterable[pa.RecordBatch], chunk_rows: int, chunk_bytes: int) -> Iterator[pa.RecordBatch]:
        for part in parts:
            yield from _slices(part.select(self.names), chunk_rows, chunk_bytes)

    def _check_columns(self, schema: pa.Schema, data: Any, batch: Any) -> None:
        names = schema.names
        if names == self.names:
            return
        given = set(names)
        duplicate = sorted({n for n in names if names.count(n) > 1})
        missing = [n for n in self.names if n not in given]
        extra = [n for n in names if n not in self._names]
        if not (duplicate or missing or extra):
            return  # the same columns in another order
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            problems.append(f"extra column(s) {', '.join(map(repr, extra))}")
        if duplicate:
            problems.append(f"duplicate column(s) {', '.join(map(repr, duplicate))}")
        raise ValueError(
            f"{self._where(batch)}: the columns of the {type(data).__qualname__} do not match the table's: "
            f"{'; '.join(problems)} (the table has {', '.join(map(repr, self.names))}; "
            "Arrow data is matched to the table's columns by name)"
        )

    def _where(self, batch: Any) -> str:
        return f"batch {batch}, table {self.label}" if batch is not None else f"table {self.label}"


def _slices(part: pa.RecordBatch, chunk_rows: int, chunk_bytes: int) -> Iterator[pa.RecordBatch]:
    """part in slices of at most chunk_rows rows, and of chunk_bytes by its
    average row (nbytes counts a slice's own values, offsets included)."""
    rows = part.num_rows
    try:
        size = part.nbytes
    except pa.ArrowTypeError:  # pyarrow < 22 cannot measure a string_view's used bytes
        size = part.get_total_buffer_size()
    step = max(1, min(chunk_rows, rows * chunk_bytes // max(size, 1)))
    for offset in range(0, rows, step):
        yield part.slice(offset, step)
