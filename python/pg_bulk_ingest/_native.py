"""The Go engine's C ABI, loaded through cffi at first use.

Forking: importing the package does not start Go, so a process that imports
it and then forks (multiprocessing, Celery, Airflow) starts the Go runtime
in the child at its first ingest. A process that has loaded the engine and
then forks hands its children a Go runtime without its threads: calling it
there would hang. So a child that finds the library loaded by its parent
(its process id differs from the loader's) loads a private copy of the
library, a Go runtime of its own, and never calls the parent's. That takes
Linux (each copy keeps its own thread-local state); elsewhere the child
gets a RuntimeError that says to use the "spawn" or "forkserver" start
method, or to ingest only in the children.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from typing import Any, Dict, List, Optional

import cffi

from ._protocol import CDEF


# The package's tests of Go panics set it, before the library's first use,
# to the library built with the test hooks (`python build.py --test-hooks`).
LIBRARY = os.path.join(os.path.dirname(__file__), "_lib", "libpgbulkingest.so")

ffi = cffi.FFI()
ffi.cdef(CDEF)

_lib: Any = None
_pid = 0  # the process that loaded _lib
# Libraries loaded by a parent process before it forked this one: their Go
# runtime has no threads here. Kept referenced (a Go library must never be
# unloaded), never called.
_inherited: List[Any] = []
_lock = threading.Lock()


def _reset_lock() -> None:
    # Another thread of the parent may have held the lock when it forked.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock)


def lib() -> Any:
    """The loaded library of this process; loads it on first call."""
    loaded = _lib
    if loaded is not None and _pid == os.getpid():
        return loaded
    with _lock:
        if _lib is None or _pid != os.getpid():
            _load()
    return _lib


def _load() -> None:
    global _lib, _pid
    if not os.path.exists(LIBRARY):
        raise ImportError(
            f"the Go engine {LIBRARY} is missing: reinstall with "
            "'pip install pg-bulk-ingest-go' (building from source needs Go 1.25+)"
        )
    if _lib is not None:  # the parent's
        _inherited.append(_lib)
        _lib = None
    # Never the parent's library again, had a copy failed to load before.
    _lib = _load_private_copy() if _inherited else ffi.dlopen(LIBRARY)
    _pid = os.getpid()


def _load_private_copy() -> Any:
    """A fresh copy of the library, for a child forked after its parent had
    loaded it: the dynamic loader maps a file it already has only once, so
    the copy is a new file (an anonymous memory file where there is one)."""
    if not sys.platform.startswith("linux"):
        raise RuntimeError(
            "pg_bulk_ingest: this process was forked from one that had already used pg_bulk_ingest, whose Go "
            "engine cannot run in a forked child on this platform. Use multiprocessing's 'spawn' or "
            "'forkserver' start method (multiprocessing.set_start_method('spawn')), or run ingests only in "
            "the child processes."
        )
    failures = []
    for make in (_memfd_copy, _temp_file_copy):
        try:
            loaded = make()
        except OSError as e:
            failures.append(f"{make.__doc__}: {e}")
            continue
        if _is_inherited(loaded):  # the loader handed back a library it had
            failures.append(f"{make.__doc__}: the dynamic loader returned the parent's library")
            continue
        return loaded
    raise RuntimeError(
        "pg_bulk_ingest: this process was forked from one that had already used pg_bulk_ingest, and loading a "
        "fresh copy of its Go engine failed ("
        + "; ".join(failures)
        + "). Use multiprocessing's 'spawn' or 'forkserver' start method, or run ingests only in the child "
        "processes."
    )


def _memfd_copy() -> Any:
    """an anonymous memory file"""
    if not hasattr(os, "memfd_create"):
        raise OSError("os.memfd_create is not available")
    fd = os.memfd_create("libpgbulkingest.so", getattr(os, "MFD_CLOEXEC", 1))
    try:
        with open(LIBRARY, "rb") as src, os.fdopen(os.dup(fd), "wb") as dst:
            shutil.copyfileobj(src, dst)
        # By the process id, which no ancestor alive shares, so that the
        # loader does not take the path for one it has loaded before.
        return ffi.dlopen(f"/proc/{os.getpid()}/fd/{fd}")
    finally:
        os.close(fd)  # the mapping keeps the file


def _temp_file_copy() -> Any:
    """a temporary file"""
    fd, path = tempfile.mkstemp(prefix="libpgbulkingest-", suffix=".so")
    try:
        with open(LIBRARY, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return ffi.dlopen(path)
    finally:
        os.unlink(path)  # the mapping keeps the file


def _is_inherited(candidate: Any) -> bool:
    address = int(ffi.cast("uintptr_t", candidate.pbi_start))
    return any(address == int(ffi.cast("uintptr_t", old.pbi_start)) for old in _inherited)


def _take_string(p: Any) -> Optional[str]:
    """The C string p, freed; None for NULL."""
    if p == ffi.NULL:
        return None
    try:
        return ffi.string(p).decode()  # type: ignore[no-any-return]
    finally:
        lib().pbi_free(p)


def stats() -> Dict[str, Any]:
    """The Go side's memory and bookkeeping, after a garbage collection:
    heap_alloc, heap_objects (live Go heap bytes and objects), heap_sys, sys
    (bytes obtained from the OS), goroutines, sessions (not yet closed) and
    arrow_arrays (record batches handed to Go and not yet released). For
    diagnostics and tests: the collection stops the Go world."""
    doc = _take_string(lib().pbi_stats())
    if doc is None:
        raise RuntimeError("pbi_stats failed")
    return json.loads(doc)  # type: ignore[no-any-return]


def _test_panic(where: int, op: int = 0) -> Optional[str]:
    """For the package's tests only, with the test library loaded (LIBRARY):
    a Go panic in the call itself (_protocol.PANIC_HERE; returns its
    message), or once in the engine's goroutine instead of its next request
    of op (PANIC_ENGINE), or in the pbi_step call that answers the next
    request of op (PANIC_STEP); op 0 disarms."""
    return _take_string(lib().pbi_test_panic(where, op))
