package engine_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// hookedSource is a source that calls before from OnBeforeVisible, where
// the batch's transaction holds the tables' locks.
type hookedSource struct {
	*source
	before func(batch, table int) error
}

func (s *hookedSource) OnBeforeVisible(ctx context.Context, table int, schema, name string) error {
	if err := s.source.OnBeforeVisible(ctx, table, schema, name); err != nil {
		return err
	}
	return s.before(s.cur, table)
}

// waitingForAdvisoryLock polls, on conn, until the backend pid waits for
// an advisory lock.
func waitingForAdvisoryLock(ctx context.Context, conn *pgx.Conn, pid uint32) error {
	for {
		var waiting bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND pid = $1)`, int64(pid)).Scan(&waiting)
		if err != nil {
			return fmt.Errorf("looking for backend %d waiting: %w", pid, err)
		}
		if waiting {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("backend %d never waited for an advisory lock: %w", pid, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestConcurrentIngestsTakeTurns runs two ingests (A and B, three upsert
// batches each, overlapping keys) into the same tables at once. A's first
// batch holds its transaction open until B is seen waiting for the lock;
// the rest interleave as they may. Each batch's commit order is recorded
// where the batch holds the lock; the tables must hold what applying the
// batches one after the other in that order gives, B must have waited
// (and said so), and a racing first batch must not rebuild the table a
// second time from what it saw before the first one's swap.
func TestConcurrentIngestsTakeTurns(t *testing.T) {
	wide := func(schema, name string) spec.Table {
		tbl := kv(schema, name, true)
		tbl.Columns = append(tbl.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
		return tbl
	}
	wideTypes := []arrow.DataType{i64, str, str}
	cases := []struct {
		name string
		// before is what is there before the race: "missing", "same" (the
		// wanted definition) or "narrower" (without w: both want to migrate).
		before string
		// reversed lists B's tables in the opposite order to A's.
		tables   []string
		reversed bool
	}{
		{"existing table", "same", []string{"t"}, false},
		{"racing migrations", "narrower", []string{"t"}, false},
		{"missing table", "missing", []string{"t"}, false},
		{"two tables in opposite orders", "missing", []string{"a", "b"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var tablesA []spec.Table
			for _, name := range c.tables {
				tablesA = append(tablesA, wide(e.schema, name))
			}
			tablesB := append([]spec.Table(nil), tablesA...)
			if c.reversed {
				for i, j := 0, len(tablesB)-1; i < j; i, j = i+1, j-1 {
					tablesB[i], tablesB[j] = tablesB[j], tablesB[i]
				}
			}
			want := map[int64]string{} // id -> "v|w" of every table
			if c.before != "missing" {
				old := batch{hwm: "old", chunks: []chunk{{0, [][]any{{100, "old"}, {1, "old"}}}}}
				tbl, types := kv(e.schema, "t", true), kvTypes
				if c.before == "same" {
					tbl, types = wide(e.schema, "t"), wideTypes
					old.chunks[0].rows = [][]any{{100, "old", "old"}, {1, "old", "old"}}
				}
				if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types}, old); err != nil {
					t.Fatal(err)
				}
				w := "old"
				if c.before == "narrower" {
					w = "<nil>"
				}
				want[100], want[1] = "old|"+w, "old|"+w
			}

			// Batch b of ingest x writes ids off+10(b-1) .. off+10(b-1)+14
			// (A's offset 0, B's 5): each overlaps the other's batches.
			rowsOf := func(label string) []int64 {
				off, b := int64(0), int64(label[1]-'0')
				if label[0] == 'B' {
					off = 5
				}
				var ids []int64
				for id := off + 10*(b-1); id < off+10*(b-1)+15; id++ {
					ids = append(ids, id)
				}
				return ids
			}
			batchesOf := func(x string, tables int) []batch {
				var out []batch
				for b := 1; b <= 3; b++ {
					label := fmt.Sprintf("%s%d", x, b)
					var rows [][]any
					for _, id := range rowsOf(label) {
						rows = append(rows, []any{id, label, label})
					}
					bt := batch{hwm: label}
					for k := 0; k < tables; k++ {
						bt.chunks = append(bt.chunks, chunk{k, rows})
					}
					out = append(out, bt)
				}
				return out
			}

			var mu sync.Mutex
			var order []string
			record := func(x string) func(batch, table int) error {
				return func(b, table int) error {
					if table == 0 {
						mu.Lock()
						order = append(order, x+strconv.Itoa(b))
						mu.Unlock()
					}
					return nil
				}
			}
			connA, connB, watch := pgtest.Connect(t), pgtest.Connect(t), pgtest.Connect(t)
			ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
			defer cancel()
			run := func(conn *pgx.Conn, tables []spec.Table, src engine.Source, log *logger) error {
				opts := spec.Options{Upsert: spec.UpsertIfPrimaryKey, Delete: spec.DeleteOff,
					Visibility: spec.VisibilityAfterEach}
				return engine.Ingest(ctx, pgxconn.New(conn), &spec.Job{Tables: tables, Options: opts}, src, log)
			}
			types := make([][]arrow.DataType, len(c.tables))
			for k := range types {
				types[k] = wideTypes
			}
			memA, memB := memory.NewCheckedAllocator(memory.NewGoAllocator()), memory.NewCheckedAllocator(memory.NewGoAllocator())
			srcB := &hookedSource{source: &source{t: t, mem: memB, types: types, batches: batchesOf("B", len(c.tables))}, before: record("B")}
			logA, logB := &logger{}, &logger{}
			var errB error
			doneB := make(chan struct{})
			startedB := false
			startB := func() {
				startedB = true
				go func() {
					defer close(doneB)
					errB = run(connB, tablesB, srcB, logB)
				}()
			}
			srcA := &hookedSource{source: &source{t: t, mem: memA, types: types, batches: batchesOf("A", len(c.tables))}}
			srcA.before = func(b, table int) error {
				if err := record("A")(b, table); err != nil || b != 1 || table != 0 {
					return err
				}
				// A holds its batch's locks: B starts, and must wait for them.
				startB()
				return waitingForAdvisoryLock(ctx, watch, connB.PgConn().PID())
			}
			errA := run(connA, tablesA, srcA, logA)
			if !startedB {
				t.Fatalf("ingest A ended before its first batch's end: %v", errA)
			}
			if errA != nil {
				cancel() // B may wait for a lock that A's failure released, or for nothing
			}
			select {
			case <-doneB:
			case <-time.After(60 * time.Second):
				t.Fatal("ingest B did not end")
			}
			if errA != nil || errB != nil {
				t.Fatalf("ingest A: %v; ingest B: %v", errA, errB)
			}
			memA.AssertSize(t, 0)
			memB.AssertSize(t, 0)

			if len(order) != 6 || order[0] != "A1" {
				t.Fatalf("commit order %q, want 6 batches, A1 first", order)
			}
			for _, label := range order {
				for _, id := range rowsOf(label) {
					want[id] = label + "|" + label
				}
			}
			var wantRows [][]string
			for id, vw := range want {
				v, w, _ := strings.Cut(vw, "|")
				wantRows = append(wantRows, []string{strconv.FormatInt(id, 10), v, w})
			}
			sort.Slice(wantRows, func(i, j int) bool {
				a, _ := strconv.Atoi(wantRows[i][0])
				b, _ := strconv.Atoi(wantRows[j][0])
				return a < b
			})
			for _, name := range c.tables {
				if got := e.rows(name, []string{"id", "v", "w"}, `"id"::int`); !reflect.DeepEqual(got, wantRows) {
					t.Errorf("table %s: rows %q, want %q (commit order %q)", name, got, wantRows, order)
				}
			}
			// Each ingest stores its high watermark in its first table; the
			// last batch committed into it wrote it.
			lastOf := func(x string) string {
				for k := len(order) - 1; k >= 0; k-- {
					if c.reversed && order[k][:1] != x {
						continue
					}
					return order[k]
				}
				return ""
			}
			if got, want := e.hwm(tablesA[0].Name), strconv.Quote(lastOf("A")); got != want {
				t.Errorf("high watermark of %s %s, want %s (commit order %q)", tablesA[0].Name, got, want, order)
			}
			if got := e.hwm(tablesA[0].Name); !c.reversed && got != `"A3"` && got != `"B3"` {
				t.Errorf("high watermark %s is neither ingest's last", got)
			}
			if c.reversed {
				if got, want := e.hwm(tablesB[0].Name), strconv.Quote(lastOf("B")); got != want {
					t.Errorf("high watermark of %s %s, want %s", tablesB[0].Name, got, want)
				}
			}
			if !logB.hasPrefix("Waiting for another ingest into " + e.schema + ".") {
				t.Errorf("B did not log its wait: %q", logB.lines)
			}
			// Only the first first batch rebuilds: B sees A's table.
			if c.before != "same" && logB.has("Ingesting via new ingest table") {
				t.Errorf("B rebuilt the table A had just rebuilt")
			}
			e.noTmpTables()
		})
	}
}

// TestWaitForAnotherIngestTimesOut has B give up waiting for A's batch
// (lock_timeout on its session): B fails with an error naming the wait
// and the table, before touching it, and A's batches all go in.
func TestWaitForAnotherIngestTimesOut(t *testing.T) {
	e := newEnv(t)
	tbl := kv(e.schema, "t", true)
	connA, connB := pgtest.Connect(t), pgtest.Connect(t)
	if _, err := connB.Exec(e.ctx, "SET lock_timeout = '100ms'"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	opts := spec.Options{Upsert: spec.UpsertIfPrimaryKey, Delete: spec.DeleteOff, Visibility: spec.VisibilityAfterEach}
	run := func(conn *pgx.Conn, src engine.Source, log *logger) error {
		return engine.Ingest(ctx, pgxconn.New(conn), &spec.Job{Tables: []spec.Table{tbl}, Options: opts}, src, log)
	}
	one := func(id int, v string) batch { return batch{hwm: v, chunks: []chunk{{0, [][]any{{id, v}}}}} }
	memB := memory.NewCheckedAllocator(memory.NewGoAllocator())
	srcB := &source{t: t, mem: memB, types: [][]arrow.DataType{kvTypes}, batches: []batch{one(1, "B1")}}
	logB := &logger{}
	var errB error
	srcA := &hookedSource{source: &source{t: t, mem: e.mem, types: [][]arrow.DataType{kvTypes}, batches: []batch{one(1, "A1"), one(2, "A2")}}}
	srcA.before = func(b, _ int) error {
		if b == 1 { // A holds the lock until B has given up
			errB = run(connB, srcB, logB)
		}
		return nil
	}
	if err := run(connA, srcA, &logger{}); err != nil {
		t.Fatal(err)
	}
	memB.AssertSize(t, 0)
	want := "waiting for another ingest into " + e.schema + ".t: "
	if errB == nil || !strings.Contains(errB.Error(), want) || !strings.Contains(errB.Error(), "lock timeout") {
		t.Fatalf("B's error %v, want one containing %q and the lock timeout", errB, want)
	}
	if srcB.stored != nil {
		t.Errorf("B read the high watermark %s before it had the lock", srcB.stored)
	}
	if !logB.has("Waiting for another ingest into " + e.schema + ".t") {
		t.Errorf("B did not log its wait: %q", logB.lines)
	}
	if got, want := e.rows("t", []string{"id", "v"}, "id"), [][]string{{"1", "A1"}, {"2", "A2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if got := e.hwm("t"); got != `"A2"` {
		t.Errorf("high watermark %s, want \"A2\"", got)
	}
	e.noTmpTables()
}
