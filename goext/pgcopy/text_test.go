package pgcopy

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// FuzzTextEscape sends a text and an array of texts through a text COPY
// and reads them back.
func FuzzTextEscape(f *testing.F) {
	s := newServer(f)
	ctx := context.Background()
	if _, err := s.conn.Exec(ctx, "CREATE TEMPORARY TABLE fuzz_text (a text, b text[])"); err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][2]string{{"", ""}, {`\`, `"`}, {"a\tb\nc\rd", `\N`}, {`\.`, "NULL"}, {"{a,b}", ` x `}, {"é🦆", "\x01\x7f"}, {"a\x00", "b"}} {
		f.Add(seed[0], seed[1])
	}
	cols := []Target{{Name: "a", OID: OIDText, Type: "text"}, {Name: "b", OID: 1009, Type: "text[]"}}
	f.Fuzz(func(t *testing.T, x, y string) {
		if !utf8.ValidString(x) || !utf8.ValidString(y) {
			return // not a Python str
		}
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		defer sb.Release()
		sb.Append(x)
		lb := array.NewListBuilder(memory.DefaultAllocator, arrow.BinaryTypes.String)
		defer lb.Release()
		appendValue(t, lb, []any{x, nil, y})
		sa, la := sb.NewArray(), lb.NewArray()
		defer sa.Release()
		defer la.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: sa.DataType()}, {Name: "b", Type: la.DataType()}}, nil)
		rec := array.NewRecord(schema, []arrow.Array{sa, la}, 1)
		defer rec.Release()
		rows, err := newTextRows(cols, rec)
		if err != nil {
			t.Fatal(err)
		}
		line, err := rows.Append(nil, 0)
		if strings.ContainsRune(x+y, 0) {
			if err == nil {
				t.Fatalf("%q, %q: written as %q, want a refusal", x, y, line)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.conn.PgConn().CopyFrom(ctx, bytes.NewReader(line), "COPY fuzz_text (a, b) FROM STDIN"); err != nil {
			t.Fatalf("%q, %q: written as %q, which the server refuses: %v", x, y, line, err)
		}
		var a, b1, b3 string
		var b2Null bool
		var n int
		if err := s.conn.QueryRow(ctx, "DELETE FROM fuzz_text RETURNING a, b[1], b[2] IS NULL, b[3], cardinality(b)").Scan(&a, &b1, &b2Null, &b3, &n); err != nil {
			t.Fatal(err)
		}
		if a != x || b1 != x || !b2Null || b3 != y || n != 3 {
			t.Fatalf("%q, %q: written as %q, read back as %q, {%q, null: %v, %q} (%d items)", x, y, line, a, b1, b2Null, b3, n)
		}
	})
}
