//go:build pbitest

package main

import "C"

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/bridge"
)

// Test hooks, built only with the pbitest tag (build.py's test library):
// the release library exports the pbi_ API alone (nohooks.go).

// Where pbi_test_panic makes a panic happen.
const (
	panicHere   = 0 // in the pbi_test_panic call itself
	panicEngine = 1 // in the engine's goroutine, instead of sending its next request of the op
	panicStep   = 2 // in the pbi_step call answering the next request of the op, after its record's import
)

// faultSink keeps the faulting read of pbi_test_panic from being optimised away.
var faultSink byte

// stepPanic is the op whose answering pbi_step panics once; 0 when unarmed.
var stepPanic atomic.Int32

// testPanicInStep panics if pbi_test_panic armed stepPanic for the op of
// the call that s's host is answering.
func testPanicInStep(s *bridge.Session) {
	op := s.Pending()
	if t := stepPanic.Load(); t != 0 && bridge.Op(t) == op && stepPanic.CompareAndSwap(t, 0) {
		panic(fmt.Sprintf("test panic answering request %d", op))
	}
}

// pbi_test_panic is for the package's tests only: it makes a Go panic
// happen where (panicHere, panicEngine, panicStep) says, once, at the next
// request of op (a bridge.Op; 0 disarms where). It returns the recovered
// panic's message for panicHere, for pbi_free, and NULL otherwise. Every
// such panic must end as an error of the call or of the ingest, never
// bring the host down.
//
//export pbi_test_panic
func pbi_test_panic(where, op C.int) (msg *C.char) {
	defer func() {
		if p := recover(); p != nil {
			msg = cError(panicError(p).Error())
		}
	}()
	switch where {
	case panicHere:
		// A read of memory that is mapped but not readable, as of a
		// foreign buffer's bad offset: a fault, which the runtime turns
		// into a panic only when asked to (debug.SetPanicOnFault).
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		page, err := syscall.Mmap(-1, 0, syscall.Getpagesize(), syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			panic(err)
		}
		defer syscall.Munmap(page) //nolint:errcheck // a test's page
		faultSink = page[0]
	case panicEngine:
		bridge.PanicAt(bridge.Op(op))
	case panicStep:
		stepPanic.Store(int32(op))
	}
	return nil
}
