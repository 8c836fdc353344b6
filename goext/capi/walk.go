package main

// #include "capi.h"
import "C"

// pbi_walk_column writes one column of a list of row tuples (the value at
// position column of each) as the buffers of an Arrow array of the kind
// walk.c names: int64, float64, bool, utf8, utf8 of str() of values of
// type t, timestamp[us] of naive datetimes of type t, or date32 of dates
// of type t; None is null.
// It appends the array's buffers to the Python list out, as bytes: for
// utf8 its offsets, then its values (or data) and, when a value is None,
// its validity bitmap; and returns the nulls. rows, t and out are the
// objects' addresses (CPython's id()). It returns -1 when the host must
// convert the column itself: a value is not of the kind's exact type, or
// the interpreter's C API was not found. The host calls it without the
// GIL (cffi releases it), from a CPython that has one.
//
//export pbi_walk_column
func pbi_walk_column(rows C.uintptr_t, column, kind C.int64_t, t, out C.uintptr_t) C.int64_t {
	return C.pbi_walk_buffers(rows, column, kind, t, out)
}
