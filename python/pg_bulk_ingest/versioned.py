"""ingest_versioned: each version of a dataset in its own partition of a
LIST-partitioned root table, a view on the newest, and duplicate versions
detected by a hash of the rows; upstream 0.1.3's pg_bulk_ingest.versioned,
its names and behaviour (docs/versioned.md says where ours differs)."""

from __future__ import annotations

import enum
import inspect
import json
import logging
import sys
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import pyarrow as pa
import sqlalchemy as sa

from ._arrow_input import is_arrow, to_arrow
from ._constants import Delete as _Delete
from ._constants import HighWatermark as _HighWatermark
from ._constants import OnDuplicate as _OnDuplicate
from ._constants import Upsert as _Upsert
from ._errors import DuplicatePartitionError, describe
from ._chunks import sql_module
from ._host_source import Versioned, is_batch
from ._ingest import check_options, ingest, run
from ._predicates import partition_attached, table_exists, view_exists

__all__ = [
    "Delete",
    "DuplicatePartitionError",
    "HighWatermark",
    "OnDuplicate",
    "Upsert",
    "ingest_versioned",
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


logger = logging.getLogger("partition_wrapper")

# ingest_versioned's own options, with upstream's defaults; the others are
# ingest()'s, with ingest()'s defaults but for these three.
_OWN = {
    "partition_column": "_version",
    "root_table_name_suffix": "__history",
    "on_duplicate": _OnDuplicate.SKIP,
}
_INGEST_DEFAULTS = {
    "high_watermark": _HighWatermark.LATEST,
    "delete": _Delete.OFF,
    "upsert": _Upsert.IF_PRIMARY_KEY,
}
_INGEST_OPTIONS = [p for p in inspect.signature(ingest).parameters.values() if p.default is not p.empty]
_ON_DUPLICATE = (_OnDuplicate.SKIP, _OnDuplicate.ERROR, _OnDuplicate.KEEP)
# PostgreSQL's longest name (NAMEDATALEN - 1), in bytes: a longer one is
# truncated, so the partition could not be found again by its name.
_MAX_NAME = 63


def ingest_versioned(
    conn: Any,
    base_table: sa.Table,
    batches: Callable[[Any], Any],
    version: Any,
    *,
    on_partition_attached: Optional[Callable[[Any, sa.Table, Any, Dict[str, Any]], Any]] = None,
    **kwargs: Any,
) -> None:
    """Ingests the batches as version `version` of base_table: into a new
    partition of the root table `<base><root_table_name_suffix>`, starting
    from the rows of the version the view `<base>` shows (high_watermark
    LATEST), then, unless its rows hash as that version's (on_duplicate),
    attached and shown by the view; see docs/versioned.md."""
    options = _options(kwargs)
    own = {k: options.pop(k) for k in _OWN}
    schema, base = _schema_and_name(base_table)
    column, on_duplicate = own["partition_column"], own["on_duplicate"]
    version_text = str(version)
    part = f"{base}__{version_text.replace('-', '')}"
    root = f"{base}{own['root_table_name_suffix']}"
    for what, name in (("partition", part), ("root table", root)):
        if len(name.encode()) > _MAX_NAME:
            raise ValueError(
                f"the {what} name {name!r} of version {version!r} of {schema}.{base} is longer than PostgreSQL's "
                f"{_MAX_NAME} bytes, which would truncate it: use a shorter version or base table name"
            )
    try:
        json.dumps(version, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"version {version!r} is not JSON-encodable ({e}): it is stored in the partition's comment as JSON; "
            "pass a str (or an int)"
        ) from None
    table = _partition_table(base_table, part, column)
    section = {
        "base": base,
        "root": root,
        "column": column,
        "version": version_text,
        "version_json": version,
        "copy_forward": options["high_watermark"] == _HighWatermark.LATEST,
        "on_duplicate": "__CALL__" if callable(on_duplicate) else str(on_duplicate),
    }
    hooks = Versioned(section, on_duplicate if callable(on_duplicate) else None, on_partition_attached, version)
    metadata = table.metadata
    run(conn, metadata, _Rows(batches, table, column, version_text), versioned=hooks, **options)


def _options(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The options, ingest_versioned's and ingest()'s, with upstream's
    defaults and overrides (and its warnings), checked before any SQL."""
    names = set(_OWN) | {p.name for p in _INGEST_OPTIONS}
    for name in kwargs:
        if name not in names:
            raise TypeError(f"ingest_versioned() got an unexpected keyword argument {name!r}")
    options = {**_OWN, **{p.name: p.default for p in _INGEST_OPTIONS}, **_INGEST_DEFAULTS, **kwargs}
    check_options(options["upsert"], options["delete"], options["visibility"])
    on_duplicate = options["on_duplicate"]
    if not callable(on_duplicate) and on_duplicate not in _ON_DUPLICATE:
        raise ValueError(
            f"on_duplicate={on_duplicate!r} is not one of OnDuplicate.SKIP, OnDuplicate.ERROR, OnDuplicate.KEEP "
            "or a callable (conn, schema, new_partition, source_partition) -> bool"
        )
    delete = options["delete"]
    if options["high_watermark"] == _HighWatermark.LATEST:
        if delete != _Delete.OFF:
            logger.warning(
                """high_watermark=__LATEST__ requires delete=__OFF__ to preserve copied data.
                Overriding delete=%s to delete=__OFF__""",
                delete,
            )
            options["delete"] = _Delete.OFF
        if options["upsert"] == _Upsert.OFF:
            logger.warning(
                """high_watermark=__LATEST__ requires upsert=__IF_PRIMARY_KEY__ to handle overlaps.
                Overriding upsert=%s to upsert=__IF_PRIMARY_KEY__""",
                options["upsert"],
            )
            options["upsert"] = _Upsert.IF_PRIMARY_KEY
    if delete == _Delete.BEFORE_FIRST_BATCH:
        # Upstream's text names __BEFORE_EACH_BATCH__, which does not exist.
        logger.warning(
            "delete=__BEFORE_FIRST_BATCH__ not recommended for partitioned ingestion. Overriding to delete=__OFF__"
        )
        options["delete"] = _Delete.OFF
    logger.info(
        """Using values of
        partition_column = %s, root_table_name_suffix = %s, high_watermark = %s, delete = %s, upsert = %s""",
        options["partition_column"],
        options["root_table_name_suffix"],
        options["high_watermark"],
        options["delete"],
        options["upsert"],
    )
    return options


def _schema_and_name(table: Any) -> Tuple[str, str]:
    if not isinstance(table, sa.Table):
        raise TypeError(f"base_table must be a sqlalchemy Table, not {describe(table)}")
    if not (table.schema and table.name):
        # Upstream's text.
        raise ValueError(
            f"Missing schema or table name for table: {table}. Stopping. Schema: {table.schema} Table: {table.name}"
        )
    return str(table.schema), str(table.name)


def _partition_table(base: sa.Table, name: str, column: str) -> sa.Table:
    """The version's partition, as upstream defines it: the base columns
    but one named like the partition column, then that column (VARCHAR NOT
    NULL); the base primary key; the base indexes without the partition
    column, as upstream's not unique and only those with a name, their
    names' base table name replaced by the partition's."""
    columns = [
        sa.Column(
            c.name, c.type, nullable=c.nullable, primary_key=c.primary_key, unique=c.unique, comment=c.comment
        )
        for c in base.columns
        if c.name != column
    ]
    indexes = []
    for ix in base.indexes:
        names = [c.name for c in ix.columns if c.name != column]
        if names and ix.name:
            indexes.append(sa.Index(ix.name.replace(base.name, name), *names, **ix.dialect_kwargs))
    return sa.Table(
        name,
        sa.MetaData(),
        *columns,
        sa.Column(column, sa.VARCHAR, nullable=False),
        *indexes,
        schema=base.schema,
    )


class _Rows:
    """ingest_versioned's batches for ingest(): the user's, each row of
    each batch going into the partition with the version appended, as
    upstream's `row + (version,)` (whatever table the row names)."""

    def __init__(self, batches: Callable[[Any], Any], table: sa.Table, column: str, version: str) -> None:
        self._batches = batches
        self._table = table
        self._column = column
        self._version = version

    def __call__(self, high_watermark: Any) -> Any:
        result = self._batches(high_watermark)
        try:
            iter(result)
        except TypeError:
            return result  # ingest() says what is wrong with it
        return (self._batch(number, batch) for number, batch in enumerate(result, 1))

    def _batch(self, number: int, batch: Any) -> Any:
        if not is_batch(batch):
            return batch  # ingest() says what is wrong with it
        high_watermark, metadata, rows = batch
        try:
            it = iter(rows)
        except TypeError:
            return batch
        return high_watermark, metadata, self._rows(number, it)

    def _rows(self, number: int, items: Iterator[Any]) -> Iterator[Tuple[sa.Table, Any]]:
        table, suffix = self._table, (self._version,)
        for k, item in enumerate(items):
            try:
                _, row = item
            except (TypeError, ValueError):
                raise TypeError(
                    f"batch {number}, item {k} of its rows (counting from 0): {describe(item)} is not a "
                    "(table, row) pair"
                ) from None
            if isinstance(row, tuple):
                yield table, row + suffix
            elif is_arrow(type(row)):
                yield table, _with_column(to_arrow(row), self._column, self._version)
            else:
                raise TypeError(
                    f"batch {number}, item {k} of its rows (counting from 0): {describe(row)} is not a row for "
                    "ingest_versioned: expected a tuple of the base table's values (to which the version is "
                    "appended), or Arrow data (a pyarrow Table or RecordBatch, a pandas or polars DataFrame)"
                    + (
                        "; sql.SQL rows are for ingest() only"
                        if sql_module(type(row)) is not None
                        else ""
                    )
                )


def _with_column(data: Any, name: str, value: str) -> Any:
    """Arrow data with a last column `name` of `value` in every row."""
    if isinstance(data, pa.RecordBatchReader):
        schema = data.schema.append(pa.field(name, pa.string(), nullable=False))
        return pa.RecordBatchReader.from_batches(schema, (_with_column(b, name, value) for b in data))
    column = pa.repeat(pa.scalar(value, pa.string()), data.num_rows)
    return data.append_column(pa.field(name, pa.string(), nullable=False), column)
