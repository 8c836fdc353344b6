package engine

import (
	"context"
	"fmt"
	"math"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// A batch's rows of a table with a primary key reach the live table by
// ON CONFLICT, which locks every stored row of a key sent, changed or
// not; when most of a large batch re-sends stored rows unchanged,
// pgsql.UpsertChanged drops those first by a merge join, at the cost of
// a sort of the staged rows and a read of the table. Measured (server
// CPU, 1M-row table, 2 shared cores): ON CONFLICT spends about 2.7 µs
// per unchanged row, the merge join about 1 µs per staged row and
// 0.25 µs per stored row.
const (
	// sampleMinRows is the least rows of a batch for which the choice is
	// weighed: below, either form is quick, and a sample would cost more
	// than it could save.
	sampleMinRows = 10_000
	// sampleRows is about how many staged rows the choice samples.
	sampleRows = 1_000
)

// mostlyUnchanged tells whether the staged rows of table i, bound for
// its live table, are better upserted by pgsql.UpsertChanged: whether the
// unchanged rows (U of n staged, the table holding T) pay for the merge
// join, 2.7 U > n + T/4, rounded to 8U > 3n + T. A sample tells U, once
// T, read first, leaves it a chance (5n > T). Citus plans the join to a
// distributed table its own way: its tables keep ON CONFLICT.
func (br *batchRun) mostlyUnchanged(ctx context.Context, i int, staging string) (bool, error) {
	n := int64(br.rows[i])
	if br.citus || n < sampleMinRows {
		return false, nil
	}
	t := br.tables[i]
	rows, err := br.conn.Query(ctx, pgsql.EstimatedRows, t.String())
	if err != nil {
		return false, fmt.Errorf("reading the estimated rows of %s: %w", t, err)
	}
	stored, err := toInt(rows[0][0])
	if err != nil {
		return false, fmt.Errorf("reading the estimated rows of %s: %w", t, err)
	}
	if stored < 0 || 5*n <= stored {
		return false, nil // not counted yet (ON CONFLICT is never far off), or the batch is too small to pay
	}
	percent := math.Min(100, 100*sampleRows/float64(n))
	if rows, err = br.conn.Query(ctx, pgsql.SampleUnchanged(t.spec, t.spec.Name, staging, t.typeOIDs()), percent); err != nil {
		return false, fmt.Errorf("sampling the batch's rows: %w", err)
	}
	var counts [2]int64 // sampled, unchanged
	for k := range counts {
		if counts[k], err = toInt(rows[0][k]); err != nil {
			return false, fmt.Errorf("sampling the batch's rows: %w", err)
		}
	}
	return 8*n*counts[1] > (3*n+stored)*counts[0], nil
}

// upsertChanged runs pgsql.UpsertChanged with merge joins only, then puts
// back the planner's settings for the rest of the transaction, the
// user's callbacks included.
func (br *batchRun) upsertChanged(ctx context.Context, i int, staging string) error {
	t := br.tables[i]
	rows, err := br.conn.Query(ctx, pgsql.JoinSettings)
	if err != nil {
		return err
	}
	if _, err := br.conn.Query(ctx, pgsql.MergeJoinOnly); err != nil {
		return err
	}
	if err := br.conn.Exec(ctx, pgsql.UpsertChanged(t.spec, t.spec.Name, staging, t.typeOIDs())); err != nil {
		return err
	}
	_, err = br.conn.Query(ctx, pgsql.RestoreJoinSettings, rows[0]...)
	return err
}

// typeOIDs lists the type OIDs of the table's columns, in wanted order.
func (t *table) typeOIDs() []uint32 {
	oids := make([]uint32, len(t.columns))
	for k, c := range t.columns {
		oids[k] = c.OID
	}
	return oids
}
