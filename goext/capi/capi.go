// Command capi is the C ABI of the engine, built with -buildmode=c-shared.
// A session runs one ingest; the host steps it, answering each request.
// Errors return as values and every panic is recovered here.
package main

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	int op;
	const char *json;
	size_t json_len;
	const void *data;
	size_t data_len;
} pbi_request;

// Answer statuses of pbi_step.
enum { PBI_OK = 0, PBI_HOST_ERROR = 1, PBI_NO_ANSWER = 2 };
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow/cdata"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/bridge"
)

// cbuf is C memory that a request is copied into for the host to read;
// it stays valid until the next step of the session.
type cbuf struct {
	p   unsafe.Pointer
	cap int
}

func (b *cbuf) set(src []byte) (unsafe.Pointer, C.size_t) {
	if len(src) == 0 {
		return nil, 0
	}
	if len(src) > b.cap {
		p := C.realloc(b.p, C.size_t(len(src)))
		if p == nil {
			panic("out of memory")
		}
		b.p, b.cap = p, len(src)
	}
	C.memcpy(b.p, unsafe.Pointer(&src[0]), C.size_t(len(src)))
	return b.p, C.size_t(len(src))
}

func (b *cbuf) free() {
	C.free(b.p)
	b.p, b.cap = nil, 0
}

type handle struct {
	s          *bridge.Session
	json, data cbuf
}

var (
	mu      sync.Mutex
	handles = map[uint64]*handle{}
	nextID  uint64
)

func lookup(id uint64) (*handle, error) {
	mu.Lock()
	defer mu.Unlock()
	h, ok := handles[uint64(id)]
	if !ok {
		return nil, fmt.Errorf("no session %d", id)
	}
	return h, nil
}

// cError returns msg in C memory, for pbi_free.
func cError(msg string) *C.char { return C.CString(msg) }

//export pbi_start
func pbi_start(doc *C.char, n C.size_t, errOut **C.char) (id C.uint64_t) {
	defer func() {
		if p := recover(); p != nil {
			*errOut = cError(fmt.Sprintf("internal error (Go panic): %v", p))
			id = 0
		}
	}()
	s, err := bridge.Start(C.GoBytes(unsafe.Pointer(doc), C.int(n)))
	if err != nil {
		*errOut = cError(err.Error())
		return 0
	}
	mu.Lock()
	defer mu.Unlock()
	nextID++
	handles[nextID] = &handle{s: s}
	return C.uint64_t(nextID)
}

//export pbi_step
func pbi_step(id C.uint64_t, status C.int, doc *C.char, n C.size_t, arr, schema unsafe.Pointer, out *C.pbi_request) (rc C.int) {
	defer func() {
		if p := recover(); p != nil {
			msg := []byte(fmt.Sprintf("internal error (Go panic): %v", p))
			out.op = C.int(bridge.OpDone)
			out.json, out.json_len = nil, 0
			if h, err := lookup(uint64(id)); err == nil {
				ptr, l := h.json.set(msg)
				out.json, out.json_len = (*C.char)(ptr), l
			}
			rc = -1
		}
	}()
	h, err := lookup(uint64(id))
	if err != nil {
		panic(err)
	}
	var a bridge.Answer
	switch status {
	case C.PBI_OK:
		a.JSON = C.GoBytes(unsafe.Pointer(doc), C.int(n))
		if arr != nil {
			rec, err := cdata.ImportCRecordBatch((*cdata.CArrowArray)(arr), (*cdata.CArrowSchema)(schema))
			if err != nil {
				cdata.ReleaseCArrowArray((*cdata.CArrowArray)(arr))
				a.Err = fmt.Errorf("importing Arrow record batch: %w", err)
			}
			a.Record = rec
		}
	case C.PBI_HOST_ERROR:
		a.Err = bridge.ParseHostError(C.GoBytes(unsafe.Pointer(doc), C.int(n)))
	case C.PBI_NO_ANSWER:
	default:
		a.Err = errors.New("unknown answer status")
	}
	r := h.s.Step(a)
	out.op = C.int(r.Op)
	p, l := h.json.set(r.JSON)
	out.json, out.json_len = (*C.char)(p), l
	d, dl := h.data.set(r.Data)
	out.data, out.data_len = d, dl
	return 0
}

//export pbi_close
func pbi_close(id C.uint64_t) {
	defer func() { recover() }() //nolint:errcheck // closing must never fail the host
	mu.Lock()
	h, ok := handles[uint64(id)]
	delete(handles, uint64(id))
	mu.Unlock()
	if ok {
		h.s.Close()
		h.json.free()
		h.data.free()
	}
}

//export pbi_free
func pbi_free(p unsafe.Pointer) { C.free(p) }

func main() {}
