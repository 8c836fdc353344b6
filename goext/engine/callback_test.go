package engine_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// TestCallbackEndingTheTransaction has on_before_visible end batch 1's
// transaction itself, with and without a swap, before batch 2 fails: the
// stored high watermark still describes exactly the committed rows.
func TestCallbackEndingTheTransaction(t *testing.T) {
	for _, c := range []struct {
		name string
		sql  []string // what the callback runs in batch 1
		ends string   // how that ends the batch's transaction
	}{
		{"commit", []string{"COMMIT"}, "commit"},
		{"commit and begin", []string{"COMMIT", "BEGIN"}, "commit"},
		{"rollback", []string{"ROLLBACK"}, "rollback"},
		{"savepoint", []string{"SAVEPOINT s", "RELEASE SAVEPOINT s"}, ""},
	} {
		for _, swap := range []bool{false, true} {
			name := c.name
			if swap {
				name += " with swap"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t)
				old := kv(e.schema, "t", false)
				if _, _, err := e.ingest([]spec.Table{old}, spec.Options{}, [][]arrow.DataType{kvTypes},
					batch{hwm: 0, chunks: []chunk{{0, [][]any{{0, "a"}}}}}); err != nil {
					t.Fatal(err)
				}
				table, types := old, kvTypes
				if swap { // a new column: batch 1 swaps a new table in
					table.Columns = append(append([]spec.Column(nil), old.Columns...), spec.Column{Name: "w", Type: "TEXT", Nullable: true})
					types = []arrow.DataType{i64, str, str}
				}
				row := func(id int) []any { return append([]any{id, "b"}, make([]any, len(types)-2)...) }
				e.before = func(b, _ int) error {
					for _, sql := range c.sql {
						if b == 1 {
							if _, err := e.conn.Exec(e.ctx, sql); err != nil {
								return err
							}
						}
					}
					return nil
				}
				boom := errors.New("boom")
				_, log, err := e.ingest([]spec.Table{table}, spec.Options{}, [][]arrow.DataType{types},
					batch{hwm: 1, chunks: []chunk{{0, [][]any{row(1)}}}},
					batch{hwm: 2, chunks: []chunk{{0, [][]any{row(2)}}}, failAt: 1, failErr: boom})
				wantHWM, wantRows := "1", [][]string{{"0"}, {"1"}}
				if c.ends != "rollback" {
					if !errors.Is(err, boom) {
						t.Fatalf("error %v, want batch 2's", err)
					}
					if said := log.hasPrefix("on_before_visible committed batch 1"); said != (c.ends == "commit") {
						t.Errorf("a log line says the callback committed: %v, want %v", said, c.ends == "commit")
					}
				} else {
					if err == nil || !strings.Contains(err.Error(), "batch 1: on_before_visible rolled back") {
						t.Fatalf("error %v, want one saying on_before_visible rolled batch 1 back", err)
					}
					wantHWM, wantRows = "0", [][]string{{"0"}}
				}
				if got := e.hwm("t"); got != wantHWM {
					t.Errorf("stored high watermark %s, want %s", got, wantHWM)
				}
				if got := e.rows("t", []string{"id"}, "id"); !reflect.DeepEqual(got, wantRows) {
					t.Errorf("rows %v, want %v", got, wantRows)
				}
				if swap && c.ends != "rollback" {
					e.noTmpTables()
				}
			})
		}
	}
}
