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
// a sort of the staged rows and a read of the table. Measured on a table
// of 1M rows: ON CONFLICT spends about 2.7 µs per unchanged row, the
// merge join about 1 µs per staged row and 0.25 µs per stored row.
const (
	// sampleMinRows is the least rows of a batch for which the choice is
	// weighed: below, the time either form takes is too short to gain.
	sampleMinRows = 10_000
	// sampleRows is about how many staged rows the choice samples.
	sampleRows = 2_000
)

// mostlyUnchanged tells whether the staged rows of table i, bound for
// its live table, are better upserted by pgsql.UpsertChanged: whether a
// sample finds that the unchanged rows (u, of n staged, the table holding
// T) outnumber (3n + T) / 8. Citus plans the join to a distributed table
// its own way: its tables keep ON CONFLICT.
func (br *batchRun) mostlyUnchanged(ctx context.Context, i int, staging string) (bool, error) {
	n := int64(br.rows[i])
	if br.citus || n < sampleMinRows {
		return false, nil
	}
	t := br.tables[i]
	percent := math.Min(100, 100*sampleRows/float64(n))
	rows, err := br.conn.Query(ctx, pgsql.SampleUnchanged(t.spec, t.spec.Name, staging, t.typeOIDs()), t.String(), percent)
	if err != nil {
		return false, fmt.Errorf("sampling the batch's rows: %w", err)
	}
	var counts [3]int64 // stored, sampled, unchanged
	for k := range counts {
		if counts[k], err = toInt(rows[0][k]); err != nil {
			return false, fmt.Errorf("sampling the batch's rows: %w", err)
		}
	}
	stored, sampled, unchanged := counts[0], counts[1], counts[2]
	if stored < 0 || sampled == 0 {
		return false, nil // not yet counted, or no row sampled: ON CONFLICT is never far off
	}
	return 8*n*unchanged > (3*n+stored)*sampled, nil
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
