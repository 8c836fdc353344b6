"""Keeps pyarrow from importing pandas for rows that cannot hold any.

pyarrow's first conversion of Python values (pa.array) asks its pandas
shim whether the values are pandas objects, and the shim imports pandas to
answer, when it is installed: 33-43 MiB and 0.2 s, for an ingest of
tuple rows, which while pandas is not imported cannot hold a pandas object.
spare() has the shim make that one attempt with pandas out of its reach, so
that it takes pandas for absent; the first import of pandas afterwards,
from any thread, sets the shim back to yet to try, so that pyarrow knows
pandas objects from then on as if nothing had happened. When pandas is
imported already, nothing is done."""

from __future__ import annotations

import sys
import threading
from typing import Any, Optional

import pyarrow as pa

_lock = threading.Lock()
# The finder that keeps pandas from the shim, once spare() has run and
# until pandas is imported.
_finder: Optional[_Finder] = None
_spared = False  # spare() has run, in this process or its parent


class _Finder:
    """A meta path finder: refuses pandas to the thread that spares it, and
    resets the shim when pandas is imported anywhere else."""

    def __init__(self) -> None:
        self.refusing: Optional[int] = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name != "pandas":
            return None
        if threading.get_ident() == self.refusing:
            raise ModuleNotFoundError("pg_bulk_ingest keeps pandas from pyarrow's shim", name=name)
        _disarm()
        return None  # the import carries on as usual


def _disarm() -> None:
    """Removes the finder and resets the shim, once pandas is imported."""
    global _finder
    with _lock:
        if _finder is None:
            return
        if _finder in sys.meta_path:  # unless someone took it out
            sys.meta_path.remove(_finder)
        _finder = None
        _reset()


def _reset() -> None:
    pa.lib._pandas_api.__init__()  # yet to try, as at pyarrow's import


def spare() -> None:
    """Makes pyarrow's shim take pandas for absent while it is not imported."""
    global _finder, _spared
    if _spared or "pandas" in sys.modules or not hasattr(pa.lib, "_pandas_api"):
        return
    with _lock:
        if _spared or "pandas" in sys.modules:
            return
        _spared = True
        finder = _finder = _Finder()
        sys.meta_path.insert(0, finder)
    try:
        pa.array([], type=pa.int64())  # the shim's attempt, if it has not made it yet
    finally:
        finder.refusing = None
        with _lock:
            if _finder is None:
                # pandas was imported from another thread meanwhile, and the
                # shim may have taken it for absent after being reset.
                _reset()
