"""Exceptions raised by the engine."""

from __future__ import annotations

import reprlib
from typing import Any

import sqlalchemy as sa


class IngestError(Exception):
    """The engine could not ingest a batch: a value that does not fit its
    column, a table that cannot be created, or a failure of the server.
    The message names the batch, table, column, row and value where known."""


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


def describe(value: Any) -> str:
    """A value's type and a shortened repr, for messages about bad input."""
    return f"{type(value).__name__} {_REPR.repr(value)}"
