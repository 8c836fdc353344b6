package engine

import (
	"testing"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
)

// TestCopyContext reads the server's context from error texts as pgxconn
// and psycopg2 write them.
func TestCopyContext(t *testing.T) {
	cols := []pgcopy.Column{{Name: "v"}, {Name: "v: x"}, {Name: "id"}}
	cases := []struct {
		msg       string
		line, col int
		ok        bool
	}{
		{`ERROR: bad (SQLSTATE 22007); CONTEXT: COPY t, line 3, column v: "x"`, 3, 0, true},
		{"ERROR:  bad\nCONTEXT:  COPY t, line 12, column id\n", 12, 2, true},
		{`CONTEXT: COPY t, line 1, column v: x: "y"`, 1, 1, true},
		{`CONTEXT: COPY t, line 7: "1	2"`, 7, -1, true},
		{`CONTEXT: COPY t, line 7, column other: "1"`, 7, -1, true},
		{`CONTEXT: COPY tt, line 7`, 0, -1, false},
		{`CONTEXT: COPY t, line 0`, 0, -1, false},
		{`no context`, 0, -1, false},
	}
	for _, c := range cases {
		line, col, ok := copyContext(c.msg, "t", cols)
		if line != c.line || col != c.col || ok != c.ok {
			t.Errorf("%q: got %d, %d, %v; want %d, %d, %v", c.msg, line, col, ok, c.line, c.col, c.ok)
		}
	}
}
