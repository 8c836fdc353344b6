package bridge

import (
	"runtime"
	"testing"
	"time"
)

// TestCloseMidIngest closes a session while the engine waits for the
// host: the engine's goroutine must end, though its rollback and log
// calls do not use the cancelled context.
func TestCloseMidIngest(t *testing.T) {
	doc := []byte(`{"tables": [{"schema": "s", "name": "t", "columns": [{"name": "id", "type": "INTEGER"}]}],
		"options": {"upsert": "__IF_PRIMARY_KEY__", "delete": "__OFF__", "visibility": "__AFTER_EACH_BATCH__", "max_rows_per_table_buffer": 10}}`)
	before := runtime.NumGoroutine()
	s, err := Start(doc)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Step(Answer{})
	if r.Op != OpBegin {
		t.Fatalf("first request %d, want OpBegin", r.Op)
	}
	for r.Op != OpExec && r.Op != OpQuery { // past the transaction's start, where a rollback is due
		r = s.Step(Answer{})
		if r.Op == OpDone {
			t.Fatalf("ended early: %s", r.JSON)
		}
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("the engine's goroutine still runs after Close:\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
