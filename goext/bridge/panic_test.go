//go:build pbitest

package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var testDoc = []byte(`{"tables": [{"schema": "s", "name": "t", "columns": [{"name": "id", "type": "INTEGER"}]}],
	"options": {"upsert": "__IF_PRIMARY_KEY__", "delete": "__OFF__", "visibility": "__AFTER_EACH_BATCH__"}}`)

func newTestSession() (*Session, *host) {
	s := &Session{calls: make(chan Call), answers: make(chan Answer), closed: make(chan struct{})}
	return s, &host{s: s}
}

// doneError is the error of an OpDone request.
func doneError(t *testing.T, r Call) string {
	t.Helper()
	if r.Op != OpDone {
		t.Fatalf("request %d %s, want OpDone", r.Op, r.JSON)
	}
	var doc struct {
		Error string `json:"error"`
		Host  int    `json:"host"`
	}
	if err := json.Unmarshal(r.JSON, &doc); err != nil {
		t.Fatalf("OpDone JSON %q: %v", r.JSON, err)
	}
	if doc.Host != 0 {
		t.Fatalf("OpDone names host failure %d for a panic", doc.Host)
	}
	return doc.Error
}

// TestEnginePanic makes the engine's goroutine panic: the session rolls
// the host's transaction back and ends with the panic as its error.
func TestEnginePanic(t *testing.T) {
	PanicAt(OpBegin)
	defer PanicAt(OpDone)
	s, err := Start(testDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r := s.Step(Answer{}); r.Op != OpRollback {
		t.Fatalf("request %d %s, want OpRollback", r.Op, r.JSON)
	}
	msg := doneError(t, s.Step(Answer{}))
	if !strings.Contains(msg, "internal error (Go panic): test panic before request 6") {
		t.Fatalf("error %q does not name the panic", msg)
	}
}

// TestPanicUnwindsHost: a panic inside a COPY within a force-execute
// section ends both, then rolls back, as a failed batch does.
func TestPanicUnwindsHost(t *testing.T) {
	s, h := newTestSession()
	ctx := context.Background()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				h.unwind(ctx, errors.New("boom"))
			}
		}()
		h.Force(ctx, func(ctx context.Context) error { //nolint:errcheck // it panics
			return h.CopyFrom(ctx, "COPY", panickingReader{})
		})
	}()
	want := []struct {
		op   Op
		json string
	}{
		{OpForceBegin, ""}, {OpCopyBegin, `{"sql":"COPY"}`}, {OpCopyEnd, `{"error":"boom"}`},
		{OpForceEnd, `{"error":"boom"}`}, {OpRollback, ""},
	}
	for i, w := range want {
		var r Call
		if i == 0 {
			r = <-s.calls
		} else {
			s.answers <- Answer{}
			r = <-s.calls
		}
		if r.Op != w.op || string(r.JSON) != w.json {
			t.Fatalf("request %d: %d %s, want %d %s", i, r.Op, r.JSON, w.op, w.json)
		}
	}
	s.answers <- Answer{}
}

type panickingReader struct{}

func (panickingReader) Read([]byte) (int, error) { panic("reader") }

// TestAbortDuringCopy: a failure on the host's side of the bridge (not of
// the host's COPY) makes the engine abort the host's COPY.
func TestAbortDuringCopy(t *testing.T) {
	s, h := newTestSession()
	done := make(chan error, 1)
	go func() { done <- h.CopyFrom(context.Background(), "COPY", bytes.NewReader([]byte("1\n"))) }()
	if r := s.Step(Answer{}); r.Op != OpCopyBegin {
		t.Fatalf("request %d, want OpCopyBegin", r.Op)
	}
	if r := s.Step(Answer{}); r.Op != OpCopyData {
		t.Fatalf("request %d, want OpCopyData", r.Op)
	}
	if p := s.Pending(); p != OpCopyData {
		t.Fatalf("Pending() = %d, want OpCopyData", p)
	}
	bridgeErr := errors.New("internal error (Go panic): x")
	if r := s.Abort(bridgeErr); r.Op != OpCopyEnd || string(r.JSON) != `{"error":"internal error (Go panic): x"}` {
		t.Fatalf("request %d %s, want OpCopyEnd with the error", r.Op, r.JSON)
	}
	s.answers <- Answer{}
	if err := <-done; !errors.Is(err, bridgeErr) {
		t.Fatalf("CopyFrom returned %v, want %v", err, bridgeErr)
	}
}

// TestHostErrorEndsCopy: when the host reports that its COPY failed, it
// has ended it, and the engine sends no COPY_END.
func TestHostErrorEndsCopy(t *testing.T) {
	s, h := newTestSession()
	done := make(chan error, 1)
	go func() { done <- h.CopyFrom(context.Background(), "COPY", bytes.NewReader([]byte("1\n"))) }()
	s.Step(Answer{})
	if r := s.Step(Answer{}); r.Op != OpCopyData {
		t.Fatalf("request %d, want OpCopyData", r.Op)
	}
	s.answers <- Answer{Err: &HostError{Message: "server said no"}}
	select {
	case err := <-done:
		if err == nil || err.Error() != "server said no" {
			t.Fatalf("CopyFrom returned %v", err)
		}
	case r := <-s.calls:
		t.Fatalf("unexpected request %d %s", r.Op, r.JSON)
	case <-time.After(5 * time.Second):
		t.Fatal("CopyFrom did not return")
	}
}

// TestAbortWithoutRequest ends a session that waits for no answer.
func TestAbortWithoutRequest(t *testing.T) {
	s, _ := newTestSession()
	if msg := doneError(t, s.Abort(errors.New("bad"))); msg != "bad" {
		t.Fatalf("error %q, want bad", msg)
	}
	if r := s.Step(Answer{}); r.Op != OpDone {
		t.Fatalf("a step after the end: request %d", r.Op)
	}
}
