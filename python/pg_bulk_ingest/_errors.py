"""Exceptions raised by the engine."""

from __future__ import annotations

import reprlib
from typing import Any, Dict

import sqlalchemy as sa


class IngestError(Exception):
    """The engine could not ingest a batch: a value that does not fit its
    column, a table that cannot be created, or a failure of the server.
    The message names the batch, table, column, row and value where known."""


# Built-in classes that upstream's conversion of a value raises (int(),
# json.dumps, iteration, bytes.hex), most specific first.
_UPSTREAM_CLASSES = (OverflowError, RecursionError, ValueError, TypeError, AttributeError, ArithmeticError)
_value_error_classes: Dict[type, type] = {}


def value_error(message: str, cause: BaseException) -> IngestError:
    """An IngestError for a value that could not be converted, which is
    also an instance of the built-in class upstream raised for it (int('x')
    raises ValueError), so that an existing `except ValueError:` still
    catches it."""
    base = next((c for c in type(cause).__mro__ if c in _UPSTREAM_CLASSES), None)
    if base is None:
        return IngestError(message)
    cls = _value_error_classes.get(base)
    if cls is None:
        cls = type(f"Ingest{base.__name__}", (IngestError, base), {"__module__": __name__})
        _value_error_classes[base] = cls
    return cls(message)  # type: ignore[no-any-return]


class _Repr(reprlib.Repr):
    """repr shortened, with a Table as its name rather than its columns."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 100

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, sa.Table):
            return f"<Table {x.schema}.{x.name}>"
        return super().repr1(x, level)


_REPR = _Repr()


def shorten(value: Any) -> str:
    """A shortened repr, safe for values nested too deep for repr()."""
    return _REPR.repr(value)


def describe(value: Any) -> str:
    """A value's type and a shortened repr, for messages about bad input."""
    return f"{type(value).__name__} {shorten(value)}"


class DuplicatePartitionError(Exception):
    """Raised by ingest_versioned(on_duplicate=OnDuplicate.ERROR) when the
    new version's rows hash as the version it would replace; the new
    partition is left unattached. Public as
    pg_bulk_ingest.versioned.DuplicatePartitionError, as upstream's."""


DuplicatePartitionError.__module__ = "pg_bulk_ingest.versioned"
