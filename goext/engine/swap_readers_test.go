package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// TestSwapsUnderReadersOfSeveralRelations swaps tables while readers lock
// several of their relations, half of them in one order and half in the
// other: no ingest and no reader fails, and every count a reader sees is
// the total of one ingest (ingest k of table t writes 100+k rows, of u
// 1000+k), the same for one table throughout one statement. As
// tests/python/test_swap_readers.py, whose benchmark measures the waits.
func TestSwapsUnderReadersOfSeveralRelations(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const readers, swaps, think = 20, 3, 50 * time.Millisecond
	union := "SELECT sum(n) FILTER (WHERE k = 1), sum(n) FILTER (WHERE k = 2) FROM (SELECT %d AS k, count(*) AS n FROM %s UNION ALL SELECT %d, count(*) FROM %s) s"
	join := "SELECT count(a.id), count(b.id) FROM %s a FULL JOIN %s b USING (id)"
	// Each statement of a reader's transaction, with the tables its
	// counts count; %[1]s is t, %[2]s v1, %[3]s v2, %[4]s u's view.
	type statement struct {
		sql    string
		counts []string
	}
	for _, tc := range []struct {
		name              string
		forward, backward []statement
		other             bool // u is swapped too, by an ingest of its own
	}{
		{name: "two views in one statement",
			forward:  []statement{{fmt.Sprintf(union, 1, "%[2]s", 2, "%[3]s"), []string{"t", "t"}}},
			backward: []statement{{fmt.Sprintf(union, 2, "%[3]s", 1, "%[2]s"), []string{"t", "t"}}}},
		{name: "two views in one transaction",
			forward:  []statement{{"SELECT count(*) FROM %[2]s", []string{"t"}}, {"SELECT count(*) FROM %[3]s", []string{"t"}}},
			backward: []statement{{"SELECT count(*) FROM %[3]s", []string{"t"}}, {"SELECT count(*) FROM %[2]s", []string{"t"}}}},
		{name: "a view joined to the table",
			forward:  []statement{{fmt.Sprintf(join, "%[1]s", "%[2]s"), []string{"t", "t"}}},
			backward: []statement{{fmt.Sprintf(join, "%[2]s", "%[1]s"), []string{"t", "t"}}}},
		{name: "another ingested table joined in", other: true,
			forward:  []statement{{fmt.Sprintf(join, "%[1]s", "%[4]s"), []string{"t", "u"}}},
			backward: []statement{{fmt.Sprintf(join, "%[4]s", "%[1]s"), []string{"u", "t"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, eu := newEnv(t), newEnv(t) // u in a schema of its own, ingested on a connection of its own
			rows := func(table string, k int) int {
				if table == "t" {
					return 100 + k
				}
				return 1000 + k
			}
			ingest := func(e *env, table string, k int) error {
				batch := batch{hwm: k, chunks: []chunk{{0, make([][]any, rows(table, k))}}}
				for i := range batch.chunks[0].rows {
					batch.chunks[0].rows[i] = []any{i, fmt.Sprint(k)}
				}
				_, _, err := e.ingest([]spec.Table{kv(e.schema, table, true)}, spec.Options{Delete: spec.DeleteBeforeFirst}, [][]arrow.DataType{kvTypes}, batch)
				return err
			}
			valid := map[string]map[int64]bool{"t": {}, "u": {}}
			for k := 0; k <= swaps; k++ {
				valid["t"][int64(rows("t", k))], valid["u"][int64(rows("u", k))] = true, true
			}
			names := []any{pgsql.Qualified(e.schema, "t"), pgsql.Qualified(e.schema, "v1"), pgsql.Qualified(e.schema, "v2"), pgsql.Qualified(eu.schema, "vu")}
			if err := ingest(e, "t", 0); err != nil {
				t.Fatal(err)
			}
			e.exec(fmt.Sprintf("CREATE VIEW %[2]s AS SELECT id, v FROM %[1]s", names...))
			e.exec(fmt.Sprintf("CREATE VIEW %[3]s AS SELECT id, v FROM %[1]s WHERE id >= 0", names...))
			if tc.other {
				if err := ingest(eu, "u", 0); err != nil {
					t.Fatal(err)
				}
				eu.exec("CREATE VIEW " + pgsql.Qualified(eu.schema, "vu") + " AS SELECT id, v FROM " + pgsql.Qualified(eu.schema, "u"))
			}

			var mu sync.Mutex
			var problems []string
			reads := 0
			report := func(s string) {
				mu.Lock()
				defer mu.Unlock()
				problems = append(problems, s)
			}
			read := func(conn *pgx.Conn, statements []statement) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				tx, err := conn.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
				for k, s := range statements {
					if k > 0 {
						time.Sleep(time.Millisecond + rand.N(2*time.Millisecond))
					}
					counts := make([]int64, len(s.counts))
					ptrs := make([]any, len(counts))
					for i := range counts {
						ptrs[i] = &counts[i]
					}
					if err := tx.QueryRow(ctx, fmt.Sprintf(s.sql, names...)).Scan(ptrs...); err != nil {
						return err
					}
					seen := map[string]int64{}
					for i, table := range s.counts {
						if n, ok := seen[table]; !valid[table][counts[i]] || ok && n != counts[i] {
							report(fmt.Sprintf("counts %v of %v", counts, s.counts))
						}
						seen[table] = counts[i]
					}
				}
				mu.Lock()
				reads++
				mu.Unlock()
				return tx.Commit(ctx)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for r := range readers {
				conn := pgtest.Connect(t)
				statements := tc.forward
				if r%2 == 1 {
					statements = tc.backward
				}
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(rand.N(think)):
						}
						if err := read(conn, statements); err != nil {
							report(err.Error())
							return // the connection may be gone
						}
					}
				})
			}
			tables := map[string]*env{"t": e}
			if tc.other {
				tables["u"] = eu
			}
			errs := make(chan error, len(tables)*swaps)
			var ingests sync.WaitGroup
			for table, e := range tables {
				ingests.Go(func() {
					for k := 1; k <= swaps; k++ {
						if err := ingest(e, table, k); err != nil {
							errs <- fmt.Errorf("ingest %d into %s: %w", k, table, err)
						}
					}
				})
			}
			ingests.Wait()
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if len(problems) > 0 {
				t.Errorf("%d reader problems, the first: %s", len(problems), strings.Join(problems[:min(3, len(problems))], "; "))
			}
			if reads < readers {
				t.Errorf("only %d reads", reads)
			}
			for table, e := range tables {
				if got := e.rows(table, []string{"id"}, "id"); len(got) != rows(table, swaps) {
					t.Errorf("%s has %d rows, want %d", table, len(got), rows(table, swaps))
				}
			}
		})
	}
}
