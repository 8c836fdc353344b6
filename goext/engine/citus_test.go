package engine_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// newCitusEnv is newEnv on the Citus cluster of CITUS_DATABASE_URL
// (python3 tests/citus_cluster.py start, then url, makes one), with the
// schema created.
func newCitusEnv(t *testing.T) *env {
	url := os.Getenv("CITUS_DATABASE_URL")
	if url == "" {
		t.Skip("CITUS_DATABASE_URL not set: python3 tests/citus_cluster.py start builds and starts a local Citus cluster, url prints it")
	}
	t.Setenv("DATABASE_URL", url)
	e := newEnv(t)
	e.exec("CREATE SCHEMA " + pgsql.Ident(e.schema))
	return e
}

// placement is how Citus spreads a table: its type as citus_tables
// names it, its distribution column, colocation group and the number of
// nodes holding its shards.
type placement struct {
	kind, column string
	colocation   int
	nodes        int
}

func (e *env) placement(table string) placement {
	e.t.Helper()
	var p placement
	if err := e.check.QueryRow(e.ctx, `SELECT citus_table_type, distribution_column, colocation_id,
		(SELECT count(DISTINCT nodeport) FROM citus_shards s WHERE s.table_name = c.table_name)::int
		FROM citus_tables c WHERE table_name = format('%I.%I', $1::text, $2::text)::regclass`, e.schema, table).
		Scan(&p.kind, &p.column, &p.colocation, &p.nodes); err != nil {
		e.t.Fatalf("placement of %s: %v", table, err)
	}
	return p
}

// citusKV creates the kv table name, spreads it with the statement
// distribute (the table's qualified name its $1) and ingests rows ks.
func (e *env) citusKV(name, distribute string, ks ...int) spec.Table {
	e.t.Helper()
	s := pgsql.Qualified(e.schema, name)
	e.exec("CREATE TABLE " + s + " (id integer PRIMARY KEY, v text)")
	e.exec(distribute, s)
	tbl := kv(e.schema, name, true)
	if err := e.ingestRows(tbl, spec.Options{}, ks...); err != nil {
		e.t.Fatal(err)
	}
	return tbl
}

// TestCitusRebuildKeepsDistribution: a distributed table's migrations and
// Delete.BEFORE_FIRST_BATCH keep it distributed on its column, colocated
// with the table its view joins, its shards on both workers; its view
// comes back.
func TestCitusRebuildKeepsDistribution(t *testing.T) {
	e := newCitusEnv(t)
	tbl := evolving(e.schema, "t")
	s := pgsql.Qualified(e.schema, "t")
	e.exec("CREATE TABLE " + s + " (id integer PRIMARY KEY, v varchar(16), n integer, doc jsonb)")
	e.exec("CREATE INDEX ON " + s + " (n)")
	e.exec("SELECT create_distributed_table($1, 'id')", s)
	c := pgsql.Qualified(e.schema, "c")
	e.exec("CREATE TABLE " + c + " (id integer, w text)")
	e.exec("SELECT create_distributed_table($1, 'id', colocate_with => $2)", c, s)
	e.exec("INSERT INTO " + c + " VALUES (1, 'w1'), (2, 'w2')")
	e.exec("CREATE VIEW " + pgsql.Qualified(e.schema, "j") + " AS SELECT t.id, t.v, c.w FROM " + s + " t JOIN " + c + " c USING (id)")
	want := e.placement("c")
	want.kind, want.column = "distributed", "id"

	if err := e.ingestRows(tbl, spec.Options{}, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if got := e.placement("t"); got != want {
		t.Fatalf("after an upsert: %+v, want %+v", got, want)
	}
	tbl.Columns = append(tbl.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
	tbl.Indexes = append(tbl.Indexes, spec.Index{Columns: []string{"w"}}) // else added in place
	if err := e.ingestRows(tbl, spec.Options{}, 3, 4); err != nil {
		t.Fatal(err)
	}
	if got := e.placement("t"); got != want {
		t.Fatalf("after a migration: %+v, want %+v", got, want)
	}
	if got := e.rows("t", []string{"id", "w"}, "id"); len(got) != 4 || got[3][1] != "w4" {
		t.Fatalf("rows after a migration: %v", got)
	}
	if got := e.rows("j", []string{"id", "w"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "w1"}, {"2", "w2"}}) {
		t.Fatalf("view after a migration: %v", got)
	}
	if err := e.ingestRows(tbl, spec.Options{Delete: spec.DeleteBeforeFirst}, 7); err != nil {
		t.Fatal(err)
	}
	if got := e.placement("t"); got != want {
		t.Fatalf("after Delete.BEFORE_FIRST_BATCH: %+v, want %+v", got, want)
	}
	if got := e.rows("t", []string{"id"}, "id"); !reflect.DeepEqual(got, [][]string{{"7"}}) {
		t.Fatalf("rows after Delete.BEFORE_FIRST_BATCH: %v", got)
	}
	e.noTmpTables()
}

// TestCitusReferenceTableMigrated: a reference table stays one.
func TestCitusReferenceTableMigrated(t *testing.T) {
	e := newCitusEnv(t)
	tbl := e.citusKV("r", "SELECT create_reference_table($1)", 1, 2)
	tbl.Columns = append(tbl.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
	tbl.Indexes = []spec.Index{{Columns: []string{"w"}}} // else added in place
	if err := e.ingestRows(tbl, spec.Options{}, 3); err != nil {
		t.Fatal(err)
	}
	if got := e.placement("r"); got.kind != "reference" || got.nodes < 3 {
		t.Fatalf("after a migration: %+v, want a reference table on every node", got)
	}
	if got := e.rows("r", []string{"id"}, "id"); len(got) != 3 {
		t.Fatalf("rows after a migration: %v", got)
	}
}

// TestCitusUnsupportedShapeRefused: a wanted unique column other than the
// distribution column is refused before loading, the table left as it was.
func TestCitusUnsupportedShapeRefused(t *testing.T) {
	e := newCitusEnv(t)
	tbl := e.citusKV("t", "SELECT create_distributed_table($1, 'id')", 1)
	before := e.placement("t")
	tbl.Columns[1].Unique = true
	err := e.ingestRows(tbl, spec.Options{}, 2)
	if err == nil || !strings.Contains(err.Error(), `is distributed by Citus on column "id"`) || !strings.Contains(err.Error(), `"v" is unique`) {
		t.Fatalf("err = %v, want a refusal naming the distribution column and the unique column", err)
	}
	if got := e.placement("t"); got != before {
		t.Fatalf("after the refusal: %+v, want %+v", got, before)
	}
	e.noTmpTables()
}

// TestCitusAddColumnInPlace: columns appended to a Citus table go onto its
// every shard, in place: the table keeps its OID and its distribution,
// and a view joining it to a colocated table works on. A batch failing
// after the ALTER leaves no shard with the column.
func TestCitusAddColumnInPlace(t *testing.T) {
	for _, c := range []struct{ name, distribute string }{
		{"distributed", "SELECT create_distributed_table($1, 'id')"},
		{"reference", "SELECT create_reference_table($1)"},
		{"local", "SELECT citus_add_local_table_to_metadata($1)"},
		{"schema", ""}, // the schema is distributed, before its table is made
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newCitusEnv(t)
			distribute := c.distribute
			if distribute == "" {
				e.exec("SELECT citus_schema_distribute($1)", pgsql.Ident(e.schema))
				distribute = "SELECT $1::text"
			}
			tbl := e.citusKV("t", distribute, 1, 2)
			s := pgsql.Qualified(e.schema, "t")
			e.exec("CREATE VIEW " + pgsql.Qualified(e.schema, "j") + " AS SELECT id, v FROM " + s)
			oid, before := e.oid("t"), e.placement("t")
			tbl.Columns = append(tbl.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
			b := batch{hwm: 2, chunks: []chunk{{0, [][]any{{2, "b", "w2"}, {3, "c", "w3"}}}}}
			_, log, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{{i64, str, str}}, b)
			if err != nil {
				t.Fatal(err)
			}
			if !log.hasPrefix("Ingesting via ADD COLUMN of w to ") || e.oid("t") != oid || e.placement("t") != before {
				t.Fatalf("not in place, or the distribution changed: %+v, was %+v", e.placement("t"), before)
			}
			want := [][]string{{"1", "v1", "<nil>"}, {"2", "b", "w2"}, {"3", "c", "w3"}}
			if got := e.rows("t", []string{"id", "v", "w"}, "id"); !reflect.DeepEqual(got, want) {
				t.Errorf("rows %q, want %q", got, want)
			}
			if got := e.rows("j", []string{"id"}, "id"); len(got) != 3 {
				t.Errorf("the view reads %q", got)
			}
			// How many of the table's placements have the column, of how many.
			placementsWith := func(column string) (with, all int) {
				var counts []string
				if err := e.check.QueryRow(e.ctx, `SELECT array_agg(result) FROM run_command_on_placements($1::regclass,
					format('SELECT count(*) FROM pg_attribute WHERE attrelid = %L::regclass AND attname = %L AND NOT attisdropped', '%s', $2::text))`,
					s, column).Scan(&counts); err != nil {
					t.Fatal(err)
				}
				for _, n := range counts {
					if n == "1" {
						with++
					}
				}
				return with, len(counts)
			}
			if with, all := placementsWith("w"); all == 0 || with != all {
				t.Errorf("%d of %d placements have the column", with, all)
			}

			tbl.Columns = append(tbl.Columns, spec.Column{Name: "x", Type: "TEXT", Nullable: true})
			e.before = func(int, int) error { return errors.New("on_before_visible failed") }
			b = batch{hwm: 3, chunks: []chunk{{0, [][]any{{4, "d", "w4", "x4"}}}}}
			_, log, err = e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{{i64, str, str, str}}, b)
			e.before = nil
			if err == nil || !log.hasPrefix("Adding columns: ") {
				t.Fatalf("the batch did not fail after the ALTER: %v", err)
			}
			if with, all := placementsWith("x"); all == 0 || with != 0 {
				t.Errorf("%d of %d placements have the column after the failed batch", with, all)
			}
			if got := e.rows("t", []string{"id", "v", "w"}, "id"); !reflect.DeepEqual(got, want) {
				t.Errorf("rows %q after the failed batch, want %q", got, want)
			}
			e.noTmpTables()
		})
	}
}

// TestCitusAddColumnLargeBatchRebuilds: a distributed table whose first
// batch is too large to add its column in place is rebuilt from the
// staged rows, distributed as before, also after the batch loaded another
// distributed table in parallel.
func TestCitusAddColumnLargeBatchRebuilds(t *testing.T) {
	e := newCitusEnv(t)
	other := e.citusKV("u", "SELECT create_distributed_table($1, 'id')", 1)
	tbl := e.citusKV("t", "SELECT create_distributed_table($1, 'id')", 1)
	oid, before := e.oid("t"), e.placement("t")
	tbl.Columns = append(tbl.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
	rows := make([][]any, 10_001)
	for r := range rows {
		rows[r] = []any{r + 2, "new", "w"}
	}
	b := batch{hwm: 2, chunks: []chunk{{0, [][]any{{2, "u2"}, {3, "u3"}}}, {1, rows}}}
	_, log, err := e.ingest([]spec.Table{other, tbl}, spec.Options{}, [][]arrow.DataType{kvTypes, {i64, str, str}}, b)
	if err != nil {
		t.Fatal(err)
	}
	if e.oid("t") == oid || !log.hasPrefix("More than 10000 rows for ") || e.placement("t") != before {
		t.Fatalf("not rebuilt, or not distributed as before: %+v, was %+v", e.placement("t"), before)
	}
	var n, withW int
	if err := e.check.QueryRow(e.ctx, "SELECT count(*), count(w) FROM "+pgsql.Qualified(e.schema, "t")).Scan(&n, &withW); err != nil {
		t.Fatal(err)
	}
	if n != 10_002 || withW != 10_001 || len(e.rows("u", []string{"id"}, "id")) != 3 {
		t.Errorf("%d rows in t, %d with w; %d in u", n, withW, len(e.rows("u", []string{"id"}, "id")))
	}
	e.noTmpTables()
}
