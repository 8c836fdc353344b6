package main

// #cgo linux LDFLAGS: -ldl
// #include "capi.h"
import "C"

// pbi_json_dumps writes json.dumps's text of each value of a Python tuple
// as an Arrow utf8 array, None as null: it appends the array's buffers to
// a Python list, as bytes (its offsets, its data and, when a value is
// None, its validity bitmap), and returns the nulls. values and out are
// the objects' addresses (CPython's id()), dumps is json.dumps, which
// writes what dumps.c does not. It returns -1 when the host must call
// json.dumps itself: the interpreter's C API was not found, or json.dumps
// failed for a value (its error is then the host's to raise). The host
// calls it without the GIL (cffi releases it), from a CPython that has
// one.
//
//export pbi_json_dumps
func pbi_json_dumps(values, dumps, out C.uintptr_t) C.int64_t {
	return C.pbi_dumps_column(values, dumps, out)
}
