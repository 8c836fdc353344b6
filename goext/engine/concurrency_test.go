package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// TestSwapsUnderConcurrentReaders runs ingests that swap tables while
// many sessions read the table and views on it. Batch b sets x = b in
// every one of the rowsPerBatch rows, so a reader that saw part of a
// batch, or no table, would find count(*) or sum(x) off.
func TestSwapsUnderConcurrentReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const readers, rowsPerBatch, ingests, batchesPerIngest = 50, 500, 8, 3
	e := newEnv(t)
	tbl := spec.Table{Schema: e.schema, Name: "c", Columns: []spec.Column{{Name: "id", Type: "INTEGER", PrimaryKey: true}, {Name: "x", Type: "INTEGER"}}}
	value := 0
	nextBatch := func(columns int) batch {
		value++
		rows := make([][]any, rowsPerBatch)
		for i := range rows {
			rows[i] = []any{i, value, nil}[:columns]
		}
		return batch{hwm: value, chunks: []chunk{{0, rows}}}
	}
	if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{{i64, i64}}, nextBatch(2)); err != nil {
		t.Fatal(err)
	}
	q := func(name string) string { return pgsql.Qualified(e.schema, name) }
	e.exec("CREATE VIEW " + q("cv") + " AS SELECT id, x FROM " + q("c"))
	e.exec("CREATE VIEW " + q("cvv") + " AS SELECT * FROM " + q("cv"))
	rels := []string{q("c"), q("cv"), q("cvv")}

	conns := make([]*pgx.Conn, readers)
	for i := range conns {
		conns[i] = pgtest.Connect(t)
	}
	var queries, failures atomic.Int64
	var mu sync.Mutex
	var problems []string
	report := func(s string) {
		failures.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 5 {
			problems = append(problems, s)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sql := "SELECT count(*), COALESCE(sum(x), 0)::int8 FROM " + rels[i%len(rels)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var n, sum int64
				err := conn.QueryRow(ctx, sql).Scan(&n, &sum)
				cancel()
				queries.Add(1)
				switch {
				case err != nil:
					report(err.Error())
					return // the connection may be gone
				case n != rowsPerBatch || sum%rowsPerBatch != 0 || sum == 0:
					report(fmt.Sprintf("%s: count %d, sum %d", rels[i%len(rels)], n, sum))
				}
			}
		}()
	}

	start := time.Now()
	swaps := 0
	var ingestErr error
	for i := 0; i < ingests && ingestErr == nil; i++ {
		opts := spec.Options{Delete: spec.DeleteBeforeFirst}
		if i%2 == 1 { // a column added or removed: swapped, the rows copied over
			opts.Delete = spec.DeleteOff
			if len(tbl.Columns) == 2 {
				// Indexed, so that it is not added in place (addcolumn_test.go).
				tbl.Columns = append(tbl.Columns, spec.Column{Name: "extra", Type: "TEXT", Nullable: true})
				tbl.Indexes = []spec.Index{{Columns: []string{"extra"}}}
			} else {
				tbl.Columns, tbl.Indexes = tbl.Columns[:2], nil
			}
		}
		oid := e.oid("c")
		batches := make([]batch, batchesPerIngest)
		for b := range batches {
			batches[b] = nextBatch(len(tbl.Columns))
		}
		if _, _, ingestErr = e.ingest([]spec.Table{tbl}, opts, [][]arrow.DataType{[]arrow.DataType{i64, i64, str}[:len(tbl.Columns)]}, batches...); e.oid("c") != oid {
			swaps++
		}
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if ingestErr != nil {
		t.Fatal(ingestErr)
	}
	t.Logf("%d readers, %d ingests of %d batches, %d swaps in %s; %d queries, %d failures",
		readers, ingests, batchesPerIngest, swaps, took.Round(time.Millisecond), queries.Load(), failures.Load())
	if failures.Load() > 0 {
		t.Errorf("readers failed: %q", problems)
	}
	if swaps != ingests {
		t.Errorf("%d swaps, want %d", swaps, ingests)
	}
	if queries.Load() < 10*readers {
		t.Errorf("only %d queries ran", queries.Load())
	}
}
