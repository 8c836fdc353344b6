package spec

import (
	"strings"
	"testing"
)

func TestValidateRefusesNamesTheServerWouldTruncate(t *testing.T) {
	long := strings.Repeat("a", 64)
	duck := strings.Repeat("🦆", 16) // 64 bytes in 16 characters
	ok := strings.Repeat("b", 63)
	table := func(schema, name, column string) Table {
		return Table{Schema: schema, Name: name, Columns: []Column{{Name: "id", Type: "integer"}, {Name: column, Type: "text"}}}
	}
	opts := Options{Upsert: UpsertOff, Delete: DeleteOff, Visibility: VisibilityAfterEach}
	for _, c := range []struct {
		table Table
		want  string // "" for valid
	}{
		{table(ok, ok, ok), ""},
		{table(long, "t", "c"), `schema name "` + long + `" is 64 bytes long`},
		{table("s", long, "c"), `table name "` + long + `" is 64 bytes long in UTF-8: PostgreSQL's limit is 63 bytes`},
		{table("s", "t", long), `column name "` + long + `" is 64 bytes long in UTF-8: PostgreSQL's limit is 63 bytes (it would truncate the name); shorten it (table "s"."t")`},
		{table("s", "t", duck), `column name "` + duck + `" is 64 bytes long`},
	} {
		err := (&Job{Tables: []Table{c.table}, Options: opts}).Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.table, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
}
