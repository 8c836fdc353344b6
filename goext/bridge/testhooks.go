//go:build pbitest

package bridge

import (
	"fmt"
	"sync/atomic"
)

// Test hooks, built only with the pbitest tag: the release library has
// none (nohooks.go).

// testPanic is the op of the call at which the engine goroutine of a
// session panics, once, instead of making it; 0 when unarmed. Only the
// tests of panic recovery arm it (PanicAt, the C ABI's pbi_test_panic).
var testPanic atomic.Int32

// PanicAt makes the engine goroutine of a running or next session panic
// once, at its next call of that op; PanicAt(OpDone) disarms it. The
// tests check that such a panic fails the ingest cleanly.
func PanicAt(op Op) { testPanic.Store(int32(op)) }

func testPanicAt(op Op) {
	if t := testPanic.Load(); t != 0 && Op(t) == op && testPanic.CompareAndSwap(t, 0) {
		panic(fmt.Sprintf("test panic before request %d", op))
	}
}

// Pending is the op of the call the host is answering; OpDone when none.
// The C ABI's hook of a panic in pbi_step reads it.
func (s *Session) Pending() Op { return s.outstanding }
