// Command capi is the C ABI of the engine, built with -buildmode=c-shared.
// A session runs one ingest; the host steps it, answering each request.
// Errors return as values and every panic is recovered here.
package main

// #include <stdlib.h>
// #include <string.h>
// #include "capi.h"
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
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

// pbi_start starts a session for the job's JSON in doc (read during the
// call; the host keeps it). It returns the session's id, or 0 with *errOut
// set to a message that the host frees with pbi_free.
//
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

// panicError is the error a recovered panic becomes.
func panicError(p any) error {
	if f, ok := p.(interface{ Addr() uintptr }); ok { // a fault (debug.SetPanicOnFault)
		return fmt.Errorf("internal error (Go panic): %v (fault address %#x)", p, f.Addr())
	}
	return fmt.Errorf("internal error (Go panic): %v", p)
}

// orphan holds the request pbi_step returns when it has no session to
// keep it in (an unknown id).
var orphan struct {
	sync.Mutex
	json cbuf
}

// pbi_step answers the session's outstanding request (status, and doc
// read during the call) and fills *out with the next one. For a chunk,
// Go takes over the contents of arr and schema: it releases the schema
// at once and the array when the engine is done with it, or on any
// failure; the two structs' own memory stays the host's. *out's JSON and
// data are Go's C memory, valid until the session's next pbi_step or
// pbi_close. It returns 0, or -1 after a recovered panic, *out then being
// the DONE that reports it.
//
//export pbi_step
func pbi_step(id C.uint64_t, status C.int, doc *C.char, n C.size_t, arr, schema unsafe.Pointer, out *C.pbi_request) (rc C.int) {
	var (
		h        *handle
		rec      arrow.Record
		answered bool // the answer went to the session
	)
	// Importing reads the host's Arrow structures: a fault there is a panic.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err := panicError(p)
			rc = -1
			if rec != nil && !answered {
				rec.Release()
			}
			r := bridge.Call{Op: bridge.OpDone, JSON: bridge.DoneJSON(err)}
			if h != nil && !answered {
				// The engine gets the panic as the failure of its request
				// and unwinds the batch through the host, as after any.
				r = abort(h.s, err)
			}
			putRequest(out, h, r)
		}
	}()
	var err error
	if h, err = lookup(uint64(id)); err != nil {
		panic(err)
	}
	var a bridge.Answer
	switch status {
	case C.PBI_OK:
		a.JSON = C.GoBytes(unsafe.Pointer(doc), C.int(n))
		if arr != nil {
			C.pbi_track((*C.struct_ArrowArray)(arr))
			rec, err = cdata.ImportCRecordBatch((*cdata.CArrowArray)(arr), (*cdata.CArrowSchema)(schema))
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
	testPanicInStep(h.s)
	answered = true
	putRequest(out, h, h.s.Step(a))
	return 0
}

// abort fails the session's outstanding call with err; the call
// that follows, or the end of the session if abort panics too.
func abort(s *bridge.Session, err error) (r bridge.Call) {
	defer func() {
		if p := recover(); p != nil {
			r = bridge.Call{Op: bridge.OpDone, JSON: bridge.DoneJSON(err)}
		}
	}()
	return s.Abort(err)
}

// putRequest copies r into out, in C memory kept by h (by orphan when
// h is nil) until the next step.
func putRequest(out *C.pbi_request, h *handle, r bridge.Call) {
	out.op = C.int(r.Op)
	out.json, out.json_len, out.data, out.data_len = nil, 0, nil, 0
	if h == nil {
		orphan.Lock()
		defer orphan.Unlock()
		p, l := orphan.json.set(r.JSON)
		out.json, out.json_len = (*C.char)(p), l
		return
	}
	p, l := h.json.set(r.JSON)
	out.json, out.json_len = (*C.char)(p), l
	d, dl := h.data.set(r.Data)
	out.data, out.data_len = d, dl
}

// pbi_close ends the session, stopping its engine if it still runs, and
// frees its request memory; the host calls it once per id.
//
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

// pbi_free frees a string that pbi_start or pbi_stats returned.
//
//export pbi_free
func pbi_free(p unsafe.Pointer) { C.free(p) }

// Stats is what pbi_stats reports.
type Stats struct {
	HeapAlloc   uint64 `json:"heap_alloc"`   // bytes of live Go heap objects, after a collection
	HeapObjects uint64 `json:"heap_objects"` // live Go heap objects, after a collection
	HeapSys     uint64 `json:"heap_sys"`     // bytes of heap memory obtained from the OS
	Sys         uint64 `json:"sys"`          // bytes the Go runtime obtained from the OS in all
	Goroutines  int    `json:"goroutines"`
	Sessions    int    `json:"sessions"`     // started and not yet closed
	ArrowArrays int64  `json:"arrow_arrays"` // record batches imported from the host and not yet released
}

func stats() Stats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	mu.Lock()
	sessions := len(handles)
	mu.Unlock()
	return Stats{
		HeapAlloc: m.HeapAlloc, HeapObjects: m.HeapObjects, HeapSys: m.HeapSys, Sys: m.Sys,
		Goroutines: runtime.NumGoroutine(), Sessions: sessions, ArrowArrays: int64(C.pbi_live()),
	}
}

// pbi_stats returns the Go side's memory and bookkeeping as JSON (Stats),
// after a garbage collection, for pbi_free; NULL if it fails. For
// diagnostics and the soak tests: it stops the world for the collection.
//
//export pbi_stats
func pbi_stats() (doc *C.char) {
	defer func() {
		if p := recover(); p != nil {
			doc = nil
		}
	}()
	b, err := json.Marshal(stats())
	if err != nil {
		return nil
	}
	return C.CString(string(b))
}

func main() {}
