package engine

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// batchRun is the state of one batch.
type batchRun struct {
	*run
	number  int
	staging map[int]string      // upsert staging table per table index
	ingest  map[int]ingestTable // new ingest table per table index, when swapping
	rows    map[int]int         // rows received per table index
	pending *Chunk              // a chunk read past the end of the COPY it ended
	// sequential is set once the transaction runs Citus's multi-shard
	// commands one at a time, for a rebuild of a Citus table (citus.go).
	sequential bool
	// appending holds the columns to add to the live table, per table
	// index, when ADD COLUMN migrates it (addcolumn.go).
	appending map[int][]spec.Column
}

func (r *run) batch(ctx context.Context, number int, b *Batch) error {
	br := &batchRun{run: r, number: number, staging: map[int]string{}, ingest: map[int]ingestTable{},
		appending: map[int][]spec.Column{}, rows: map[int]int{}}
	if err := r.lockTables(ctx); err != nil {
		return err
	}
	for i, t := range r.tables {
		if err := br.firstBatch(ctx, i, t); err != nil {
			return err
		}
	}
	r.log.Info("Ingesting batch %s with high watermark value %s", b.Metadata, b.HighWatermark)
	if err := br.load(ctx); err != nil {
		return err
	}
	if err := br.rebuildLarge(ctx); err != nil {
		return err
	}
	if err := br.moveStaged(ctx, false); err != nil {
		return err
	}
	if err := br.finishIngestTables(ctx); err != nil {
		return err
	}
	if err := br.addColumns(ctx); err != nil {
		return err
	}
	hwm, hwmText, err := r.src.HighWatermark(ctx)
	if err != nil {
		return err
	}
	// The high watermark goes in before the callbacks, onto the table that
	// carries it once swapped in, so that a callback committing the
	// transaction commits it with the rows.
	if err := r.writeHighWatermark(ctx, br.target(0), hwm); err != nil {
		return err
	}
	if err := br.onBeforeVisible(ctx); err != nil {
		return err
	}
	if err := br.swapIngestTables(ctx); err != nil {
		return err
	}
	if err := r.conn.Commit(ctx); err != nil {
		return fmt.Errorf("batch %d: committing: %w", number, err)
	}
	r.locked = false
	r.log.Info("Ingestion of batch %s with high watermark value %s complete", b.Metadata, hwmText)
	if err := r.conn.Begin(ctx); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	return nil
}

// moveStaged moves the rows of the batch's staging tables into the tables
// they go into: of the tables that columns are appended to (addColumns),
// or of the others.
func (br *batchRun) moveStaged(ctx context.Context, appending bool) error {
	for i, t := range br.tables {
		name, ok := br.staging[i]
		if _, adds := br.appending[i]; !ok || adds != appending {
			continue
		}
		br.log.Info("Copying from batch table to target table")
		if t.upsert {
			if err := br.upsert(ctx, i, name); err != nil {
				return fmt.Errorf("batch %d: upserting into %s: %w", br.number, t, err)
			}
		} else if err := br.conn.Exec(ctx, pgsql.AppendStaged(t.spec, br.target(i), name)); err != nil {
			return fmt.Errorf("batch %d: inserting into %s: %w", br.number, t, err)
		}
		br.log.Info("Copying from batch table to target table complete")
	}
	return nil
}

// onBeforeVisible runs the user's callbacks, which may end the batch's
// transaction themselves. After a commit, which made the rows visible with
// their high watermark, what remains of the batch (a swap) goes on in a
// new transaction under the tables' locks again; after a rollback the
// batch is lost, and the ingest stops before anything else commits.
func (br *batchRun) onBeforeVisible(ctx context.Context) error {
	rows, err := br.conn.Query(ctx, pgsql.CurrentXact)
	if err != nil {
		return fmt.Errorf("batch %d: reading the transaction's ID: %w", br.number, err)
	}
	xact := rows[0][0]
	for i, t := range br.tables {
		br.log.Info("Calling on_before_visible callback")
		if err := br.src.OnBeforeVisible(ctx, i, t.spec.Schema, br.target(i)); err != nil {
			return err
		}
		br.log.Info("Calling of on_before_visible callback complete")
	}
	if rows, err = br.conn.Query(ctx, pgsql.XactStatus, xact); err != nil {
		return fmt.Errorf("batch %d: reading the status of its transaction after on_before_visible: %w", br.number, err)
	}
	switch status, _ := rows[0][0].(string); status {
	case "in progress":
		return nil
	case "committed":
		br.log.Info("on_before_visible committed batch %s with its high watermark: the rest of it runs in a new transaction", strconv.Itoa(br.number))
		if err := br.conn.Begin(ctx); err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
		br.locked = false
		return br.lockTables(ctx)
	default:
		return fmt.Errorf("batch %d: on_before_visible rolled back the batch's transaction, so batch %d was not ingested "+
			"and the stored high watermark is still that of the last committed batch", br.number, br.number)
	}
}

// load COPYs the batch's chunks; a COPY runs until a chunk of another
// table or an SQL chunk arrives, which comes next.
func (br *batchRun) load(ctx context.Context) error {
	for {
		c := br.pending
		br.pending = nil
		if c == nil {
			var err error
			if c, err = br.src.NextChunk(ctx); err != nil {
				return err
			}
			if c == nil {
				return nil
			}
		}
		step := br.copyTable
		if c.Record == nil {
			step = br.insertSQL
		}
		if err := step(ctx, c); err != nil {
			// A chunk of the next table may have ended the failed COPY.
			br.pending.release()
			br.pending = nil
			return err
		}
	}
}

// copyTable runs one COPY into the table of first, fed by first and the
// chunks of the same table and COPY format that follow it.
func (br *batchRun) copyTable(ctx context.Context, first *Chunk) error {
	t := br.tables[first.Table]
	if err := br.startTable(ctx, first.Table); err != nil {
		first.Record.Release()
		return err
	}
	rec, err := br.prepare(first)
	if err != nil {
		return err
	}
	schema, target := br.into(first.Table)
	s := &copyStream{br: br, ctx: ctx, table: first.Table, next: first, nextRec: rec, start: br.rows[first.Table]}
	defer s.release()
	br.log.Info("Ingesting from source into the database...")
	if loader, ok := br.conn.(TextLoader); ok {
		s.enc = pgcopy.NewTextStream(len(t.columns))
		err = br.loadText(ctx, loader, s, schema, target)
	} else {
		s.enc = pgcopy.NewEncoder(rec.Format())
		copySQL := pgsql.CopyText
		if rec.Format() == pgcopy.Binary {
			copySQL = pgsql.CopyBinary
		}
		err = br.conn.CopyFrom(ctx, copySQL(schema, target, t.spec.ColumnNames()), s)
	}
	if s.err != nil { // the stream's own error says more than the server's reply to it
		return s.err
	}
	if err != nil {
		if located := s.locate(target, err); located != nil {
			return located
		}
		return fmt.Errorf("batch %d: copying into %s: %w", br.number, t, err)
	}
	br.log.Info("Ingested %s rows in total", strconv.Itoa(s.count))
	return nil
}

// insertSQL inserts the rows of an SQL chunk where the table's rows of
// the batch go. It counts as one row of the table, as the host numbers it.
func (br *batchRun) insertSQL(ctx context.Context, c *Chunk) error {
	t := br.tables[c.Table]
	if err := br.startTable(ctx, c.Table); err != nil {
		return err
	}
	schema, target := br.into(c.Table)
	row := br.rows[c.Table]
	br.rows[c.Table]++
	if err := br.conn.Exec(ctx, pgsql.InsertRows(schema, target, t.spec.ColumnNames(), c.SQL)); err != nil {
		return &BatchError{Batch: br.number, Table: t.String(), Err: &SQLRowError{Row: row, SQL: c.SQL, Err: err}}
	}
	return nil
}

// into is where table i's rows of the batch go: its staging table (a
// temporary one, schema ""), or the table it targets.
func (br *batchRun) into(i int) (schema, table string) {
	if name, ok := br.staging[i]; ok {
		return "", name
	}
	return br.tables[i].spec.Schema, br.target(i)
}

// ingestTable is a new table built in a batch to be swapped in for the
// live one.
type ingestTable struct {
	name       string
	hasOldRows bool // the live table's rows were copied into it
	// citus is set for a table that Citus spreads, which refuses the
	// ctid-based DeleteDuplicateKeys: an upsert stages its rows.
	citus bool
	// forward is set for a copy-forward partition built in place, which
	// takes the rows of its source that the batch leaves as they were.
	forward *forward
}

// target is the name of the table that table i's rows go into.
func (br *batchRun) target(i int) string {
	if it, ok := br.ingest[i]; ok {
		return it.name
	}
	return br.tables[i].spec.Name
}

// upsert moves table i's staged rows into the table they go into. Keys
// sent twice in a batch are rare, so the live table is first tried
// without sorting the rows to keep the last of each key, unless most rows
// are sent unchanged (upsert.go); an ingest table holding the old rows
// loses those the batch replaces, and gets its key once they are in.
func (br *batchRun) upsert(ctx context.Context, i int, staging string) error {
	t := br.tables[i]
	if it, ok := br.ingest[i]; ok {
		if err := br.conn.Exec(ctx, pgsql.DeleteStagedKeys(t.spec, it.name, staging)); err != nil {
			return err
		}
		return br.conn.Exec(ctx, pgsql.InsertStaged(t.spec, it.name, staging))
	}
	unchanged, err := br.mostlyUnchanged(ctx, i, staging)
	if err != nil {
		return err
	}
	if unchanged {
		return br.upsertChanged(ctx, i, staging)
	}
	return br.retrying(ctx, pgsql.Upsert(t.spec, t.spec.Name, staging, false), sqlStateCardinalityViolation,
		pgsql.Upsert(t.spec, t.spec.Name, staging, true))
}

// startTable does the work due before a table's first rows of the batch.
func (br *batchRun) startTable(ctx context.Context, i int) error {
	t := br.tables[i]
	if _, ok := br.staging[i]; ok || !t.upsert {
		if !t.upsert {
			br.log.Info("Ingesting without upsert")
		}
		return nil
	}
	br.log.Info("Ingesting with upsert")
	if it, ok := br.ingest[i]; ok && !it.hasOldRows && !it.citus {
		return nil // COPY straight in: addConstraints keeps the last row of each key
	}
	name := relationName()
	if err := br.conn.Exec(ctx, pgsql.CreateStaging(t.spec, name)); err != nil {
		return fmt.Errorf("creating the batch table for %s: %w", t, err)
	}
	br.staging[i] = name
	return nil
}
