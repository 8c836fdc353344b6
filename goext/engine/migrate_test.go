package engine_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// evolving is the table that the schema evolution tests change: every
// column's value in row k follows from its name, whatever its type.
func evolving(schema, name string) spec.Table {
	return spec.Table{Schema: schema, Name: name, Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true},
		{Name: "v", Type: "VARCHAR(16)", Nullable: true},
		{Name: "n", Type: "INTEGER", Nullable: true},
		{Name: "doc", Type: "JSONB", Nullable: true},
	}, Indexes: []spec.Index{{Columns: []string{"n"}}}}
}

// valueText is column name's value in row k, as the server prints it.
func valueText(name string, k int) string {
	switch name {
	case "id":
		return fmt.Sprint(k)
	case "n":
		return fmt.Sprint(k * 10)
	case "doc":
		return fmt.Sprintf(`{"k": %d}`, k)
	}
	return name + fmt.Sprint(k)
}

// evolvingBatch is a batch of rows ks of tbl.
func evolvingBatch(tbl spec.Table, hwm any, ks ...int) (batch, [][]arrow.DataType) {
	types := make([]arrow.DataType, len(tbl.Columns))
	var rows [][]any
	for c, col := range tbl.Columns {
		types[c] = str
		if strings.Contains(col.Type, "INT") {
			types[c] = i64
		}
	}
	for _, k := range ks {
		row := make([]any, len(tbl.Columns))
		for c, col := range tbl.Columns {
			row[c] = valueText(col.Name, k)
			if types[c] == i64 {
				var n int
				fmt.Sscan(valueText(col.Name, k), &n) //nolint:errcheck
				row[c] = n
			}
		}
		rows = append(rows, row)
	}
	return batch{hwm: hwm, chunks: []chunk{{0, rows}}}, [][]arrow.DataType{types}
}

// ingestRows ingests rows ks into tbl in one batch.
func (e *env) ingestRows(tbl spec.Table, opts spec.Options, ks ...int) error {
	e.t.Helper()
	b, types := evolvingBatch(tbl, len(ks), ks...)
	_, _, err := e.ingest([]spec.Table{tbl}, opts, types, b)
	return err
}

// indexes lists a table's indexes that no constraint owns, as "name:
// definition without the name".
func (e *env) indexes(table string) (names, defs []string) {
	e.t.Helper()
	r, err := e.check.Query(e.ctx, `SELECT c.relname::text, regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX .* USING ', '\1')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass
		AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`, e.schema, table)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var n, d string
		if err := r.Scan(&n, &d); err != nil {
			e.t.Fatal(err)
		}
		names, defs = append(names, n), append(defs, d)
	}
	sort.Strings(defs)
	return names, defs
}

func TestSchemaEvolution(t *testing.T) {
	e := newEnv(t)
	change := func(f func(*spec.Table)) func(*spec.Table) { return f }
	col := func(t *spec.Table, name string) *spec.Column {
		for i := range t.Columns {
			if t.Columns[i].Name == name {
				return &t.Columns[i]
			}
		}
		panic(name)
	}
	cases := []struct {
		name    string
		change  func(*spec.Table)
		indexes []string // wanted index definitions after the change
	}{
		{"added indexed column", change(func(t *spec.Table) { // without an index: added in place (addcolumn_test.go)
			t.Columns = append(t.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
			t.Indexes = append(t.Indexes, spec.Index{Columns: []string{"w"}})
		}), []string{"btree (n)", "btree (w)"}},
		{"removed column", change(func(t *spec.Table) { t.Columns = t.Columns[:3] }), []string{"btree (n)"}},
		{"longer varchar", change(func(t *spec.Table) { col(t, "v").Type = "VARCHAR(32)" }), []string{"btree (n)"}},
		{"integer to bigint", change(func(t *spec.Table) { col(t, "n").Type = "BIGINT" }), []string{"btree (n)"}},
		{"integer to text", change(func(t *spec.Table) { col(t, "n").Type = "TEXT" }), []string{"btree (n)"}},
		{"jsonb to json", change(func(t *spec.Table) { col(t, "doc").Type = "JSON" }), []string{"btree (n)"}},
		{"not null", change(func(t *spec.Table) { col(t, "v").Nullable = false }), []string{"btree (n)"}},
		{"column order", change(func(t *spec.Table) { t.Columns[1], t.Columns[2] = t.Columns[2], t.Columns[1] }), []string{"btree (n)"}},
		{"wider primary key", change(func(t *spec.Table) { c := col(t, "n"); c.PrimaryKey, c.Nullable = true, false }), []string{"btree (n)"}},
		{"unique column", change(func(t *spec.Table) { col(t, "v").Unique = true }), []string{"btree (n)"}},
		{"index removed", change(func(t *spec.Table) { t.Indexes = nil }), nil},
		{"index added", change(func(t *spec.Table) { t.Indexes = append(t.Indexes, spec.Index{Columns: []string{"v"}}) }),
			[]string{"btree (n)", "btree (v)"}},
		{"index made unique", change(func(t *spec.Table) { t.Indexes[0].Unique = true }), []string{"UNIQUE btree (n)"}},
		{"multi-column index", change(func(t *spec.Table) { t.Indexes[0].Columns = []string{"n", "v"} }), []string{"btree (n, v)"}},
		{"index include", change(func(t *spec.Table) { t.Indexes[0].Include = []string{"v"} }), []string{"btree (n) INCLUDE (v)"}},
		{"gin index", change(func(t *spec.Table) { t.Indexes = append(t.Indexes, spec.Index{Columns: []string{"doc"}, Using: "gin"}) }),
			[]string{"btree (n)", "gin (doc)"}},
	}
	for k, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			name := fmt.Sprint("t", k)
			from := evolving(e.schema, name)
			to := evolving(e.schema, name)
			to.Indexes = slices.Clone(to.Indexes)
			c.change(&to)
			if err := e.ingestRows(from, spec.Options{}, 1, 2); err != nil {
				t.Fatal(err)
			}
			oid := e.oid(name)
			if err := e.ingestRows(from, spec.Options{}, 3); err != nil {
				t.Fatal(err)
			}
			if e.oid(name) != oid {
				t.Fatal("rebuilt though unchanged")
			}
			before, _ := e.indexes(name)
			if err := e.ingestRows(to, spec.Options{}, 4); err != nil {
				t.Fatal(err)
			}
			changed := e.oid(name)
			if changed == oid {
				t.Fatal("not rebuilt after the change")
			}
			if err := e.ingestRows(to, spec.Options{}, 5); err != nil {
				t.Fatal(err)
			}
			if e.oid(name) != changed {
				t.Fatal("rebuilt a second time")
			}
			// Rows of before the change keep the columns that remain.
			cols := to.ColumnNames()
			var want [][]string
			for k := 1; k <= 5; k++ {
				row := make([]string, len(cols))
				for i, n := range cols {
					row[i] = valueText(n, k)
					if k < 4 && !slices.Contains(from.ColumnNames(), n) {
						row[i] = "<nil>"
					}
				}
				want = append(want, row)
			}
			if got := e.rows(name, cols, "id"); !reflect.DeepEqual(got, want) {
				t.Errorf("rows %q, want %q", got, want)
			}
			names, defs := e.indexes(name)
			if !reflect.DeepEqual(defs, c.indexes) {
				t.Errorf("indexes %q, want %q", defs, c.indexes)
			}
			for _, n := range names {
				if !strings.HasPrefix(n, "_tmp_") || slices.Contains(before, n) {
					t.Errorf("index name %s is not a fresh one", n)
				}
			}
			e.noTmpTables()
		})
	}
}

// TestNoRebuildWhenUnchanged covers definitions that upstream rebuilds
// every time: unique columns, and unique, GIN and INCLUDE indexes.
func TestNoRebuildWhenUnchanged(t *testing.T) {
	e := newEnv(t)
	tbl := evolving(e.schema, "t")
	tbl.Columns[1].Unique = true
	tbl.Columns = append(tbl.Columns,
		spec.Column{Name: "ts", Type: "TIMESTAMP WITH TIME ZONE", Nullable: true},
		spec.Column{Name: "num", Type: "NUMERIC(10, 2)", Nullable: true},
		spec.Column{Name: "arr", Type: "INTEGER[]", Nullable: true})
	tbl.Indexes = []spec.Index{{Columns: []string{"n"}, Unique: true}, {Columns: []string{"doc"}, Using: "GIN"},
		{Columns: []string{"n", "v"}, Include: []string{"doc"}}, {Columns: []string{"ts"}}}
	types := [][]arrow.DataType{{i64, str, i64, str, str, str, str}}
	oid := uint32(0)
	for round := 0; round < 3; round++ {
		if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, types, batch{hwm: round, chunks: []chunk{{0, [][]any{
			{round, fmt.Sprint("v", round), round, `{}`, "2024-01-01 00:00:00+00", "1.5", "{1,2}"}}}}}); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			oid = e.oid("t")
		} else if e.oid("t") != oid {
			t.Fatalf("round %d rebuilt the table", round)
		}
	}
	_, defs := e.indexes("t")
	want := []string{"UNIQUE btree (n)", "btree (n, v) INCLUDE (doc)", "btree (ts)", "gin (doc)"}
	if !reflect.DeepEqual(defs, want) {
		t.Errorf("indexes %q, want %q", defs, want)
	}

	// A unique index that stands for a column's UNIQUE counts as it.
	e.exec("CREATE TABLE " + pgsql.Qualified(e.schema, "u") + " (id INTEGER PRIMARY KEY, v VARCHAR(16))")
	e.exec("CREATE UNIQUE INDEX ON " + pgsql.Qualified(e.schema, "u") + " (v)")
	u := spec.Table{Schema: e.schema, Name: "u", Columns: []spec.Column{{Name: "id", Type: "INTEGER", PrimaryKey: true},
		{Name: "v", Type: "VARCHAR(16)", Nullable: true, Unique: true}}}
	oid = e.oid("u")
	if err := e.ingestRows(u, spec.Options{}, 1); err != nil {
		t.Fatal(err)
	}
	if e.oid("u") != oid {
		t.Error("a unique index on the column alone did not count as its UNIQUE")
	}
}

func TestFailedMigrationKeepsTable(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		change func(*spec.Table)
	}{
		{"value too long", func(t *spec.Table) { t.Columns[1].Type = "VARCHAR(1)" }},
		{"no assignment cast", func(t *spec.Table) { t.Columns[1].Type = "INTEGER" }},
		{"null in a not null column", func(t *spec.Table) {
			t.Columns = append(t.Columns, spec.Column{Name: "w", Type: "TEXT"})
		}},
	}
	for k, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			name := fmt.Sprint("t", k)
			from := evolving(e.schema, name)
			if err := e.ingestRows(from, spec.Options{}, 1, 2); err != nil {
				t.Fatal(err)
			}
			oid, rows, hwm := e.oid(name), e.rows(name, from.ColumnNames(), "id"), e.hwm(name)
			to := evolving(e.schema, name)
			c.change(&to)
			if err := e.ingestRows(to, spec.Options{}, 3); err == nil {
				t.Fatal("the migration did not fail")
			}
			if e.oid(name) != oid || !reflect.DeepEqual(e.rows(name, from.ColumnNames(), "id"), rows) || e.hwm(name) != hwm {
				t.Error("the failed migration changed the table")
			}
			e.noTmpTables()
		})
	}
}

// TestNoBatchesNoMigration: an ingest without batches neither migrates
// nor deletes.
func TestNoBatchesNoMigration(t *testing.T) {
	e := newEnv(t)
	from := evolving(e.schema, "t")
	if err := e.ingestRows(from, spec.Options{}, 1); err != nil {
		t.Fatal(err)
	}
	oid := e.oid("t")
	to := evolving(e.schema, "t")
	to.Columns = append(to.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
	_, types := evolvingBatch(to, nil)
	if _, _, err := e.ingest([]spec.Table{to}, spec.Options{Delete: spec.DeleteBeforeFirst}, types); err != nil {
		t.Fatal(err)
	}
	if e.oid("t") != oid || len(e.rows("t", from.ColumnNames(), "id")) != 1 || e.hwm("t") != "1" {
		t.Error("an ingest without batches changed the table")
	}
}

// TestSwapKeepsComment: the high watermark lives in the first table's
// comment, which a swap of that table carries over with its other keys.
func TestSwapKeepsComment(t *testing.T) {
	e := newEnv(t)
	first, second := evolving(e.schema, "a"), evolving(e.schema, "b")
	b, types := evolvingBatch(first, 1, 1)
	types = append(types, types[0])
	if _, _, err := e.ingest([]spec.Table{first, second}, spec.Options{}, types, b); err != nil {
		t.Fatal(err)
	}
	e.exec("COMMENT ON TABLE " + pgsql.Qualified(e.schema, "a") + ` IS '{"other": [1], "pg-bulk-ingest": {"high-watermark": 1, "kept": true}}'`)
	oidA, oidB := e.oid("a"), e.oid("b")
	first.Columns[1].Type = "TEXT"
	b.hwm = 2
	src, _, err := e.ingest([]spec.Table{first, second}, spec.Options{}, types, b)
	if err != nil {
		t.Fatal(err)
	}
	if string(src.stored) != "1" || e.oid("a") == oidA || e.oid("b") != oidB {
		t.Fatalf("stored %s; swapped a: %v, b: %v", src.stored, e.oid("a") != oidA, e.oid("b") != oidB)
	}
	if c := e.comment("a"); c == nil || *c != `{"other": [1], "pg-bulk-ingest": {"high-watermark": 2, "kept": true}}` {
		t.Errorf("comment %v", c)
	}
}
