package pgsql

import (
	"context"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

func TestIdent(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a", `"a"`},
		{"", `""`},
		{`a"b`, `"a""b"`},
		{`"`, `""""`},
		{`""`, `""""""`},
		{"a.b", `"a.b"`},
		{"with space", `"with space"`},
		{"50%", `"50%"`},
		{"$1", `"$1"`},
		{"🦆", `"🦆"`},
		{"UPPER", `"UPPER"`},
		{"select", `"select"`},
		{`'`, `"'"`},
	}
	for _, c := range cases {
		if got := Ident(c.in); got != c.want {
			t.Errorf("Ident(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	if got, want := Qualified(`s"x`, "a.b"), `"s""x"."a.b"`; got != want {
		t.Errorf("Qualified = %s, want %s", got, want)
	}
	if got, want := IdentList([]string{"a", `b"`}), `"a", "b"""`; got != want {
		t.Errorf("IdentList = %s, want %s", got, want)
	}
}

func TestStatements(t *testing.T) {
	tbl := &spec.Table{Schema: "s", Name: "t", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true},
		{Name: "v", Type: "VARCHAR(3)", Nullable: true, Unique: true},
	}}
	mixed := &spec.Table{Schema: "s", Name: "m", Columns: []spec.Column{
		{Name: "id", Type: "BIGINT", PrimaryKey: true}, {Name: "n", Type: "NUMERIC"}, {Name: "j", Type: "JSONB"}, {Name: "f", Type: "FLOAT8"},
	}}
	cases := []struct{ got, want string }{
		{CreateSchema(`a"b`), `CREATE SCHEMA IF NOT EXISTS "a""b"`},
		{CreateMissingTable(tbl), `CREATE TABLE IF NOT EXISTS "s"."t" ("id" INTEGER NOT NULL, "v" VARCHAR(3) UNIQUE)`},
		{CreateIngestTable(tbl, "_tmp_x", false), `CREATE TABLE "s"."_tmp_x" ("id" INTEGER NOT NULL, "v" VARCHAR(3))`},
		{CreateIngestTable(tbl, "_tmp_x", true), `CREATE TABLE "s"."_tmp_x" ("id" INTEGER NOT NULL, "v" VARCHAR(3) UNIQUE, PRIMARY KEY ("id"))`},
		{AddPrimaryKey(tbl, "_tmp_x"), `ALTER TABLE "s"."_tmp_x" ADD PRIMARY KEY ("id")`},
		{AddUnique("s", "_tmp_x", "v"), `ALTER TABLE "s"."_tmp_x" ADD UNIQUE ("v")`},
		{CreateStaging(tbl, "_tmp_x"), `CREATE TEMPORARY TABLE "_tmp_x" ("id" INTEGER, "v" VARCHAR(3)) ON COMMIT DROP`},
		{CreateCheckedStaging(tbl, "_tmp_x"), `CREATE TEMPORARY TABLE "_tmp_x" ("id" INTEGER NOT NULL, "v" VARCHAR(3)) ON COMMIT DROP`},
		{AddColumns("s", "t", []spec.Column{{Name: `w"`, Type: "TEXT", Nullable: true}, {Name: "x", Type: "NUMERIC(10, 2)", Nullable: true}}),
			`ALTER TABLE "s"."t" ADD COLUMN "w""" TEXT, ADD COLUMN "x" NUMERIC(10, 2)`},
		{AppendStaged(tbl, "t", "_tmp_x"), `INSERT INTO "s"."t" ("id", "v") SELECT "id", "v" FROM "_tmp_x"`},
		{RefreshMaterializedView(`"s"."m"`), `REFRESH MATERIALIZED VIEW "s"."m"`},
		{CreateIndex("s", "t", "i", spec.Index{Columns: []string{"v", "id"}, Unique: true, Using: "GIN", Include: []string{"x"}}),
			`CREATE UNIQUE INDEX "i" ON "s"."t" USING "gin" ("v", "id") INCLUDE ("x")`},
		{CopyBinary("s", "t", []string{"id", "v"}), `COPY "s"."t" ("id", "v") FROM STDIN (FORMAT binary)`},
		{CopyBinary("", "_tmp_x", []string{"id"}), `COPY "_tmp_x" ("id") FROM STDIN (FORMAT binary)`},
		{CopyText("s", "t", []string{"id", "v"}), `COPY "s"."t" ("id", "v") FROM STDIN (FORMAT text)`},
		{Upsert(tbl, "t", "_tmp_x", true), `INSERT INTO "s"."t" AS t ("id", "v") SELECT DISTINCT ON ("id") "id", "v" FROM "_tmp_x" ORDER BY "id", ctid DESC ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v" WHERE NOT (t.*::record OPERATOR(pg_catalog.*=) EXCLUDED.*::record)`},
		{Upsert(tbl, "t", "_tmp_x", false), `INSERT INTO "s"."t" AS t ("id", "v") SELECT "id", "v" FROM "_tmp_x" ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v" WHERE NOT (t.*::record OPERATOR(pg_catalog.*=) EXCLUDED.*::record)`},
		{Upsert(&spec.Table{Schema: "s", Name: "k", Columns: tbl.Columns[:1]}, "k", "_tmp_x", false), `INSERT INTO "s"."k" AS t ("id") SELECT "id" FROM "_tmp_x" ON CONFLICT ("id") DO NOTHING`},
		{UpsertChanged(tbl, "t", "_tmp_x", []uint32{23, 1043}), `INSERT INTO "s"."t" AS t ("id", "v") SELECT "id", "v" FROM (SELECT DISTINCT ON ("id") "id", "v" FROM "_tmp_x" ORDER BY "id", ctid DESC) AS s ` +
			`WHERE NOT EXISTS (SELECT FROM "s"."t" AS t WHERE t."id" = s."id" AND t."id" IS NOT DISTINCT FROM s."id" AND t."v" IS NOT DISTINCT FROM s."v" COLLATE pg_catalog."C") ` +
			`ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v" WHERE NOT (t.*::record OPERATOR(pg_catalog.*=) EXCLUDED.*::record)`},
		{SampleUnchanged(mixed, "m", "_tmp_x", []uint32{20, 1700, 3802, 701}), `SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT FROM "s"."m" AS t WHERE t."id" = s."id" AND t."id" IS NOT DISTINCT FROM s."id" AND ` +
			`t."n" IS NOT DISTINCT FROM s."n" AND pg_catalog.scale(t."n") IS NOT DISTINCT FROM pg_catalog.scale(s."n") AND ` +
			`ROW(t."j", t."f")::record OPERATOR(pg_catalog.*=) ROW(s."j", s."f")::record)) FROM "_tmp_x" AS s TABLESAMPLE SYSTEM ($1)`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

// TestQuotingOnServer runs every statement of this package with names that
// need quoting against the server, and reads the names back from the catalog.
func TestQuotingOnServer(t *testing.T) {
	conn := pgtest.Connect(t)
	ctx := context.Background()
	schema := pgtest.Schema(t, `pbi test "s".x %s $1 🦆 `)
	tableName := `t "q" . sp %d $1 🦆`
	cols := []string{`id "pk"`, "a.b", "with space", "50%", "$1", "🦆", `'`}
	tbl := &spec.Table{Schema: schema, Name: tableName, Indexes: []spec.Index{{Columns: []string{"a.b", "50%"}, Include: []string{"$1"}}}}
	for i, c := range cols {
		tbl.Columns = append(tbl.Columns, spec.Column{Name: c, Type: "TEXT", Nullable: i > 0, PrimaryKey: i == 0})
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(CreateSchema(schema))
	exec(CreateSchema(schema)) // IF NOT EXISTS
	exec(CreateIngestTable(tbl, tableName, true))
	exec(CreateIndex(schema, tableName, `ix "1" . % $1`, tbl.Indexes[0]))

	var exists bool
	if err := conn.QueryRow(ctx, TableExists, schema, tableName).Scan(&exists); err != nil || !exists {
		t.Fatalf("TableExists: %v %v", exists, err)
	}
	if err := conn.QueryRow(ctx, TableExists, schema, tableName+"x").Scan(&exists); err != nil || exists {
		t.Fatalf("TableExists of a missing table: %v %v", exists, err)
	}

	// The catalog holds the names exactly.
	rows, err := conn.Query(ctx, LiveColumns, schema, tableName)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, typ, recv string
		var oid int64
		var notNull, pk, unique bool
		if err := rows.Scan(&name, &oid, &typ, &recv, &notNull, &pk, &unique); err != nil {
			t.Fatal(err)
		}
		if oid != 25 || typ != "text" || recv != "textrecv" || notNull != (name == cols[0]) || pk != (name == cols[0]) || unique {
			t.Errorf("column %q: type %d %s %s, not null %v, primary key %v, unique %v", name, oid, typ, recv, notNull, pk, unique)
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cols) {
		t.Fatalf("columns %q, want %q", got, cols)
	}
	var pk []string
	if err := conn.QueryRow(ctx, `SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass AND i.indisprimary`, schema, tableName).Scan(&pk); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pk, cols[:1]) {
		t.Fatalf("primary key %q", pk)
	}
	var indexes []string
	if err := conn.QueryRow(ctx, `SELECT array_agg(indexname::text) FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`, schema, tableName).Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	sort.Strings(indexes)
	if len(indexes) != 2 || indexes[0] != `ix "1" . % $1` {
		t.Fatalf("indexes %q", indexes)
	}

	// Write through a staging table and the upsert, then read back.
	exec("BEGIN")
	exec(CreateStaging(tbl, `stage "x" %`))
	ph := make([]string, len(cols))
	vals := make([]any, len(cols))
	for i := range cols {
		ph[i] = "$" + strconv.Itoa(i+1)
		vals[i] = "v" + cols[i]
	}
	exec(`INSERT INTO `+Ident(`stage "x" %`)+` (`+IdentList(cols)+`) VALUES (`+strings.Join(ph, ", ")+`)`, vals...)
	exec(Upsert(tbl, tableName, `stage "x" %`, false))
	exec(Upsert(tbl, tableName, `stage "x" %`, true)) // conflicts
	var reltuples, sampled, unchanged int64
	if err := conn.QueryRow(ctx, EstimatedRows, Qualified(schema, tableName)).Scan(&reltuples); err != nil {
		t.Fatal(err)
	}
	text := []uint32{25, 25, 25, 25, 25, 25, 25}
	if err := conn.QueryRow(ctx, SampleUnchanged(tbl, tableName, `stage "x" %`, text), 100.0).Scan(&sampled, &unchanged); err != nil || sampled != 1 || unchanged != 1 {
		t.Fatalf("SampleUnchanged: %d of %d sampled unchanged (%v), want 1 of 1", unchanged, sampled, err)
	}
	var settings [2]string
	if err := conn.QueryRow(ctx, JoinSettings).Scan(&settings[0], &settings[1]); err != nil {
		t.Fatal(err)
	}
	exec(MergeJoinOnly)
	exec(UpsertChanged(tbl, tableName, `stage "x" %`, text))
	exec(RestoreJoinSettings, settings[0], settings[1])
	// An ingest table's statements: rows appended twice, the duplicate
	// deleted, the key added, the staged keys deleted.
	ingest := tableName + " ingest"
	exec(CreateIngestTable(tbl, ingest, false))
	exec(InsertStaged(tbl, ingest, `stage "x" %`))
	exec(InsertStaged(tbl, ingest, `stage "x" %`))
	exec(DeleteDuplicateKeys(tbl, ingest))
	exec(AddPrimaryKey(tbl, ingest))
	exec(AddUnique(schema, ingest, cols[1]))
	for _, want := range []bool{true, false} {
		var has bool
		if err := conn.QueryRow(ctx, HasRows(schema, ingest)).Scan(&has); err != nil || has != want {
			t.Fatalf("HasRows = %v (%v), want %v", has, err, want)
		}
		exec(DeleteStagedKeys(tbl, ingest, `stage "x" %`))
	}
	exec("COMMIT")
	var back []any
	r, err := conn.Query(ctx, "SELECT "+IdentList(cols)+" FROM "+Qualified(schema, tableName))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r.Next() {
		n++
		if back, err = r.Values(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Err(); err != nil || n != 1 || !reflect.DeepEqual(back, vals) {
		t.Fatalf("read back %d rows, last %v (%v); want %v", n, back, err, vals)
	}

	// COPY through the quoted names: a binary stream of one row.
	copySQL := CopyBinary(schema, tableName, cols[:1])
	stream := []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02id\xff\xff")
	if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(string(stream)), copySQL); err != nil {
		t.Fatalf("%s: %v", copySQL, err)
	}

	// The comment statements, with a comment that needs quoting too.
	comment := `{"k": "it's \"x\" %s $1 \\ 🦆"}`
	var stmt string
	if err := conn.QueryRow(ctx, CommentStatement, schema, tableName, comment).Scan(&stmt); err != nil {
		t.Fatalf("%s: %v", CommentStatement, err)
	}
	exec(stmt)
	var stored *string
	if err := conn.QueryRow(ctx, ReadComment, schema, tableName).Scan(&stored); err != nil || stored == nil || *stored != comment {
		t.Fatalf("comment %v (%v), want %s", stored, err, comment)
	}
}
