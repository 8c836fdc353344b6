//go:build pbitest

package main

// #include <stdlib.h>
// #include "capi.h"
import "C"

import (
	"encoding/json"
	"errors"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/cdata"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/bridge"
)

// Go-typed calls of the exported functions, as a host makes them, for the
// tests (a test file cannot use cgo), in the test build only.

func startGo(doc []byte) (uint64, error) {
	cdoc := C.CBytes(doc)
	defer C.free(cdoc)
	var errOut *C.char
	id := pbi_start((*C.char)(cdoc), C.size_t(len(doc)), &errOut)
	if id == 0 {
		return 0, errors.New(takeCString(errOut))
	}
	return uint64(id), nil
}

// stepGo answers with status, doc and rec (exported through the Arrow C
// data interface as a host exports it; nil for none) and returns the
// next request.
func stepGo(id uint64, status int, doc []byte, rec arrow.Record) (op bridge.Op, js []byte, rc int) {
	var cdoc unsafe.Pointer
	if len(doc) > 0 {
		cdoc = C.CBytes(doc)
		defer C.free(cdoc)
	}
	var arr, schema unsafe.Pointer
	if rec != nil {
		arr = C.calloc(1, C.size_t(unsafe.Sizeof(cdata.CArrowArray{})))
		schema = C.calloc(1, C.size_t(unsafe.Sizeof(cdata.CArrowSchema{})))
		defer C.free(arr)
		defer C.free(schema)
		cdata.ExportArrowRecordBatch(rec, (*cdata.CArrowArray)(arr), (*cdata.CArrowSchema)(schema))
	}
	out := (*C.pbi_request)(C.calloc(1, C.size_t(unsafe.Sizeof(C.pbi_request{}))))
	defer C.free(unsafe.Pointer(out))
	rc = int(pbi_step(C.uint64_t(id), C.int(status), (*C.char)(cdoc), C.size_t(len(doc)), arr, schema, out))
	if out.json_len > 0 {
		js = C.GoBytes(unsafe.Pointer(out.json), C.int(out.json_len))
	}
	return bridge.Op(out.op), js, rc
}

func statsGo() (Stats, error) {
	p := pbi_stats()
	if p == nil {
		return Stats{}, errors.New("pbi_stats failed")
	}
	var s Stats
	err := json.Unmarshal([]byte(takeCString(p)), &s)
	return s, err
}

func testPanicGo(where, op int) string {
	return takeCString(pbi_test_panic(C.int(where), C.int(op)))
}

// takeCString is the string of C memory p, which it frees; "" for NULL.
func takeCString(p *C.char) string {
	if p == nil {
		return ""
	}
	defer pbi_free(unsafe.Pointer(p))
	return C.GoString(p)
}

func closeGo(id uint64) { pbi_close(C.uint64_t(id)) }
