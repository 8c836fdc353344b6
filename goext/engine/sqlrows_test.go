package engine_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// sqlBatch is a batch of table 0 whose chunks alternate as listed: a
// string is an SQL chunk, a [][]any a record's rows.
func sqlBatch(hwm int, parts ...any) batch {
	b := batch{hwm: hwm, sql: map[int]string{}}
	for k, p := range parts {
		if text, ok := p.(string); ok {
			b.sql[k] = text
			p = [][]any(nil)
		}
		b.chunks = append(b.chunks, chunk{0, p.([][]any)})
	}
	return b
}

// TestSQLChunks runs SQL chunks between COPYs of the same table: the rows
// land in order, and under upsert the last row of a key wins across the
// COPY and INSERT boundaries, whichever way the rows go in.
func TestSQLChunks(t *testing.T) {
	cases := []struct {
		name    string
		pk      bool
		delete  string
		before  []batch // an earlier ingest's, with no delete
		batches []batch
		want    [][]string
	}{
		{"no key, order kept", false, spec.DeleteOff, nil, []batch{sqlBatch(1,
			[][]any{{1, "a"}}, "VALUES (2, 'b'), (3, '50%')", [][]any{{4, "d"}}, "SELECT 5, 'e' UNION ALL SELECT 6, 'f'")},
			[][]string{{"1", "a"}, {"2", "b"}, {"3", "50%"}, {"4", "d"}, {"5", "e"}, {"6", "f"}}},
		{"new table, last of a key wins", true, spec.DeleteOff, nil, []batch{sqlBatch(1,
			[][]any{{1, "a"}, {2, "b"}}, "VALUES (1, 'sql')", [][]any{{2, "copy"}}, "VALUES (3, 'c'), (2, 'sql')")},
			[][]string{{"1", "sql"}, {"2", "sql"}, {"3", "c"}}},
		{"live table, last of a key wins", true, spec.DeleteOff, []batch{sqlBatch(1, [][]any{{1, "a"}, {2, "b"}})}, []batch{
			sqlBatch(2, "VALUES (1, 'x')", [][]any{{1, "y"}, {2, "y"}}, "VALUES (2, 'z')")},
			[][]string{{"1", "y"}, {"2", "z"}}},
		{"emptied table", true, spec.DeleteBeforeFirst, []batch{sqlBatch(1, "VALUES (7, 'old')")}, []batch{
			sqlBatch(2, [][]any{{1, "a"}}, "VALUES (1, 'b'), (2, 'c')")},
			[][]string{{"1", "b"}, {"2", "c"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			tbl := kv(e.schema, "s", c.pk)
			if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{kvTypes}, c.before...); err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{Delete: c.delete}, [][]arrow.DataType{kvTypes}, c.batches...); err != nil {
				t.Fatal(err)
			}
			if got := e.rows("s", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("rows %q, want %q", got, c.want)
			}
			e.noTmpTables()
		})
	}
}

// TestSQLChunkError: the server's error in an SQL chunk's INSERT names
// the batch, the table and the chunk's place among the table's rows, and
// its batch leaves nothing behind.
func TestSQLChunkError(t *testing.T) {
	e := newEnv(t)
	tbl := kv(e.schema, "f", true)
	_, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{kvTypes},
		sqlBatch(1, [][]any{{1, "a"}}),
		sqlBatch(2, [][]any{{2, "b"}, {3, "c"}}, "VALUES (4, 'd')", "SELECT 1/0, 'e'"))
	var be *engine.BatchError
	var se *engine.SQLRowError
	var pe *pgconn.PgError
	if !errors.As(err, &be) || be.Batch != 2 || !errors.As(err, &se) || se.Row != 3 || !errors.As(err, &pe) || pe.Code != "22012" {
		t.Fatalf("got %v, want batch 2's division by zero at row 3", err)
	}
	if !strings.Contains(err.Error(), "SELECT 1/0") {
		t.Errorf("%v does not show the SQL", err)
	}
	if got, want := e.rows("f", []string{"id", "v"}, "id"), [][]string{{"1", "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want batch 1's %q", got, want)
	}
}
