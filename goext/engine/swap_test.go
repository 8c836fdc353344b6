package engine_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// role creates a role with a name that needs quoting, dropped at the end
// of the test with what it holds.
func (e *env) role(prefix string) string {
	e.t.Helper()
	name := pgtest.Name(prefix + ` "r", %s 🦆 `)
	e.exec("CREATE ROLE " + pgsql.Ident(name))
	e.t.Cleanup(func() {
		for _, sql := range []string{"DROP OWNED BY " + pgsql.Ident(name) + " CASCADE", "DROP ROLE " + pgsql.Ident(name)} {
			if _, err := e.check.Exec(e.ctx, sql); err != nil {
				e.t.Errorf("%s: %v", sql, err)
			}
		}
	})
	return name
}

// relations describes the schema's views and tables: definitions of
// views, and who may SELECT each relation (PUBLIC as "-"), its owner
// aside. Names need no quoting in the result.
func (e *env) relations() (defs, grants map[string]string) {
	e.t.Helper()
	defs, grants = map[string]string{}, map[string]string{}
	r, err := e.check.Query(e.ctx, `SELECT c.relname::text, COALESCE(pg_get_viewdef(c.oid), ''),
		COALESCE((SELECT string_agg(CASE WHEN a.grantee = 0 THEN '-' ELSE a.grantee::regrole::text END, ',' ORDER BY a.grantee::regrole::text)
			FROM aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) a
			WHERE a.privilege_type = 'SELECT' AND a.grantee <> c.relowner), '')
		FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'v', 'm')`, pgsql.Ident(e.schema))
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var name, def, grantees string
		if err := r.Scan(&name, &def, &grantees); err != nil {
			e.t.Fatal(err)
		}
		defs[name], grants[name] = def, grantees
	}
	if err := r.Err(); err != nil {
		e.t.Fatal(err)
	}
	return defs, grants
}

// TestSwapKeepsViewsAndGrants swaps a table that views, a view on a view,
// a materialized view and a cycle of views read, all with names that
// need quoting, and that roles and PUBLIC may read.
func TestSwapKeepsViewsAndGrants(t *testing.T) {
	e := newEnv(t)
	e.schema += ` "s".x, %s 🦆`
	t.Cleanup(func() { e.exec("DROP SCHEMA IF EXISTS " + pgsql.Ident(e.schema) + " CASCADE") })
	reader, owner := e.role("pbi reader"), e.role("pbi owner")
	tbl := evolving(e.schema, `t "x" . y, %d 🦆`)
	if err := e.ingestRows(tbl, spec.Options{}, 1, 2); err != nil {
		t.Fatal(err)
	}
	q := func(name string) string { return pgsql.Qualified(e.schema, name) }
	v1, v2, m1, c1, c2, vo, vd := `v1 "a". b, % 🦆`, "v2 on v1", "m1 mat, %s", "c1", "c2", "owned", "owned default"
	for _, sql := range []string{
		"GRANT SELECT ON " + q(tbl.Name) + " TO " + pgsql.Ident(reader) + ", PUBLIC",
		"CREATE VIEW " + q(v1) + ` AS SELECT id, v AS "v, ""q""" FROM ` + q(tbl.Name),
		"GRANT SELECT ON " + q(v1) + " TO " + pgsql.Ident(reader) + ", PUBLIC",
		"CREATE VIEW " + q(v2) + " AS SELECT id FROM " + q(v1) + " WHERE id > 0",
		"CREATE MATERIALIZED VIEW " + q(m1) + " AS SELECT count(*) AS n FROM " + q(v2),
		"GRANT SELECT ON " + q(m1) + " TO " + pgsql.Ident(reader),
		"CREATE VIEW " + q(c1) + " AS SELECT id FROM " + q(tbl.Name),
		"CREATE VIEW " + q(c2) + " AS SELECT id FROM " + q(c1),
		"CREATE OR REPLACE VIEW " + q(c1) + " AS SELECT id FROM " + q(tbl.Name) + " UNION ALL SELECT id FROM " + q(c2),
		"CREATE VIEW " + q(vo) + " AS SELECT v::varchar(3) COLLATE \"C\" AS v FROM " + q(tbl.Name),
		"CREATE VIEW " + q(vd) + " AS SELECT n FROM " + q(tbl.Name),
		"GRANT USAGE ON SCHEMA " + pgsql.Ident(e.schema) + " TO " + pgsql.Ident(owner),
		"ALTER VIEW " + q(vo) + " OWNER TO " + pgsql.Ident(owner),
		"ALTER VIEW " + q(vd) + " OWNER TO " + pgsql.Ident(owner),
		"SET ROLE " + pgsql.Ident(owner),
		"GRANT SELECT ON " + q(vo) + " TO " + pgsql.Ident(reader),
		"RESET ROLE",
	} {
		e.exec(sql)
	}
	defs, grants := e.relations()

	// Unchanged: nothing is swapped.
	oid := e.oid(v1)
	if err := e.ingestRows(tbl, spec.Options{}, 3); err != nil {
		t.Fatal(err)
	}
	if e.oid(v1) != oid {
		t.Fatal("views recreated though the table was kept")
	}
	tbl.Columns = append(tbl.Columns, spec.Column{Name: "w", Type: "TEXT", Nullable: true})
	tbl.Indexes = append(tbl.Indexes, spec.Index{Columns: []string{"w"}}) // else added in place
	b, types := evolvingBatch(tbl, 4, 4)
	_, log, err := e.ingest([]spec.Table{tbl}, spec.Options{}, types, b)
	if err != nil {
		t.Fatal(err)
	}
	if e.oid(v1) == oid {
		t.Fatal("the table was not swapped")
	}
	defsAfter, grantsAfter := e.relations()
	if !reflect.DeepEqual(defsAfter, defs) {
		t.Errorf("definitions\n got %q\nwant %q", defsAfter, defs)
	}
	// The recreated views are the ingest's role's, which their previous
	// owner may read.
	want := grants
	want[vo], want[vd] = want[vo]+","+pgsql.Ident(owner), pgsql.Ident(owner)
	for _, g := range []map[string]string{want, grantsAfter} {
		for k, v := range g {
			s := strings.Split(v, ",")
			slices.Sort(s)
			g[k] = strings.Join(s, ",")
		}
	}
	if !reflect.DeepEqual(grantsAfter, want) {
		t.Errorf("grants\n got %q\nwant %q", grantsAfter, want)
	}
	var n, m int
	if err := e.check.QueryRow(e.ctx, "SELECT (SELECT count(*) FROM "+q(v2)+"), (SELECT n FROM "+q(m1)+")").Scan(&n, &m); err != nil {
		t.Fatal(err)
	}
	if n != 4 || m != 4 {
		t.Errorf("the views see %d and %d rows, want 4", n, m)
	}
	for _, line := range []string{"Ingesting via new ingest table", "Dropping MATERIALIZED VIEW " + q(m1), "Recreating dummy view " + pgsql.Ident(e.schema) + ".c2",
		"Recreating original view " + q(v1), "Recreating original materialized view " + q(m1),
		"Granting SELECT on " + q(m1) + " to " + pgsql.Ident(reader) + ",", "Copying privileges for " + e.schema + "." + tbl.Name} {
		if !log.hasPrefix(line) {
			t.Errorf("no log line %q in\n%s", line, strings.Join(log.lines, "\n"))
		}
	}
	e.noTmpTables()
}

// TestForceExecute: a session holding a lock on the table in an open
// transaction blocks the swap until force execute terminates it.
func TestForceExecute(t *testing.T) {
	e := newEnv(t)
	forceLog := &logger{}
	const delay = 300 * time.Millisecond
	e.force = func(c *pgxconn.Conn) { c.ForceDelay, c.ForceInterval, c.Logger = delay, 50*time.Millisecond, forceLog }
	tbl := evolving(e.schema, "t")
	if err := e.ingestRows(tbl, spec.Options{}, 1); err != nil {
		t.Fatal(err)
	}
	blocker := pgtest.Connect(t)
	for _, sql := range []string{"BEGIN", "SELECT count(*) FROM " + pgsql.Qualified(e.schema, "t")} {
		if _, err := blocker.Exec(e.ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := e.ingestRows(tbl, spec.Options{Delete: spec.DeleteBeforeFirst}, 2); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("the swap took %s, less than the delay", took)
	}
	if _, err := blocker.Exec(e.ctx, "SELECT 1"); err == nil {
		t.Error("the blocking session survived")
	}
	if len(e.rows("t", []string{"id"}, "id")) != 1 {
		t.Error("the swap did not happen")
	}
	if !forceLog.hasPrefix("Cancelled blocking query ") {
		t.Errorf("log %q", forceLog.lines)
	}
}
