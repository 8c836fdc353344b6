package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// versionedSource is a source that answers ingest_versioned's callbacks
// and records them and its log lines.
type versionedSource struct {
	*source
	stop     bool     // on_duplicate's answer
	calls    []string // "on_duplicate schema part source", "attached schema part metadata"
	versLine []string // "INFO: ..." or "WARNING: ..."
}

func (s *versionedSource) OnDuplicate(_ context.Context, schema, partition, source string) (bool, error) {
	s.calls = append(s.calls, strings.Join([]string{"on_duplicate", schema, partition, source}, " "))
	return s.stop, nil
}

func (s *versionedSource) OnPartitionAttached(_ context.Context, schema, partition string, md json.RawMessage) error {
	s.calls = append(s.calls, strings.Join([]string{"attached", schema, partition, string(md)}, " "))
	return nil
}

func (s *versionedSource) VersionedLog(warn bool, format string, args ...string) {
	a := make([]any, len(args))
	for i, v := range args {
		a[i] = v
	}
	level := "INFO: "
	if warn {
		level = "WARNING: "
	}
	s.versLine = append(s.versLine, level+fmt.Sprintf(strings.ReplaceAll(format, "%s", "%v"), a...))
}

func (s *versionedSource) logged(line string) bool {
	for _, l := range s.versLine {
		if l == line {
			return true
		}
	}
	return false
}

// vopts are the options of one versioned run of the base table "b"
// (id INTEGER primary key, v TEXT indexed, then the partition column).
type vopts struct {
	version     string
	column      string // the partition column; "_version" when empty
	copyForward bool
	onDuplicate string // OnDuplicateSkip when empty
	stop        bool
}

// versioned runs one version, rows of each batch given as (id, v); it
// checks that no transaction is left open.
func (e *env) versioned(o vopts, batches ...batch) (*versionedSource, error) {
	e.t.Helper()
	if o.column == "" {
		o.column = "_version"
	}
	if o.onDuplicate == "" {
		o.onDuplicate = spec.OnDuplicateSkip
	}
	part := spec.Table{Schema: e.schema, Name: spec.PartitionName("b", o.version), Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true}, {Name: "v", Type: "TEXT", Nullable: true},
		{Name: o.column, Type: "VARCHAR"}}, Indexes: []spec.Index{{Columns: []string{"v"}}}}
	for k := range batches {
		for c := range batches[k].chunks {
			for r, row := range batches[k].chunks[c].rows {
				batches[k].chunks[c].rows[r] = append(row, o.version)
			}
		}
	}
	versionJSON, _ := json.Marshal(o.version)
	job := &spec.Job{Tables: []spec.Table{part},
		Options: spec.Options{Upsert: spec.UpsertIfPrimaryKey, Delete: spec.DeleteOff, Visibility: spec.VisibilityAfterEach},
		Versioned: &spec.Versioned{Base: "b", Root: "b__history", Column: o.column, Version: o.version,
			VersionJSON: versionJSON, CopyForward: o.copyForward, OnDuplicate: o.onDuplicate}}
	src := &versionedSource{source: &source{t: e.t, mem: e.mem, types: [][]arrow.DataType{{i64, str, str}}, batches: batches}, stop: o.stop}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	err := engine.Ingest(ctx, pgxconn.New(e.conn), job, src, &logger{})
	if status := e.conn.PgConn().TxStatus(); status != 'I' {
		e.t.Errorf("after a versioned ingest the session's transaction status is %q, want idle", status)
	}
	return src, err
}

// query returns the first column of a query's rows as text.
func (e *env) query(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.check.Query(e.ctx, sql, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s *string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		if s == nil {
			out = append(out, "<nil>")
		} else {
			out = append(out, *s)
		}
	}
	return out
}

// attached lists the partitions of the root with their bounds.
func (e *env) attached() string {
	return strings.Join(e.query(`SELECT c.relname || ' ' || pg_catalog.pg_get_expr(c.relpartbound, c.oid) FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, 'b__history')) ORDER BY 1`, e.schema), "; ")
}

func (e *env) viewSource() string {
	return strings.Join(e.query(`SELECT pg_catalog.pg_get_viewdef(pg_catalog.format('%I.%I', $1::text, 'b')::regclass)`, e.schema), "")
}

func (e *env) exists(name string) bool {
	return e.query(`SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, $2::text))::text`, e.schema, name)[0] != "<nil>"
}

func kvRows(rows ...[]any) batch { return batch{hwm: len(rows), chunks: []chunk{{rows: rows}}} }

func TestVersionedFlow(t *testing.T) {
	e := newEnv(t)

	// First version: no view yet.
	src, err := e.versioned(vopts{version: "2024-01-01", copyForward: true}, kvRows([]any{1, "a"}, []any{2, "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.attached(); got != "b__20240101 FOR VALUES IN ('2024-01-01')" {
		t.Errorf("attached: %s", got)
	}
	if got := e.rows("b", []string{"id", "v", "_version"}, "id"); fmt.Sprint(got) != "[[1 a 2024-01-01] [2 b 2024-01-01]]" {
		t.Errorf("view rows: %v", got)
	}
	c := *e.comment("b__20240101")
	want := `{"pg-bulk-ingest": {"high-watermark": 2, "hash": "`
	if !strings.HasPrefix(c, want) || !strings.Contains(c, `"row_count": 2, "version": "2024-01-01", "ingested_at": "`) || !strings.HasSuffix(c, `+00:00"}}`) {
		t.Errorf("comment %s", c)
	}
	if len(src.calls) != 1 || src.calls[0] != "attached "+e.schema+" b__20240101 "+strings.TrimSuffix(strings.TrimPrefix(c, `{"pg-bulk-ingest": `), "}") {
		t.Errorf("calls %q, comment %s", src.calls, c)
	}

	// Second version: copied forward, then upserted; batches see the
	// first version's high watermark.
	src, err = e.versioned(vopts{version: "2024-01-02", copyForward: true}, kvRows([]any{2, "B"}, []any{3, "c"}))
	if err != nil {
		t.Fatal(err)
	}
	if string(src.stored) != "2" {
		t.Errorf("Start got %s, want the first version's high watermark 2", src.stored)
	}
	if got := e.rows("b", []string{"id", "v", "_version"}, "id"); fmt.Sprint(got) != "[[1 a 2024-01-02] [2 B 2024-01-02] [3 c 2024-01-02]]" {
		t.Errorf("view rows: %v", got)
	}
	if got := e.attached(); got != "b__20240101 FOR VALUES IN ('2024-01-01'); b__20240102 FOR VALUES IN ('2024-01-02')" {
		t.Errorf("attached: %s", got)
	}
	if got := e.viewSource(); !strings.Contains(got, "b__20240102") {
		t.Errorf("view: %s", got)
	}

	// Attached already: nothing runs, the batches are not started.
	src, err = e.versioned(vopts{version: "2024-01-02", copyForward: true}, kvRows([]any{9, "z"}))
	if err != nil || src.started || !src.logged("INFO: Partition b__20240102 already exists and is attached. Skipping.") {
		t.Errorf("attached: %v, started %v, %q", err, src.started, src.versLine)
	}

	// A failed run's unattached leftover is dropped and rebuilt.
	e.exec(`CREATE TABLE ` + pgsql.Qualified(e.schema, "b__20240103") + ` (junk INT)`)
	src, err = e.versioned(vopts{version: "2024-01-03"}, kvRows([]any{1, "only"}))
	if err != nil || !src.logged("WARNING: Partition b__20240103 exists but not attached (failed previous run). Dropping and recreating...") {
		t.Errorf("leftover: %v %q", err, src.versLine)
	}
	if got := e.rows("b", []string{"id", "v"}, "id"); fmt.Sprint(got) != "[[1 only]]" {
		t.Errorf("without copy-forward: %v", got)
	}
}

func TestVersionedDuplicates(t *testing.T) {
	e := newEnv(t)
	if _, err := e.versioned(vopts{version: "1", copyForward: true}, kvRows([]any{1, "a"}, []any{2, "b"})); err != nil {
		t.Fatal(err)
	}
	same := func() batch { return kvRows([]any{2, "b"}) } // changes nothing after the copy-forward

	// SKIP: dropped, committed.
	src, err := e.versioned(vopts{version: "2", copyForward: true}, same())
	if err != nil || e.exists("b__2") || e.attached() != "b__1 FOR VALUES IN ('1')" || !src.logged("INFO: on_duplicate='__SKIP__': Dropping partition b__2") {
		t.Errorf("SKIP: %v, exists %v, attached %s", err, e.exists("b__2"), e.attached())
	}
	// A copy-forward without batches has the source's indexes, so the
	// same hash: SKIP.
	if _, err := e.versioned(vopts{version: "2", copyForward: true}); err != nil || e.exists("b__2") {
		t.Errorf("SKIP without batches: %v, exists %v", err, e.exists("b__2"))
	}

	// ERROR: a typed error, the partition left unattached.
	_, err = e.versioned(vopts{version: "3", copyForward: true, onDuplicate: spec.OnDuplicateError}, same())
	var dup *engine.DuplicatePartitionError
	if !errors.As(err, &dup) || *dup != (engine.DuplicatePartitionError{Schema: e.schema, Partition: "b__3", Source: "b__1"}) ||
		!e.exists("b__3") || e.attached() != "b__1 FOR VALUES IN ('1')" {
		t.Errorf("ERROR: %v, exists %v, attached %s", err, e.exists("b__3"), e.attached())
	}

	// A callable answering true: stops, unattached; false: attached.
	src, err = e.versioned(vopts{version: "4", copyForward: true, onDuplicate: spec.OnDuplicateCall, stop: true}, same())
	if err != nil || len(src.calls) != 1 || src.calls[0] != "on_duplicate "+e.schema+" b__4 b__1" || e.attached() != "b__1 FOR VALUES IN ('1')" {
		t.Errorf("callable true: %v %q %s", err, src.calls, e.attached())
	}
	src, err = e.versioned(vopts{version: "5", copyForward: true, onDuplicate: spec.OnDuplicateCall}, same())
	if err != nil || len(src.calls) != 2 || !strings.HasPrefix(src.calls[1], "attached "+e.schema+" b__5 ") || !strings.Contains(e.attached(), "b__5") {
		t.Errorf("callable false: %v %q %s", err, src.calls, e.attached())
	}

	// KEEP: attached, with a warning.
	src, err = e.versioned(vopts{version: "6", copyForward: true, onDuplicate: spec.OnDuplicateKeep}, same())
	if err != nil || !strings.Contains(e.attached(), "b__6") || !src.logged("WARNING: on_duplicate='__KEEP__': Keeping duplicate partition b__6") {
		t.Errorf("KEEP: %v %s %q", err, e.attached(), src.versLine)
	}

	// Without copy-forward the same rows are found too.
	if _, err := e.versioned(vopts{version: "7"}, kvRows([]any{1, "a"}, []any{2, "b"})); err != nil || e.exists("b__7") {
		t.Errorf("no copy-forward: %v, exists %v", err, e.exists("b__7"))
	}
}

func TestVersionedEmpty(t *testing.T) {
	e := newEnv(t)
	src, err := e.versioned(vopts{version: "1", copyForward: true})
	if err != nil || !src.logged("WARNING: Failed to create hash and/or row_count for partition b__1") || e.exists("b__history") || e.exists("b") {
		t.Errorf("empty: %v %q", err, src.versLine)
	}
}

// TestVersionedCustomColumn: a custom partition column is not hashed, so
// a duplicate is found (upstream hashes it, and never finds one).
func TestVersionedCustomColumn(t *testing.T) {
	e := newEnv(t)
	if _, err := e.versioned(vopts{version: "1", column: "Ver", copyForward: true}, kvRows([]any{1, "a"})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.versioned(vopts{version: "2", column: "Ver", copyForward: true}, kvRows([]any{1, "a"})); err != nil || e.exists("b__2") {
		t.Errorf("%v, exists %v", err, e.exists("b__2"))
	}
}

// TestVersionedQuote: a version with a quote is a proper literal.
func TestVersionedQuote(t *testing.T) {
	e := newEnv(t)
	if _, err := e.versioned(vopts{version: `it's "v"`, copyForward: true}, kvRows([]any{1, "a"})); err != nil {
		t.Fatal(err)
	}
	if got := e.attached(); got != `b__it's "v" FOR VALUES IN ('it''s "v"')` {
		t.Errorf("attached: %s", got)
	}
}

// TestVersionedGrantsAndLegacy: a table in the view's place is renamed
// b_legacy; the partition gets SELECT for the grantees of that table and
// of the root, PUBLIC and a role whose name needs quoting included.
func TestVersionedGrantsAndLegacy(t *testing.T) {
	e := newEnv(t)
	role := pgtest.Name(`pbi Role "q" `)
	e.exec("CREATE ROLE " + pgsql.Ident(role))
	t.Cleanup(func() { e.check.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgsql.Ident(role)) }) //nolint:errcheck
	e.exec("CREATE SCHEMA " + pgsql.Ident(e.schema))
	e.exec(`CREATE TABLE ` + pgsql.Qualified(e.schema, "b") + ` (id INTEGER, v TEXT)`)
	e.exec(`GRANT SELECT ON ` + pgsql.Qualified(e.schema, "b") + ` TO ` + pgsql.Ident(role))
	src, err := e.versioned(vopts{version: "1", copyForward: true}, kvRows([]any{1, "a"}))
	if err != nil || !src.logged("WARNING: Found non-versioned table "+e.schema+".b. Renaming to b_legacy") || !e.exists("b_legacy") {
		t.Fatalf("legacy: %v %q", err, src.versLine)
	}
	acl := func(rel string) string {
		return strings.Join(e.query(`SELECT COALESCE(r.rolname, 'PUBLIC') FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
			LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
			WHERE c.oid = pg_catalog.format('%I.%I', $1::text, $2::text)::regclass AND a.privilege_type = 'SELECT' AND r.rolname IS DISTINCT FROM current_user ORDER BY 1`, e.schema, rel), ",")
	}
	if got := acl("b__1"); got != role {
		t.Errorf("partition 1's SELECT grantees: %s", got)
	}
	e.exec(`GRANT SELECT ON ` + pgsql.Qualified(e.schema, "b__history") + ` TO PUBLIC`)
	if _, err := e.versioned(vopts{version: "2", copyForward: true}, kvRows([]any{2, "b"})); err != nil {
		t.Fatal(err)
	}
	if got := acl("b__2"); got != "PUBLIC" {
		t.Errorf("partition 2's SELECT grantees: %s", got)
	}
}

// TestVersionedViewWithoutSource: a view b that reads no table: as
// upstream, a warning, nothing copied forward, no duplicate check, and the
// view replaced by one on the partition.
func TestVersionedViewWithoutSource(t *testing.T) {
	e := newEnv(t)
	e.exec("CREATE SCHEMA " + pgsql.Ident(e.schema))
	e.exec("CREATE VIEW " + pgsql.Qualified(e.schema, "b") + " AS SELECT 1 AS id")
	src, err := e.versioned(vopts{version: "1", copyForward: true}, kvRows([]any{1, "a"}))
	if err != nil || !src.logged("WARNING: Source partition could not be found for view: b") {
		t.Fatalf("%v %q", err, src.versLine)
	}
	if got := e.rows("b", []string{"id", "v"}, "id"); fmt.Sprint(got) != "[[1 a]]" || !strings.Contains(e.viewSource(), "b__1") {
		t.Errorf("view rows %v, view %s", got, e.viewSource())
	}
}

// TestVersionedCopyForwardBatches: the first batch of a copy-forward
// fills the partition (its last row of a key wins, the source's other
// rows stay), with its key and index built; a second batch upserts.
func TestVersionedCopyForwardBatches(t *testing.T) {
	e := newEnv(t)
	if _, err := e.versioned(vopts{version: "1"}, kvRows([]any{1, "a"}, []any{2, "b"}, []any{3, "c"})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.versioned(vopts{version: "2", copyForward: true},
		kvRows([]any{2, "x"}, []any{4, "d"}, []any{2, "y"}), kvRows([]any{3, "z"}, []any{5, "e"})); err != nil {
		t.Fatal(err)
	}
	if got := e.rows("b", []string{"id", "v", "_version"}, "id"); fmt.Sprint(got) != "[[1 a 2] [2 y 2] [3 z 2] [4 d 2] [5 e 2]]" {
		t.Errorf("view rows: %v", got)
	}
	if got := e.query(`SELECT pg_catalog.string_agg(i.indisprimary::text, ' ' ORDER BY i.indisprimary) FROM pg_catalog.pg_index i
		WHERE i.indrelid = pg_catalog.format('%I.%I', $1::text, 'b__2')::regclass`, e.schema); fmt.Sprint(got) != "[false true]" {
		t.Errorf("indexes of the partition (primary or not): %v", got)
	}
	e.noTmpTables()
}
