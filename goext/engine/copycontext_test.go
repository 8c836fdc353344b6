package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
)

// TestCopyContext reads the server's context of an error, as pgx's
// PgError.Where and psycopg's diag.context give it.
func TestCopyContext(t *testing.T) {
	cols := []pgcopy.Target{{Name: "v"}, {Name: "v: x"}, {Name: "id"}}
	cases := []struct {
		where     string
		line, col int
		ok        bool
	}{
		{`COPY t, line 3, column v: "x"`, 3, 0, true},
		{"COPY t, line 12, column id\n", 12, 2, true},
		{`COPY t, line 1, column v: x: "y"`, 1, 1, true},
		{`COPY t, line 7: "1	2"`, 7, -1, true},
		{`COPY t, line 7, column other: "1"`, 7, -1, true},
		{`COPY tt, line 7`, 0, -1, false},
		{`COPY t, line 0`, 0, -1, false},
		{`no context`, 0, -1, false},
		{"PL/pgSQL function f() line 3 at RAISE\nCOPY t, line 4", 4, -1, true},
	}
	for _, c := range cases {
		line, col, ok := copyContext(c.where, "t", cols)
		if line != c.line || col != c.col || ok != c.ok {
			t.Errorf("%q: got %d, %d, %v; want %d, %d, %v", c.where, line, col, ok, c.line, c.col, c.ok)
		}
	}
}

type whereError struct{ where string }

func (e *whereError) Error() string { return "bad" }
func (e *whereError) Where() string { return e.where }

// TestServerContext takes the context from the error's field only.
func TestServerContext(t *testing.T) {
	if where, ok := serverContext(fmt.Errorf("copying: %w", &whereError{"COPY t, line 3"})); !ok || where != "COPY t, line 3" {
		t.Errorf("wrapped: %q, %v", where, ok)
	}
	if where, ok := serverContext(errors.New("ERROR: bad\nCONTEXT:  COPY t, line 3")); ok {
		t.Errorf("from the message: %q", where)
	}
}
