package engine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// storage is what a rewrite of a table changes: its OID and file.
func (e *env) storage(table string) string {
	e.t.Helper()
	var s string
	if err := e.check.QueryRow(e.ctx, `SELECT oid::text || '/' || relfilenode::text FROM pg_class WHERE oid = format('%I.%I', $1::text, $2::text)::regclass`,
		e.schema, table).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// columns lists a table's columns as "name type [NOT NULL]".
func (e *env) columns(table string) []string {
	e.t.Helper()
	var cols []string
	if err := e.check.QueryRow(e.ctx, `SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END ORDER BY attnum)
		FROM pg_attribute WHERE attrelid = format('%I.%I', $1::text, $2::text)::regclass AND attnum > 0 AND NOT attisdropped`,
		e.schema, table).Scan(&cols); err != nil {
		e.t.Fatal(err)
	}
	return cols
}

// acl is a relation's privileges as the catalog has them.
func (e *env) acl(rel string) string {
	e.t.Helper()
	var acl *string
	if err := e.check.QueryRow(e.ctx, `SELECT relacl::text FROM pg_class WHERE oid = format('%I.%I', $1::text, $2::text)::regclass`,
		e.schema, rel).Scan(&acl); err != nil {
		e.t.Fatal(err)
	}
	if acl == nil {
		return ""
	}
	return *acl
}

// seedKV ingests rows into the kv table name, with high watermark 1.
func (e *env) seedKV(name string, pk bool, opts spec.Options, rows ...[]any) spec.Table {
	e.t.Helper()
	tbl := kv(e.schema, name, pk)
	if _, _, err := e.ingest([]spec.Table{tbl}, opts, [][]arrow.DataType{kvTypes}, batch{hwm: 1, chunks: []chunk{{0, rows}}}); err != nil {
		e.t.Fatal(err)
	}
	return tbl
}

// TestAddColumnInPlace appends nullable columns to a table holding rows,
// views, a materialized view and grants: the table keeps its OID and file
// (no rewrite), its old rows read NULL in the new columns, the batch's
// rows are in, the views and every privilege are as they were, the
// materialized view is refreshed (as a rebuild recreates it) and the high
// watermark stored; a later ingest of the same definition changes
// nothing. Names need quoting throughout.
func TestAddColumnInPlace(t *testing.T) {
	e := newEnv(t)
	e.schema += ` "s".x, %s 🦆`
	t.Cleanup(func() { e.exec("DROP SCHEMA IF EXISTS " + pgsql.Ident(e.schema) + " CASCADE") })
	reader := e.role("pbi add reader")
	w, x := spec.Column{Name: `w "c", %s 🦆`, Type: "TEXT", Nullable: true}, spec.Column{Name: "x", Type: "NUMERIC(10, 2)", Nullable: true}
	cases := []struct {
		name   string
		pk     bool
		upsert string
		added  []spec.Column
		rows   [][]any // the batch's rows of the wider table
		want   [][]string
	}{
		{"upsert", true, spec.UpsertIfPrimaryKey, []spec.Column{w}, [][]any{{2, "B", "w2"}, {3, "c", nil}},
			[][]string{{"1", "a", "<nil>"}, {"2", "B", "w2"}, {"3", "c", "<nil>"}}},
		{"no upsert", true, spec.UpsertOff, []spec.Column{w}, [][]any{{3, "c", "w3"}},
			[][]string{{"1", "a", "<nil>"}, {"2", "b", "<nil>"}, {"3", "c", "w3"}}},
		{"no primary key", false, spec.UpsertIfPrimaryKey, []spec.Column{w}, [][]any{{2, "b", "w2"}},
			[][]string{{"1", "a", "<nil>"}, {"2", "b", "<nil>"}, {"2", "b", "w2"}}},
		{"two columns", true, spec.UpsertIfPrimaryKey, []spec.Column{w, x}, [][]any{{3, "c", "w3", "1.50"}},
			[][]string{{"1", "a", "<nil>", "<nil>"}, {"2", "b", "<nil>", "<nil>"}, {"3", "c", "w3", "1.50"}}},
		{"no rows in the batch", true, spec.UpsertIfPrimaryKey, []spec.Column{w}, nil,
			[][]string{{"1", "a", "<nil>"}, {"2", "b", "<nil>"}}},
	}
	for k, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			name := fmt.Sprintf(`t%d "x" . y, %%d 🦆`, k)
			q := func(rel string) string { return pgsql.Qualified(e.schema, rel) }
			opts := spec.Options{Upsert: c.upsert}
			from := e.seedKV(name, c.pk, opts, []any{1, "a"}, []any{2, "b"})
			view, mat := name+" v", name+" m"
			for _, sql := range []string{
				"CREATE VIEW " + q(view) + " AS SELECT * FROM " + q(name),
				"CREATE MATERIALIZED VIEW " + q(mat) + " AS SELECT count(*) AS n FROM " + q(name),
				"GRANT SELECT ON " + q(name) + ", " + q(view) + " TO PUBLIC",
				"GRANT INSERT, SELECT (v) ON " + q(name) + " TO " + pgsql.Ident(reader),
				"GRANT SELECT ON " + q(mat) + " TO " + pgsql.Ident(reader),
			} {
				e.exec(sql)
			}
			stored, acl := e.storage(name), e.acl(name)
			defs, grants := e.relations()
			views := []uint32{e.oid(view), e.oid(mat)}

			to := from
			to.Columns = append(append([]spec.Column{}, from.Columns...), c.added...)
			types := []arrow.DataType{i64, str, str, str}[:len(to.Columns)]
			b := batch{hwm: 2}
			if c.rows != nil {
				b.chunks = []chunk{{0, c.rows}}
			}
			src, log, err := e.ingest([]spec.Table{to}, opts, [][]arrow.DataType{types}, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.storage(name); got != stored {
				t.Errorf("the table was rewritten or replaced: %s, was %s", got, stored)
			}
			wantCols := []string{"id integer NOT NULL", "v text", `w "c", %s 🦆 text`, "x numeric(10,2)"}[:len(to.Columns)]
			if got := e.columns(name); !reflect.DeepEqual(got, wantCols) {
				t.Errorf("columns %q, want %q", got, wantCols)
			}
			if got := e.rows(name, to.ColumnNames(), "id, "+pgsql.Ident(w.Name)+" NULLS FIRST"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("rows %q, want %q", got, c.want)
			}
			if got := []uint32{e.oid(view), e.oid(mat)}; !reflect.DeepEqual(got, views) {
				t.Error("a view was recreated")
			}
			if defsAfter, grantsAfter := e.relations(); !reflect.DeepEqual(defsAfter, defs) || !reflect.DeepEqual(grantsAfter, grants) {
				t.Errorf("views and grants\n got %q %q\nwant %q %q", defsAfter, grantsAfter, defs, grants)
			}
			if got := e.acl(name); got != acl {
				t.Errorf("privileges %s, were %s", got, acl)
			}
			var n int
			if err := e.check.QueryRow(e.ctx, "SELECT n FROM "+q(mat)).Scan(&n); err != nil || n != len(c.want) {
				t.Errorf("the materialized view counts %d rows (%v), want %d", n, err, len(c.want))
			}
			if h := e.hwm(name); h != "2" {
				t.Errorf("high watermark %s", h)
			}
			added := w.Name
			if len(c.added) == 2 {
				added += ", x"
			}
			for _, line := range []string{"Ingesting via ADD COLUMN of " + added + " to " + e.schema + "." + name + ": no new ingest table",
				"Adding columns: " + pgsql.AddColumns(e.schema, name, c.added), "Refreshing materialized view " + q(mat)} {
				if !log.has(line) {
					t.Errorf("no log line %q in\n%s", line, strings.Join(log.lines, "\n"))
				}
			}
			if log.has("Ingesting via new ingest table") {
				t.Error("the table was rebuilt too")
			}
			if want := []string{"1:0:" + e.schema + "." + name}; !reflect.DeepEqual(src.visible, want) {
				t.Errorf("on_before_visible saw %q, want %q", src.visible, want)
			}
			e.noTmpTables()

			_, log, err = e.ingest([]spec.Table{to}, opts, [][]arrow.DataType{types}, batch{hwm: 3})
			if err != nil || e.storage(name) != stored || log.hasPrefix("Ingesting via") || log.hasPrefix("Adding columns") {
				t.Errorf("the next ingest changed the table (%v):\n%s", err, strings.Join(log.lines, "\n"))
			}
		})
	}
}

// TestAddColumnRebuildsOtherwise: other changes than nullable columns
// appended, or appended columns that ADD COLUMN would not add as a rebuild
// does, or that would build an index under its lock, still rebuild, as
// do tables that a rebuild turns into plain ones, and all when the user's
// on_before_visible would run under ADD COLUMN's lock.
func TestAddColumnRebuildsOtherwise(t *testing.T) {
	e := newEnv(t)
	wider := func(tbl *spec.Table, c spec.Column) { tbl.Columns = append(tbl.Columns, c) }
	w := spec.Column{Name: "w", Type: "TEXT", Nullable: true}
	cases := []struct {
		name    string
		create  string // the live table, when not made by an ingest; %s is its name
		change  func(*spec.Table)
		opts    spec.Options
		wantErr bool // the rebuild fails: the old rows have no value for the column
	}{
		{"not null", "", func(t *spec.Table) { wider(t, spec.Column{Name: "w", Type: "TEXT"}) }, spec.Options{}, true},
		{"primary key", "", func(t *spec.Table) { wider(t, spec.Column{Name: "w", Type: "TEXT", PrimaryKey: true}) }, spec.Options{}, true},
		{"unique", "", func(t *spec.Table) { wider(t, spec.Column{Name: "w", Type: "TEXT", Nullable: true, Unique: true}) }, spec.Options{}, false},
		{"indexed", "", func(t *spec.Table) { wider(t, w); t.Indexes = []spec.Index{{Columns: []string{"w"}}} }, spec.Options{}, false},
		{"and a type changed", "", func(t *spec.Table) { wider(t, w); t.Columns[1].Type = "VARCHAR(8)" }, spec.Options{}, false},
		{"and columns reordered", "", func(t *spec.Table) { t.Columns = []spec.Column{t.Columns[1], t.Columns[0], w} }, spec.Options{}, false},
		{"and an index added", "", func(t *spec.Table) { wider(t, w); t.Indexes = []spec.Index{{Columns: []string{"v"}}} }, spec.Options{}, false},
		{"delete before the first batch", "", func(t *spec.Table) { wider(t, w) }, spec.Options{Delete: spec.DeleteBeforeFirst}, false},
		{"a callback of the user's", "", func(t *spec.Table) { wider(t, w) }, spec.Options{OnBeforeVisible: true}, false},
		{"partitioned", "CREATE TABLE %[1]s (id INTEGER NOT NULL PRIMARY KEY, v TEXT) PARTITION BY RANGE (id); " +
			"CREATE TABLE %[2]s PARTITION OF %[1]s DEFAULT", func(t *spec.Table) { wider(t, w) }, spec.Options{}, false},
		{"inheriting", "CREATE TABLE %[2]s (id INTEGER NOT NULL); CREATE TABLE %[1]s (id INTEGER NOT NULL PRIMARY KEY, v TEXT) INHERITS (%[2]s)",
			func(t *spec.Table) { wider(t, w) }, spec.Options{}, false},
	}
	for k, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			name := fmt.Sprint("t", k)
			if c.create != "" {
				e.exec("CREATE SCHEMA IF NOT EXISTS " + pgsql.Ident(e.schema))
				e.exec(fmt.Sprintf(c.create, pgsql.Qualified(e.schema, name), pgsql.Qualified(e.schema, name+"_other")))
			}
			from := e.seedKV(name, true, spec.Options{}, []any{1, "a"})
			oid := e.oid(name)
			to := from
			to.Columns = append([]spec.Column{}, from.Columns...)
			c.change(&to)
			types := make([]arrow.DataType, len(to.Columns))
			row := make([]any, len(to.Columns))
			for i, col := range to.Columns {
				types[i], row[i] = str, "2"
				if col.Name == "id" {
					types[i], row[i] = i64, 2
				}
			}
			_, log, err := e.ingest([]spec.Table{to}, c.opts, [][]arrow.DataType{types}, batch{hwm: 2, chunks: []chunk{{0, [][]any{row}}}})
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want one: %v", err, c.wantErr)
			}
			if !log.has("Ingesting via new ingest table") || log.hasPrefix("Ingesting via ADD COLUMN") {
				t.Errorf("not rebuilt:\n%s", strings.Join(log.lines, "\n"))
			}
			if (e.oid(name) == oid) != c.wantErr {
				t.Errorf("rebuilt: %v, want %v", e.oid(name) != oid, !c.wantErr)
			}
			e.noTmpTables()
		})
	}
}

// TestAddColumnFailedBatchKeepsTable: a batch that fails after the ALTER
// (on_before_visible, a duplicate key moving the staged rows in) or
// before it (the source) leaves the table as it was: no new column, the
// same rows and high watermark. The next ingest adds the column.
func TestAddColumnFailedBatchKeepsTable(t *testing.T) {
	e := newEnv(t)
	failure := errors.New("on_before_visible failed")
	cases := []struct {
		name   string
		opts   spec.Options
		batch  batch
		before func(batch, table int) error
	}{
		{"on_before_visible", spec.Options{}, batch{hwm: 2, chunks: []chunk{{0, [][]any{{3, "c", "w"}}}}},
			func(int, int) error { return failure }},
		{"duplicate key", spec.Options{Upsert: spec.UpsertOff}, batch{hwm: 2, chunks: []chunk{{0, [][]any{{3, "c", "w"}, {1, "a", "w"}}}}}, nil},
		{"source", spec.Options{}, batch{hwm: 2, chunks: []chunk{{0, [][]any{{3, "c", "w"}}}, {0, [][]any{{4, "d", "w"}}}},
			failAt: 2, failErr: errors.New("the source failed")}, nil},
	}
	for k, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			name := fmt.Sprint("t", k)
			from := e.seedKV(name, true, spec.Options{}, []any{1, "a"}, []any{2, "b"})
			stored, cols, rows := e.storage(name), e.columns(name), e.rows(name, []string{"id", "v"}, "id")
			to := from
			to.Columns = append(append([]spec.Column{}, from.Columns...), spec.Column{Name: "w", Type: "TEXT", Nullable: true})
			types := [][]arrow.DataType{{i64, str, str}}
			e.before = c.before
			_, log, err := e.ingest([]spec.Table{to}, c.opts, types, c.batch)
			e.before = nil
			if err == nil {
				t.Fatal("the batch did not fail")
			}
			if c.name != "source" && !log.hasPrefix("Adding columns: ") {
				t.Errorf("failed before the ALTER: %v", err)
			}
			if e.storage(name) != stored || !reflect.DeepEqual(e.columns(name), cols) ||
				!reflect.DeepEqual(e.rows(name, []string{"id", "v"}, "id"), rows) || e.hwm(name) != "1" {
				t.Errorf("the failed batch changed the table: %q, %q", e.columns(name), e.rows(name, []string{"id", "v"}, "id"))
			}
			e.noTmpTables()
			if _, _, err := e.ingest([]spec.Table{to}, spec.Options{}, types, batch{hwm: 3, chunks: []chunk{{0, [][]any{{3, "c", "w"}}}}}); err != nil {
				t.Fatal(err)
			}
			if want := [][]string{{"1", "a", "<nil>"}, {"2", "b", "<nil>"}, {"3", "c", "w"}}; e.storage(name) != stored ||
				!reflect.DeepEqual(e.rows(name, []string{"id", "v", "w"}, "id"), want) {
				t.Errorf("then rows %q, want %q in place", e.rows(name, []string{"id", "v", "w"}, "id"), want)
			}
		})
	}
}

// TestAddColumnWaitsForReaders: a reader in an open transaction holds the
// table while the first batch wants to add a column. The ALTER waits as a
// swap does: in bounded waits, retried, so that other readers are held up
// for a moment at most; it goes on once the reader ends, or once force
// execute has terminated it; a lock_timeout of the session bounds it.
func TestAddColumnWaitsForReaders(t *testing.T) {
	const forceDelay = 700 * time.Millisecond
	cases := []struct {
		name        string
		force       bool          // force execute terminates the reader after forceDelay
		lockTimeout string        // SET on the ingest's session
		release     time.Duration // the reader commits after this; 0: never
	}{
		{"the reader ends", false, "", 700 * time.Millisecond},
		{"force execute", true, "", 0},
		{"lock_timeout", false, "400ms", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			forceLog := &logger{}
			e.force = func(conn *pgxconn.Conn) {
				conn.ForceDelay, conn.ForceInterval, conn.Logger = time.Minute, 50*time.Millisecond, forceLog
				if c.force {
					conn.ForceDelay = forceDelay
				}
			}
			from := e.seedKV("t", true, spec.Options{}, []any{1, "a"})
			stored := e.storage("t")
			q := pgsql.Qualified(e.schema, "t")
			holder, other := pgtest.Connect(t), pgtest.Connect(t)
			for _, sql := range []string{"BEGIN", "SELECT count(*) FROM " + q} {
				if _, err := holder.Exec(e.ctx, sql); err != nil {
					t.Fatal(err)
				}
			}
			if c.lockTimeout != "" {
				if _, err := e.conn.Exec(e.ctx, "SET lock_timeout = '"+c.lockTimeout+"'"); err != nil {
					t.Fatal(err)
				}
			}
			to := from
			to.Columns = append(append([]spec.Column{}, from.Columns...), spec.Column{Name: "w", Type: "TEXT", Nullable: true})
			type result struct {
				log *logger
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				_, log, err := e.ingest([]spec.Table{to}, spec.Options{}, [][]arrow.DataType{{i64, str, str}},
					batch{hwm: 2, chunks: []chunk{{0, [][]any{{2, "b", "w"}}}}})
				done <- result{log, err}
			}()
			// While the ALTER waits, other readers get through, if at most a
			// bounded wait later.
			time.Sleep(150 * time.Millisecond)
			longest := time.Duration(0)
			for range 5 {
				ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
				began := time.Now()
				_, err := other.Exec(ctx, "SELECT count(*) FROM "+q)
				cancel()
				if err != nil {
					t.Fatalf("a reader failed while the ALTER waited: %v", err)
				}
				longest = max(longest, time.Since(began))
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("the longest of 5 reads while the ALTER waited took %s", longest)
			if longest > time.Second {
				t.Errorf("a reader waited %s for the ALTER", longest)
			}
			if c.release > 0 {
				time.Sleep(time.Until(start.Add(c.release)))
				if _, err := holder.Exec(e.ctx, "COMMIT"); err != nil {
					t.Fatal(err)
				}
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the ingest did not end")
			}
			took := time.Since(start)
			if !r.log.has("Waiting for readers of " + e.schema + ".t: retrying ADD COLUMN's locks (attempt 2)") {
				t.Errorf("no retry logged:\n%s", strings.Join(r.log.lines, "\n"))
			}
			if c.lockTimeout != "" {
				var pe *pgconn.PgError
				if !errors.As(r.err, &pe) || pe.Code != "55P03" {
					t.Fatalf("got %v, want a lock timeout", r.err)
				}
				if took > 3*time.Second {
					t.Errorf("gave up after %s", took)
				}
				if got := e.columns("t"); len(got) != 2 {
					t.Errorf("columns %q after the timeout", got)
				}
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			wait := c.release
			if c.force {
				wait = forceDelay
			}
			if took < wait {
				t.Errorf("the ingest ended after %s, before the reader (%s)", took, wait)
			}
			if _, err := holder.Exec(e.ctx, "SELECT 1"); (err != nil) != c.force {
				t.Errorf("the reader's session, force execute %v: %v", c.force, err)
			}
			if c.force && !forceLog.hasPrefix("Cancelled blocking query ") {
				t.Errorf("force execute's log %q", forceLog.lines)
			}
			want := [][]string{{"1", "a", "<nil>"}, {"2", "b", "w"}}
			if got := e.rows("t", []string{"id", "v", "w"}, "id"); e.storage("t") != stored || !reflect.DeepEqual(got, want) {
				t.Errorf("rows %q, want %q in place", got, want)
			}
		})
	}
}

// TestAddColumnLargeBatchRebuilds: a first batch of more rows than ADD
// COLUMN takes in under its lock rebuilds the table instead, from the
// staged rows, to the same rows; one of as many goes in place.
func TestAddColumnLargeBatchRebuilds(t *testing.T) {
	e := newEnv(t)
	const limit = 10_000
	for k, c := range []struct {
		name    string
		rows    int
		upsert  string
		inPlace bool
	}{
		{"at the limit", limit, spec.UpsertIfPrimaryKey, true},
		{"over it, upsert", limit + 1, spec.UpsertIfPrimaryKey, false},
		{"over it, no upsert", limit + 1, spec.UpsertOff, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			name := fmt.Sprint("t", k)
			from := e.seedKV(name, true, spec.Options{}, []any{0, "old"}, []any{1, "old"})
			stored := e.storage(name)
			to := from
			to.Columns = append(append([]spec.Column{}, from.Columns...), spec.Column{Name: "w", Type: "TEXT", Nullable: true})
			rows := make([][]any, c.rows)
			for r := range rows {
				rows[r] = []any{r + 1, "new", "w"} // from key 1, which is there
			}
			if c.upsert == spec.UpsertOff {
				for r := range rows {
					rows[r][0] = r + 2
				}
			}
			_, log, err := e.ingest([]spec.Table{to}, spec.Options{Upsert: c.upsert}, [][]arrow.DataType{{i64, str, str}},
				batch{hwm: 2, chunks: []chunk{{0, rows}}})
			if err != nil {
				t.Fatal(err)
			}
			if inPlace := e.storage(name) == stored; inPlace != c.inPlace {
				t.Fatalf("in place: %v, want %v:\n%s", inPlace, c.inPlace, strings.Join(log.lines, "\n"))
			}
			if !c.inPlace && !log.has(fmt.Sprintf("More than %d rows for %s.%s in the batch: too many to add the columns in place, under ADD COLUMN's lock", limit, e.schema, name)) {
				t.Errorf("no line says why:\n%s", strings.Join(log.lines, "\n"))
			}
			var n, old, withW int
			if err := e.check.QueryRow(e.ctx, "SELECT count(*), count(*) FILTER (WHERE v = 'old'), count(w) FROM "+pgsql.Qualified(e.schema, name)).
				Scan(&n, &old, &withW); err != nil {
				t.Fatal(err)
			}
			wantOld := 1 // key 0; key 1 replaced by the upsert
			if c.upsert == spec.UpsertOff {
				wantOld = 2
			}
			if n != wantOld+c.rows || old != wantOld || withW != c.rows || e.hwm(name) != "2" {
				t.Errorf("%d rows, %d old, %d with w; want %d, %d, %d", n, old, withW, wantOld+c.rows, wantOld, c.rows)
			}
			if _, defs := e.indexes(name); len(defs) != 0 {
				t.Errorf("indexes %q", defs)
			}
			e.noTmpTables()
		})
	}
}
