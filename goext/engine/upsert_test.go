package engine_test

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// TestUpsertPaths covers each way rows reach a table with a primary key:
// COPY straight into the new ingest table of a fresh or emptied table, a
// staging table merged into an ingest table holding the old rows, and the
// upsert into the live table, each with keys sent twice (the last row of
// a key wins) and without.
func TestUpsertPaths(t *testing.T) {
	b := func(hwm int, rows ...[]any) batch { return batch{hwm: hwm, chunks: []chunk{{0, rows}}} }
	cases := []struct {
		name    string
		delete  string
		batches []batch
		want    [][]string
	}{
		{"new table, unique keys", spec.DeleteOff, []batch{b(1, []any{2, "b"}, []any{1, "a"})},
			[][]string{{"1", "a"}, {"2", "b"}}},
		{"new table, a key sent three times", spec.DeleteOff, []batch{b(1, []any{1, "a"}, []any{2, "b"}, []any{1, "c"}, []any{1, "d"})},
			[][]string{{"1", "d"}, {"2", "b"}}},
		{"live table, duplicates within and across batches", spec.DeleteOff,
			[]batch{b(1, []any{1, "a"}, []any{2, "b"}), b(2, []any{2, "x"}, []any{3, "c"}, []any{2, "y"}), b(3, []any{4, "d"}, []any{1, "z"})},
			[][]string{{"1", "z"}, {"2", "y"}, {"3", "c"}, {"4", "d"}}},
		{"live table, a new key sent twice", spec.DeleteOff,
			[]batch{b(1, []any{1, "a"}), b(2, []any{5, "a"}, []any{5, "b"}, []any{1, "a"})},
			[][]string{{"1", "a"}, {"5", "b"}}},
		{"live table, an unchanged row then a changed one of a key", spec.DeleteOff,
			[]batch{b(1, []any{1, "a"}, []any{2, "b"}), b(2, []any{1, "a"}, []any{1, "z"}, []any{2, "x"}, []any{2, "b"})},
			[][]string{{"1", "z"}, {"2", "b"}}},
		{"emptied table, duplicates", spec.DeleteBeforeFirst, []batch{b(1, []any{5, "a"}, []any{5, "b"})},
			[][]string{{"5", "b"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			tbl := kv(e.schema, "u", true)
			if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{Delete: c.delete}, [][]arrow.DataType{kvTypes}, c.batches...); err != nil {
				t.Fatal(err)
			}
			if got := e.rows("u", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("rows %q, want %q", got, c.want)
			}
			e.noTmpTables()
		})
	}
}

// TestMigrationKeepsOldRows rebuilds a table holding rows (a column is
// added) with a batch that replaces some keys, sends one twice and adds
// others: the ingest table gets the old rows, loses those the batch
// replaces, and takes the last row of each key sent.
func TestMigrationKeepsOldRows(t *testing.T) {
	e := newEnv(t)
	tbl := kv(e.schema, "m", true)
	first := batch{hwm: 1, chunks: []chunk{{0, [][]any{{1, "a"}, {2, "b"}, {3, "c"}}}}}
	if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{kvTypes}, first); err != nil {
		t.Fatal(err)
	}
	wider := tbl
	wider.Columns = append(append([]spec.Column{}, tbl.Columns...), spec.Column{Name: "w", Type: "TEXT", Nullable: true})
	wider.Indexes = []spec.Index{{Columns: []string{"w"}}} // else added in place
	second := batch{hwm: 2, chunks: []chunk{{0, [][]any{{2, "x", "new"}, {4, "d", "new"}, {2, "y", "newer"}}}}}
	_, log, err := e.ingest([]spec.Table{wider}, spec.Options{}, [][]arrow.DataType{{i64, str, str}}, second)
	if err != nil {
		t.Fatal(err)
	}
	if !log.has("Ingesting via new ingest table") {
		t.Fatal("the added column did not rebuild the table")
	}
	want := [][]string{{"1", "a", "<nil>"}, {"2", "y", "newer"}, {"3", "c", "<nil>"}, {"4", "d", "new"}}
	if got := e.rows("m", []string{"id", "v", "w"}, "id"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	var pk bool
	if err := e.check.QueryRow(e.ctx, `SELECT EXISTS (SELECT FROM pg_index WHERE indrelid = $1::oid AND indisprimary)`, e.oid("m")).Scan(&pk); err != nil || !pk {
		t.Errorf("primary key after the rebuild: %v (%v)", pk, err)
	}
	e.noTmpTables()
}

// TestUnchangedRowsNotRewritten re-ingests rows: those whose values are
// the same byte for byte keep their row version (xmin), changed ones get
// a new one; a NUMERIC sent with another scale counts as changed, since
// it reads back differently.
func TestUnchangedRowsNotRewritten(t *testing.T) {
	e := newEnv(t)
	tbl := spec.Table{Schema: e.schema, Name: "n", Columns: []spec.Column{
		{Name: "id", Type: "BIGINT", PrimaryKey: true}, {Name: "v", Type: "TEXT", Nullable: true}, {Name: "x", Type: "NUMERIC", Nullable: true}}}
	types := []arrow.DataType{i64, str, str}
	rows := [][]any{{1, "a", "1.0"}, {2, "b", "2.0"}, {3, nil, nil}, {4, "d", "4.0"}}
	if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types}, batch{hwm: 1, chunks: []chunk{{0, rows}}}); err != nil {
		t.Fatal(err)
	}
	before := e.rows("n", []string{"id", "xmin"}, "id")
	again := [][]any{{1, "a", "1.0"}, {2, "B", "2.0"}, {3, nil, nil}, {4, "d", "4.00"}}
	if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types}, batch{hwm: 2, chunks: []chunk{{0, again}}}); err != nil {
		t.Fatal(err)
	}
	after := e.rows("n", []string{"id", "xmin"}, "id")
	for k, rewritten := range []bool{false, true, false, true} {
		if changed := before[k][1] != after[k][1]; changed != rewritten {
			t.Errorf("row %s: rewritten %v, want %v", before[k][0], changed, rewritten)
		}
	}
	want := [][]string{{"1", "a", "1.0"}, {"2", "B", "2.0"}, {"3", "<nil>", "<nil>"}, {"4", "d", "4.00"}}
	if got := e.rows("n", []string{"id", "v", "x"}, "id"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// TestLargeResend re-sends a table's rows in one batch, large enough for
// the engine to weigh how it upserts: most of them unchanged (NULLs
// included), some changed in ways its comparison must see (to or from
// NULL, a NUMERIC's scale, 0 to -0, a JSONB number's scale), keys sent
// twice (the last row wins, also when it is the stored one) and new keys.
// Unchanged rows keep their row version (xmin) and are not locked either
// (xmax 0), for a table with a one-column and with a two-column key; the
// planner settings the upsert changes are back by the time the callback
// runs.
func TestLargeResend(t *testing.T) {
	const n = 12_000 // above the engine's threshold for weighing (upsert.go)
	for _, composite := range []bool{false, true} {
		name := map[bool]string{false: "one-column key", true: "two-column key"}[composite]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			tbl := spec.Table{Schema: e.schema, Name: "r", Columns: []spec.Column{
				{Name: "id", Type: "BIGINT", PrimaryKey: true}, {Name: "k", Type: "TEXT", PrimaryKey: composite},
				{Name: "v", Type: "TEXT", Nullable: true}, {Name: "x", Type: "NUMERIC", Nullable: true},
				{Name: "f", Type: "DOUBLE PRECISION", Nullable: true}, {Name: "j", Type: "JSONB", Nullable: true}}}
			cols := []string{"id", "k", "v", "x", "f", "j"}
			types := []arrow.DataType{i64, str, str, str, f64, str}
			stored := func(i int) []any {
				row := []any{i, "k", fmt.Sprint("v-", i), fmt.Sprint(i, ".5"), float64(i) / 4, fmt.Sprintf(`{"i": %d}`, i)}
				if i%7 == 0 {
					row[2] = nil
				}
				if i%11 == 0 {
					row[3] = nil
				}
				return row
			}
			var first [][]any
			for i := range n {
				first = append(first, stored(i))
			}
			if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types}, batch{hwm: 1, chunks: []chunk{{0, first}}}); err != nil {
				t.Fatal(err)
			}
			before := e.rows("r", []string{"id", "xmin"}, "id + 0") // by number

			// Changed: 1 (v), 7 (v was NULL), 2 (v to NULL), 3 (x's scale), 0
			// (f from 0 to -0), 9 (j's scale); sent twice: 4 (changed, then
			// as stored), 5 (as stored, then changed); new: n (twice), n+1.
			changes := map[int][]any{}
			change := func(i, col int, v any) {
				changes[i] = stored(i)
				changes[i][col] = v
			}
			change(1, 2, "changed")
			change(7, 2, "set")
			change(2, 2, nil)
			change(3, 3, "3.50")
			change(0, 4, math.Copysign(0, -1))
			change(9, 5, `{"i": 9.0}`)
			change(4, 2, "stale")
			var again [][]any
			for i := range n {
				row, ok := changes[i]
				if !ok {
					row = stored(i)
				}
				again = append(again, row)
			}
			five := stored(5)
			five[2] = "five"
			again = append(again, []any{n, "k", "new-a", nil, nil, nil}, stored(4), five, []any{n + 1, "k", "new", "1", 1.5, "{}"},
				[]any{n, "k", "new-b", nil, nil, nil})
			want := map[int][]string{}
			for _, row := range again {
				text := make([]string, len(row))
				for c, v := range row {
					text[c] = "<nil>"
					if v != nil {
						text[c] = fmt.Sprint(v)
					}
				}
				want[row[0].(int)] = text
			}
			var visibleSettings string
			e.before = func(int, int) error {
				return e.conn.QueryRow(e.ctx, `SELECT current_setting('enable_hashjoin') || current_setting('enable_nestloop')`).Scan(&visibleSettings)
			}
			if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types}, batch{hwm: 2, chunks: []chunk{{0, again}}}); err != nil {
				t.Fatal(err)
			}
			if visibleSettings != "onon" {
				t.Errorf("the callback saw enable_hashjoin and enable_nestloop %q, want both on", visibleSettings)
			}

			got := e.rows("r", append(cols, "xmin", "xmax"), "id + 0")
			if len(got) != n+2 {
				t.Fatalf("%d rows, want %d", len(got), n+2)
			}
			var rewritten []int
			for i, row := range got {
				if !reflect.DeepEqual(row[:len(cols)], want[i]) {
					t.Errorf("row %q, want %q", row[:len(cols)], want[i])
				}
				if i >= n {
					continue
				}
				if row[len(cols)] != before[i][1] {
					rewritten = append(rewritten, i)
				} else if row[len(cols)+1] != "0" {
					t.Errorf("row %d, unchanged, is locked (xmax %s)", i, row[len(cols)+1])
				}
			}
			if wantRewritten := []int{0, 1, 2, 3, 5, 7, 9}; !reflect.DeepEqual(rewritten, wantRewritten) {
				t.Errorf("rows rewritten %v, want %v", rewritten, wantRewritten)
			}
		})
	}
}
