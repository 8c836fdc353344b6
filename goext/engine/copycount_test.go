package engine_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// copyCounter is a Conn that records the COPY statements it runs.
type copyCounter struct {
	engine.Conn
	copies []string
}

func (c *copyCounter) CopyFrom(ctx context.Context, sql string, r io.Reader) error {
	c.copies = append(c.copies, sql)
	return c.Conn.CopyFrom(ctx, sql, r)
}

// TestNoCopyForATableWithoutRows: a table that gets no rows in a batch
// gets no COPY in it (upstream's too), whether other tables get rows or
// the batch has none.
func TestNoCopyForATableWithoutRows(t *testing.T) {
	e := newEnv(t)
	tables := []spec.Table{kv(e.schema, "a", false), kv(e.schema, "b", false)}
	src := &source{t: t, mem: e.mem, types: [][]arrow.DataType{kvTypes, kvTypes}, batches: []batch{
		{hwm: 1, chunks: []chunk{{0, [][]any{{1, "a1"}}}, {0, [][]any{{2, "a2"}}}}},
		{hwm: 2},
		{hwm: 3, chunks: []chunk{{1, [][]any{{1, "b1"}}}}},
	}}
	conn := &copyCounter{Conn: pgxconn.New(e.conn)}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	opts := spec.Options{Upsert: spec.UpsertIfPrimaryKey, Delete: spec.DeleteOff, Visibility: spec.VisibilityAfterEach}
	if err := engine.Ingest(ctx, conn, &spec.Job{Tables: tables, Options: opts}, src, &logger{}); err != nil {
		t.Fatal(err)
	}
	var into []string
	for _, sql := range conn.copies {
		into = append(into, strings.TrimPrefix(strings.Fields(sql)[1], pgsql.Ident(e.schema)+"."))
	}
	if strings.Join(into, ",") != `"a","b"` {
		t.Errorf("COPY statements %q, want one into a (batch 1), one into b (batch 3)", conn.copies)
	}
}
