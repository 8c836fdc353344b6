package pgsql

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

func TestVersionedStatements(t *testing.T) {
	part := &spec.Table{Schema: "s", Name: "b__1", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true}, {Name: "v", Type: "TEXT", Nullable: true, Unique: true}, {Name: "_version", Type: "VARCHAR"}}}
	for _, c := range []struct{ got, want string }{
		{CopyForward(part, [2]string{"o", "b__0"}, "_version"),
			`INSERT INTO "s"."b__1" ("id", "v", "_version") SELECT "id", "v", $1::text FROM "o"."b__0"`},
		{CopyForwardMissing(part, [2]string{"o", "b__0"}, "_version"),
			`INSERT INTO "s"."b__1" ("id", "v", "_version") SELECT "id", "v", $1::text FROM "o"."b__0" AS s` +
				` WHERE NOT EXISTS (SELECT FROM "s"."b__1" AS t WHERE t."id" = s."id")`},
		{CreateRoot(part, "b__history", "_version"),
			`CREATE TABLE IF NOT EXISTS "s"."b__history" ("id" INTEGER NOT NULL, "v" TEXT, "_version" VARCHAR NOT NULL) PARTITION BY LIST ("_version")`},
		{VersionView("s", "b", "b__1"), `CREATE OR REPLACE VIEW "s"."b" AS SELECT * FROM "s"."b__1"`},
		{Hash("s", "b__1", []string{"id", "id", "v"}, []string{"id"}),
			`SELECT pg_catalog.md5(pg_catalog.convert_to(pg_catalog.string_agg(ROW("id", "id", "v")::text, '' ORDER BY "id"), 'UTF8')), count(*)::int8 FROM "s"."b__1"`},
		{DropCascade("s", `b"`), `DROP TABLE "s"."b""" CASCADE`},
		{LegacyName("b"), "b_legacy"},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

// TestVersionedOnServer runs the statements with names and a version
// that need quoting.
func TestVersionedOnServer(t *testing.T) {
	conn := pgtest.Connect(t)
	ctx := context.Background()
	schema := pgtest.Schema(t, `pbi v "s" `)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	part := &spec.Table{Schema: schema, Name: `B "x"__1`, Columns: []spec.Column{
		{Name: "Id", Type: "INTEGER", PrimaryKey: true}, {Name: "v", Type: "TEXT", Nullable: true}, {Name: "Ver s", Type: "VARCHAR"}}}
	exec(CreateSchema(schema))
	exec(`CREATE TABLE ` + Qualified(schema, "old") + ` ("Id" INTEGER PRIMARY KEY, v TEXT)`)
	exec(`INSERT INTO ` + Qualified(schema, "old") + ` VALUES (1, 'a'), (2, NULL)`)
	exec(CreateIngestTable(part, part.Name, true))
	version := `it's "1"`
	exec(CopyForward(part, [2]string{schema, "old"}, "Ver s"), version)
	exec(CreateRoot(part, `B "x"__history`, "Ver s"))
	exec(CreateRoot(part, `B "x"__history`, "Ver s")) // IF NOT EXISTS
	var exists, attached bool
	if err := conn.QueryRow(ctx, PartitionState, schema, part.Name).Scan(&exists, &attached); err != nil || !exists || attached {
		t.Fatalf("PartitionState before attach: %v %v %v", exists, attached, err)
	}
	var attach string
	if err := conn.QueryRow(ctx, AttachStatement, schema, `B "x"__history`, part.Name, version).Scan(&attach); err != nil {
		t.Fatal(err)
	}
	exec(attach)
	if err := conn.QueryRow(ctx, PartitionState, schema, part.Name).Scan(&exists, &attached); err != nil || !exists || !attached {
		t.Fatalf("PartitionState after attach: %v %v %v", exists, attached, err)
	}
	if err := conn.QueryRow(ctx, PartitionState, schema, "missing").Scan(&exists, &attached); err != nil || exists || attached {
		t.Fatalf("PartitionState of a missing table: %v %v %v", exists, attached, err)
	}
	var bound string
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_get_expr(relpartbound, oid) FROM pg_catalog.pg_class WHERE oid = `+
		`pg_catalog.format('%I.%I', $1::text, $2::text)::regclass`, schema, part.Name).Scan(&bound); err != nil || bound != `FOR VALUES IN ('it''s "1"')` {
		t.Fatalf("bound %s, %v", bound, err)
	}
	exec(VersionView(schema, `B "x"`, part.Name))
	var src [2]string
	if err := conn.QueryRow(ctx, ViewSource, schema, `B "x"`).Scan(&src[0], &src[1]); err != nil || src != [2]string{schema, part.Name} {
		t.Fatalf("ViewSource: %v %v", src, err)
	}
	if rows, _ := conn.Query(ctx, ViewSource, schema, "old"); rows.Next() {
		t.Fatal("ViewSource of a table found a source")
	}
	exec("CREATE VIEW " + Qualified(schema, "constant") + " AS SELECT 1 AS id")
	var none [2]*string
	if err := conn.QueryRow(ctx, ViewSource, schema, "constant").Scan(&none[0], &none[1]); err != nil || none[0] != nil || none[1] != nil {
		t.Fatalf("ViewSource of a view reading no table: %v %v", none, err)
	}
	var oid int64
	if err := conn.QueryRow(ctx, LegacyTable, schema, "old").Scan(&oid); err != nil || oid == 0 {
		t.Fatalf("LegacyTable: %v", err)
	}
	if rows, _ := conn.Query(ctx, LegacyTable, schema, `B "x"`); rows.Next() {
		t.Fatal("LegacyTable of a view found a table")
	}
	var hash string
	var n int64
	if err := conn.QueryRow(ctx, Hash(schema, part.Name, []string{"Id", "Id", "v"}, []string{"Id"})).Scan(&hash, &n); err != nil ||
		n != 2 || hash != md5Hex("(1,1,a)(2,2,)") {
		t.Fatalf("Hash: %s %d %v", hash, n, err)
	}
	exec(DropCascade(schema, part.Name))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
