package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/arrowtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// chunk is some rows of one table; rows hold Go values (nil is NULL) in
// the table's column order.
type chunk struct {
	table int
	rows  [][]any
}

// batch is one batch of the test source.
type batch struct {
	hwm    any // stored as JSON
	chunks []chunk
	// failAt makes NextChunk fail with failErr instead of returning
	// chunk failAt-1 (so 1 fails at the batch's first chunk).
	failAt  int
	failErr error
	// chunkTypes are the Arrow types of chunk k where not its table's.
	chunkTypes map[int][]arrow.DataType
	// sql makes chunk k an SQL chunk of its table with this text.
	sql map[int]string
}

// source is an engine.Source over a slice of batches; it records what
// the engine told it.
type source struct {
	t       testing.TB
	mem     memory.Allocator
	types   [][]arrow.DataType // Arrow type of each column of each table
	batches []batch

	started  bool
	stored   json.RawMessage // what Start received
	cur, pos int
	visible  []string // OnBeforeVisible calls: "batch:table:schema.name"
}

func (s *source) Start(_ context.Context, stored json.RawMessage) error {
	if s.started {
		s.t.Errorf("Start called twice")
	}
	s.started, s.stored, s.cur = true, append(json.RawMessage(nil), stored...), 0
	return nil
}

func (s *source) NextBatch(context.Context) (*engine.Batch, error) {
	if s.cur >= len(s.batches) {
		return nil, nil
	}
	s.cur++
	s.pos = 0
	b := s.batches[s.cur-1]
	return &engine.Batch{Metadata: fmt.Sprintf("meta-%d", s.cur), HighWatermark: fmt.Sprint(b.hwm)}, nil
}

func (s *source) NextChunk(context.Context) (*engine.Chunk, error) {
	b := s.batches[s.cur-1]
	if b.failAt > 0 && s.pos == b.failAt-1 {
		return nil, b.failErr
	}
	if s.pos >= len(b.chunks) {
		return nil, nil
	}
	c := b.chunks[s.pos]
	types, ok := b.chunkTypes[s.pos]
	if !ok {
		types = s.types[c.table]
	}
	s.pos++
	if text, ok := b.sql[s.pos-1]; ok {
		return &engine.Chunk{Table: c.table, SQL: text}, nil
	}
	return &engine.Chunk{Table: c.table, Record: s.record(types, c.rows)}, nil
}

func (s *source) HighWatermark(context.Context) (json.RawMessage, string, error) {
	hwm := s.batches[s.cur-1].hwm
	b, err := json.Marshal(hwm)
	return b, fmt.Sprint(hwm), err
}

func (s *source) OnBeforeVisible(_ context.Context, table int, schema, name string) error {
	s.visible = append(s.visible, fmt.Sprintf("%d:%d:%s.%s", s.cur, table, schema, name))
	return nil
}

// record builds an Arrow record of the rows with the given column types.
func (s *source) record(types []arrow.DataType, rows [][]any) arrow.Record {
	fields := make([]arrow.Field, len(types))
	arrays := make([]arrow.Array, len(types))
	for c, dt := range types {
		fields[c] = arrow.Field{Name: fmt.Sprint("c", c), Type: dt, Nullable: true}
		b := array.NewBuilder(s.mem, dt)
		for _, row := range rows {
			if err := arrowtest.Append(b, row[c]); err != nil {
				s.t.Fatal(err)
			}
		}
		arrays[c] = b.NewArray()
		b.Release()
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), arrays, int64(len(rows)))
	for _, a := range arrays {
		a.Release()
	}
	return rec
}

// logger records the lines the engine logs; the COPY goroutine logs too.
type logger struct {
	mu    sync.Mutex
	lines []string
}

func (l *logger) Info(format string, args ...string) {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *logger) has(line string) bool {
	return l.find(func(x string) bool { return x == line })
}

func (l *logger) hasPrefix(prefix string) bool {
	return l.find(func(x string) bool { return strings.HasPrefix(x, prefix) })
}

func (l *logger) find(match func(string) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if match(x) {
			return true
		}
	}
	return false
}

// env is one test's database: a connection and a fresh schema name.
type env struct {
	t      *testing.T
	ctx    context.Context
	conn   *pgx.Conn // for the engine
	check  *pgx.Conn // another session, for what others see
	schema string
	mem    *memory.CheckedAllocator
	// force configures the engine's pgxconn.Conn: ForceDelay and Logger.
	force func(*pgxconn.Conn)
	// before, if set, runs in each OnBeforeVisible (see hookedSource).
	before func(batch, table int) error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), conn: pgtest.Connect(t), check: pgtest.Connect(t),
		schema: pgtest.Schema(t, "pbi_engine_test_"), mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	t.Cleanup(func() { e.mem.AssertSize(t, 0) }) // every record released
	return e
}

// ingest runs the engine over batches; types are the Arrow types of each
// table's columns.
func (e *env) ingest(tables []spec.Table, opts spec.Options, types [][]arrow.DataType, batches ...batch) (*source, *logger, error) {
	e.t.Helper()
	if opts.Upsert == "" {
		opts.Upsert = spec.UpsertIfPrimaryKey
	}
	if opts.Delete == "" {
		opts.Delete = spec.DeleteOff
	}
	if opts.Visibility == "" {
		opts.Visibility = spec.VisibilityAfterEach
	}
	src := &source{t: e.t, mem: e.mem, types: types, batches: batches}
	log := &logger{}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	conn := pgxconn.New(e.conn)
	if e.force != nil {
		e.force(conn)
	}
	var hooked engine.Source = src
	if e.before != nil {
		hooked = &hookedSource{source: src, before: e.before}
	}
	err := engine.Ingest(ctx, conn, &spec.Job{Tables: tables, Options: opts}, hooked, log)
	if !src.started && err == nil {
		e.t.Errorf("Source.Start was not called")
	}
	// The engine's session is usable again, outside any transaction.
	var status byte = e.conn.PgConn().TxStatus()
	if status != 'I' {
		e.t.Errorf("after Ingest the session's transaction status is %q, want idle", status)
	}
	return src, log, err
}

// rows reads "SELECT cols FROM schema.table ORDER BY order" from another
// session, as text (NULL as <nil>).
func (e *env) rows(table string, cols []string, order string) [][]string {
	e.t.Helper()
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = pgsql.Ident(c) + "::text"
	}
	r, err := e.check.Query(e.ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+pgsql.Qualified(e.schema, table)+" ORDER BY "+order)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	var out [][]string
	for r.Next() {
		vals := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "<nil>"
			} else {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// comment reads a table's comment from another session (nil if none).
func (e *env) comment(table string) *string {
	e.t.Helper()
	var c *string
	if err := e.check.QueryRow(e.ctx, pgsql.ReadComment, e.schema, table).Scan(&c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// hwm returns the high watermark stored in a table's comment as JSON text,
// failing unless the comment has the upstream shape.
func (e *env) hwm(table string) string {
	e.t.Helper()
	c := e.comment(table)
	if c == nil {
		e.t.Fatalf("table %s has no comment", table)
	}
	var doc map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*c), &doc); err != nil {
		e.t.Fatalf("comment %s: %v", *c, err)
	}
	v, ok := doc["pg-bulk-ingest"]["high-watermark"]
	if !ok {
		e.t.Fatalf("comment %s has no pg-bulk-ingest.high-watermark", *c)
	}
	return string(v)
}

// oid returns the OID of a relation of the schema, which a swap changes.
func (e *env) oid(rel string) uint32 {
	e.t.Helper()
	var oid uint32
	if err := e.check.QueryRow(e.ctx, "SELECT format('%I.%I', $1::text, $2::text)::regclass::oid", e.schema, rel).Scan(&oid); err != nil {
		e.t.Fatal(err)
	}
	return oid
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.check.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// noTmpTables fails if any _tmp_ relation is left in the schema.
func (e *env) noTmpTables() {
	e.t.Helper()
	var n int
	if err := e.check.QueryRow(e.ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname LIKE '\_tmp\_%' AND c.relkind IN ('r', 'p', 'v', 'm')`, e.schema).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	if n != 0 {
		e.t.Errorf("%d _tmp_ relations left in the schema", n)
	}
}

var (
	i64 = arrow.PrimitiveTypes.Int64
	str = arrow.BinaryTypes.String
	f64 = arrow.PrimitiveTypes.Float64
)

// kv is a table (id INTEGER primary key when pk, v TEXT).
func kv(schema, name string, pk bool) spec.Table {
	return spec.Table{Schema: schema, Name: name, Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: pk},
		{Name: "v", Type: "TEXT", Nullable: true},
	}}
}

var kvTypes = []arrow.DataType{i64, str}
