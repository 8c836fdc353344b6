package bridge

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
)

// TestCloseMidIngest closes a session while the engine waits for the
// host: the engine's goroutine must end, though its rollback and log
// calls do not use the cancelled context.
func TestCloseMidIngest(t *testing.T) {
	doc := []byte(`{"tables": [{"schema": "s", "name": "t", "columns": [{"name": "id", "type": "INTEGER"}]}],
		"options": {"upsert": "__IF_PRIMARY_KEY__", "delete": "__OFF__", "visibility": "__AFTER_EACH_BATCH__"}}`)
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

// TestStartRefusesAnInvalidJob: the host learns of a job that cannot be
// ingested when it starts the session (Python raises it as ValueError),
// and no engine runs.
func TestStartRefusesAnInvalidJob(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Start([]byte(`{"tables": [{"schema": "s", "name": "t", "columns": [{"name": "id", "type": "INTEGER"}]}],
		"options": {"upsert": "__SOMETIMES__", "delete": "__OFF__", "visibility": "__AFTER_EACH_BATCH__"}}`))
	if s != nil || err == nil || err.Error() != `upsert must be Upsert.OFF or Upsert.IF_PRIMARY_KEY, not "__SOMETIMES__"` {
		t.Fatalf("Start: %v, %v; want the option's error and no session", s, err)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after a refused start, %d before", n, before)
	}
}

// TestDoneNamesADuplicate: on_duplicate=ERROR's failure reaches the host
// with the two partitions, for Python's DuplicatePartitionError.
func TestDoneNamesADuplicate(t *testing.T) {
	err := fmt.Errorf("context: %w", &engine.DuplicatePartitionError{Schema: "s", Partition: "b__2", Source: "b__1"})
	got := string(mustJSON(failure(err)))
	want := `{"error":"context: on_duplicate=__ERROR__: Duplicate partition detected: b__2 has same hash as b__1","duplicate":{"partition":"b__2","source":"b__1"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(mustJSON(failure(errors.New("x")))); got != `{"error":"x"}` {
		t.Errorf("other failure: %s", got)
	}
}
