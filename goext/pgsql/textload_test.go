package pgsql

import "testing"

func TestInsertCast(t *testing.T) {
	got := InsertCast("s", "t", []string{"id", `a"b`}, "_tmp_1", []string{"c1", "c2"}, []string{"pg_catalog.int4", `pg_catalog."numeric"`})
	want := `INSERT INTO "s"."t" ("id", "a""b") SELECT "c1"::pg_catalog.int4, "c2"::pg_catalog."numeric" FROM pg_temp."_tmp_1"`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := RelationText("", "_tmp_2"); got != `"_tmp_2"` {
		t.Errorf("a temporary table: %s", got)
	}
}
