"""The Go engine's C ABI, loaded through cffi at first use: a process that
imports the package and then forks starts the Go runtime in the child."""

from __future__ import annotations

import os
import threading
from typing import Any

import cffi

CDEF = """
typedef struct {
    int op;
    const char *json;
    size_t json_len;
    const void *data;
    size_t data_len;
} pbi_request;

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

uint64_t pbi_start(char *doc, size_t n, char **errOut);
int pbi_step(uint64_t id, int status, char *doc, size_t n, void *arr, void *schema, pbi_request *out);
void pbi_close(uint64_t id);
void pbi_free(void *p);
"""

LIBRARY = os.path.join(os.path.dirname(__file__), "_lib", "libpgbulkingest.so")

ffi = cffi.FFI()
ffi.cdef(CDEF)

_lib: Any = None
_lock = threading.Lock()


def lib() -> Any:
    """The loaded library; loads it on first call."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                if not os.path.exists(LIBRARY):
                    raise ImportError(
                        f"the Go engine {LIBRARY} is missing: reinstall with "
                        "'pip install pg-bulk-ingest-go' (building from source needs Go 1.25+)"
                    )
                _lib = ffi.dlopen(LIBRARY)
    return _lib
