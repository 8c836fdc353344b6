package engine_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

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
