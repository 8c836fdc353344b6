package bridge

import (
	"reflect"
	"testing"
)

func TestPyFormat(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  string
		order []int
	}{
		{"no parameters", "SELECT 1", "SELECT 1", nil},
		{"empty", "", "", nil},
		{"one", "SELECT $1", "SELECT %s", []int{1}},
		{"cast", "SELECT $1::text", "SELECT %s::text", []int{1}},
		{"order kept", "SELECT $2, $1, $2", "SELECT %s, %s, %s", []int{2, 1, 2}},
		{"multi-digit", "SELECT $12, $1", "SELECT %s, %s", []int{12, 1}},
		{"adjacent", "SELECT $1$2", "SELECT %s%s", []int{1, 2}},
		{"at the end of the text", "x=$10", "x=%s", []int{10}},
		{"percent doubled", "SELECT 5 % $1", "SELECT 5 %% %s", []int{1}},
		{"percent in a literal doubled", "SELECT format('%I', $1)", "SELECT format('%%I', %s)", []int{1}},
		{"percent in an identifier doubled", `SELECT "50%" FROM t WHERE a = $1`, `SELECT "50%%" FROM t WHERE a = %s`, []int{1}},
		{"$n in a quoted identifier", `SELECT "a$1" FROM t WHERE b = $1`, `SELECT "a$1" FROM t WHERE b = %s`, []int{1}},
		{"$n in a literal", `SELECT '$1', $2`, `SELECT '$1', %s`, []int{2}},
		{"doubled quote in a literal", `SELECT 'it''s $1', $1`, `SELECT 'it''s $1', %s`, []int{1}},
		{"doubled quote in an identifier", `SELECT "a""$1" FROM t WHERE x = $2`, `SELECT "a""$1" FROM t WHERE x = %s`, []int{2}},
		{"literal ending in a doubled quote", `SELECT '''', $1`, `SELECT '''', %s`, []int{1}},
		{"double quote inside a literal", `SELECT '"$1', $1`, `SELECT '"$1', %s`, []int{1}},
		{"single quote inside an identifier", `SELECT "'$1" FROM t WHERE a = $3`, `SELECT "'$1" FROM t WHERE a = %s`, []int{3}},
		{"dollar without digits", `DO $pbi$ BEGIN END $pbi$`, `DO $pbi$ BEGIN END $pbi$`, nil},
		{"lone dollar at the end", `SELECT $`, `SELECT $`, nil},
		{"emoji and % in identifiers", `SELECT "🦆%$1" FROM "s"."t" WHERE "c" = $1`, `SELECT "🦆%%$1" FROM "s"."t" WHERE "c" = %s`, []int{1}},
		{"engine's comment statement", `SELECT pg_catalog.set_config('pg_bulk_ingest.schema', $1::text, true), pg_catalog.set_config('x', $3::text, true)`,
			`SELECT pg_catalog.set_config('pg_bulk_ingest.schema', %s::text, true), pg_catalog.set_config('x', %s::text, true)`, []int{1, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, order := PyFormat(c.in)
			if got != c.want || !reflect.DeepEqual(order, c.order) {
				t.Fatalf("PyFormat(%q)\n got %q %v\nwant %q %v", c.in, got, order, c.want, c.order)
			}
		})
	}
}
