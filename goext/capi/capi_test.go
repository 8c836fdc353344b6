//go:build pbitest

package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/bridge"
)

var testDoc = []byte(`{"tables": [{"schema": "s", "name": "t", "columns": [{"name": "id", "type": "INTEGER"}]}],
	"options": {"upsert": "__IF_PRIMARY_KEY__", "delete": "__OFF__", "visibility": "__AFTER_EACH_BATCH__"}}`)

const (
	statusOK       = 0
	statusNoAnswer = 2
)

func doneError(t *testing.T, op bridge.Op, js []byte) string {
	t.Helper()
	if op != bridge.OpDone {
		t.Fatalf("request %d %s, want OpDone", op, js)
	}
	var doc struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("OpDone JSON %q: %v", js, err)
	}
	return doc.Error
}

func testRecord(alloc memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(alloc, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil))
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2, 3}, nil)
	return b.NewRecord()
}

// TestPanicInExportedCall: a fault (a read of unreadable memory) in an
// exported function is recovered and returned as an error.
func TestPanicInExportedCall(t *testing.T) {
	msg := testPanicGo(panicHere, 0)
	if !strings.Contains(msg, "internal error (Go panic)") || !strings.Contains(msg, "invalid memory address") || !strings.Contains(msg, "fault address 0x") {
		t.Fatalf("message %q", msg)
	}
}

// TestPanicInStep: a panic in pbi_step after it imported the answer's
// record releases the record and fails the engine's request, and the
// session ends with the panic as its error.
func TestPanicInStep(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	testPanicGo(panicStep, int(bridge.OpBegin))
	id, err := startGo(testDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer closeGo(id)
	if op, js, _ := stepGo(id, statusNoAnswer, nil, nil); op != bridge.OpBegin {
		t.Fatalf("request %d %s, want OpBegin", op, js)
	}
	rec := testRecord(alloc)
	op, js, rc := stepGo(id, statusOK, []byte(`null`), rec)
	rec.Release()
	if rc != -1 {
		t.Fatalf("rc %d, want -1", rc)
	}
	if msg := doneError(t, op, js); !strings.Contains(msg, "beginning transaction: internal error (Go panic): test panic answering request 6") {
		t.Fatalf("error %q", msg)
	}
	if s, err := statsGo(); err != nil || s.ArrowArrays != 0 {
		t.Fatalf("stats %+v, %v: the record was not released", s, err)
	}
}

// TestEnginePanicThroughCABI: a panic in the engine's goroutine rolls the
// host back and ends the session with its error.
func TestEnginePanicThroughCABI(t *testing.T) {
	testPanicGo(panicEngine, int(bridge.OpBegin))
	id, err := startGo(testDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer closeGo(id)
	if op, js, _ := stepGo(id, statusNoAnswer, nil, nil); op != bridge.OpRollback {
		t.Fatalf("request %d %s, want OpRollback", op, js)
	}
	op, js, _ := stepGo(id, statusOK, nil, nil)
	if msg := doneError(t, op, js); !strings.Contains(msg, "internal error (Go panic): test panic before request 6") {
		t.Fatalf("error %q", msg)
	}
}

// TestUnknownSession: stepping a session that does not exist is an error,
// as JSON like any other end.
func TestUnknownSession(t *testing.T) {
	op, js, rc := stepGo(1<<60, statusNoAnswer, nil, nil)
	if msg := doneError(t, op, js); rc != -1 || !strings.Contains(msg, "no session") {
		t.Fatalf("rc %d, error %q", rc, msg)
	}
}

// TestStats counts sessions and goroutines back to where they were once
// a session is closed.
func TestStats(t *testing.T) {
	before, err := statsGo()
	if err != nil {
		t.Fatal(err)
	}
	id, err := startGo(testDoc)
	if err != nil {
		t.Fatal(err)
	}
	stepGo(id, statusNoAnswer, nil, nil)
	during, _ := statsGo()
	if during.Sessions != before.Sessions+1 || during.Goroutines <= before.Goroutines {
		t.Fatalf("with a session open: %+v, before: %+v", during, before)
	}
	closeGo(id)
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, _ := statsGo()
		if after.Sessions == before.Sessions && after.Goroutines == before.Goroutines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing: %+v, before: %+v", after, before)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if before.HeapAlloc == 0 || before.HeapObjects == 0 || before.Sys == 0 {
		t.Fatalf("empty memory stats %+v", before)
	}
}
