package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// appendable returns the wanted columns of t that ALTER TABLE ... ADD
// COLUMN can append to its live table instead of a rebuild, to the same
// end; none otherwise. The live table must have the wanted columns up to
// its last, alike, and the wanted indexes (differsFrom); each column past
// them nullable, outside the primary key and not unique: the live rows
// read NULL in it, as a rebuild copies them, and nothing is rewritten. An
// index or UNIQUE on a new column would be built from every row under
// the lock that ADD COLUMN holds until the commit, where a rebuild builds
// it on a table that no reader sees: that one rebuilds. So does a table
// that a rebuild turns into another kind (partitioned, a partition, in an
// inheritance, typed). Citus propagates ADD COLUMN to every shard, in the
// transaction: its tables keep their distribution as a rebuild keeps it.
// With a callback of the user's (spec.Options.OnBeforeVisible), which runs
// under that lock, all rebuild.
func (br *batchRun) appendable(ctx context.Context, t *table, live []liveColumn) ([]spec.Column, error) {
	if br.opts.Delete != spec.DeleteOff || br.opts.OnBeforeVisible || len(live) >= len(t.spec.Columns) {
		return nil, nil
	}
	appended := t.spec.Columns[len(live):]
	for _, c := range appended {
		if !c.Nullable || c.PrimaryKey || c.Unique {
			return nil, nil
		}
	}
	if differs, err := br.differsFrom(ctx, t, live); err != nil || differs {
		return nil, err
	}
	rows, err := br.conn.Query(ctx, pgsql.OrdinaryTable, t.spec.Schema, t.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("reading what kind of table %s is: %w", t, err)
	}
	if ordinary, _ := rows[0][0].(bool); !ordinary {
		return nil, nil
	}
	return appended, nil
}

// stageAppending readies table i, whose columns appended are to be added
// to its live table (appendable): the batch's rows go into a temporary
// staging table of the wanted columns, and from there into the live table
// once addColumns has added them, so that the readers whom ADD COLUMN's
// lock holds up wait for the end of the batch, not for its rows to load.
func (br *batchRun) stageAppending(ctx context.Context, i int, t *table, appended []spec.Column) error {
	names := make([]string, len(appended))
	for k, c := range appended {
		names[k] = c.Name
	}
	br.log.Info("Ingesting via ADD COLUMN of %s to %s.%s: no new ingest table", strings.Join(names, ", "), t.spec.Schema, t.spec.Name)
	name := relationName()
	if err := br.conn.Exec(ctx, pgsql.CreateCheckedStaging(t.spec, name)); err != nil {
		return fmt.Errorf("creating the batch table for %s: %w", t, err)
	}
	staged, err := br.readLive(ctx, "pg_temp", name)
	if err != nil {
		return err
	}
	br.staging[i] = name
	br.appending[i] = appended
	return t.useColumns(staged)
}

// inPlaceMaxRows is the most rows of a table's first batch that ADD
// COLUMN takes in: they go from the staging table into the live table
// under ADD COLUMN's lock, which holds readers up that long (an upsert
// into a table of 1M rows: 5 to 10 µs a row, measured). A batch of more
// rebuilds the table, which readers then wait for at the swap only.
const inPlaceMaxRows = 10_000

// rebuildLarge rebuilds instead the tables that columns were to be
// appended to (stageAppending) whose staged rows are more than
// inPlaceMaxRows: a new ingest table, filled with the live table's rows,
// then takes the staged rows (moveStaged) and is swapped in.
func (br *batchRun) rebuildLarge(ctx context.Context) error {
	for i, t := range br.tables {
		if _, ok := br.appending[i]; !ok {
			continue
		}
		rows, err := br.conn.Query(ctx, pgsql.CountUpTo(br.staging[i]), inPlaceMaxRows+1)
		if err != nil {
			return fmt.Errorf("counting the batch's rows for %s: %w", t, err)
		}
		if n, err := toInt(rows[0][0]); err != nil || n <= inPlaceMaxRows {
			if err != nil {
				return err
			}
			continue
		}
		br.log.Info("More than %s rows for %s.%s in the batch: too many to add the columns in place, under ADD COLUMN's lock",
			strconv.Itoa(inPlaceMaxRows), t.spec.Schema, t.spec.Name)
		live, err := br.readLive(ctx, t.spec.Schema, t.spec.Name)
		if err != nil {
			return err
		}
		if _, err := br.newIngestTable(ctx, i, t, live); err != nil {
			return err
		}
		delete(br.appending, i)
	}
	return nil
}

// addColumns adds the appended columns of the batch's tables
// (stageAppending), then moves their staged rows in. ADD COLUMN takes an
// ACCESS EXCLUSIVE lock, so it waits for readers as a swap does, in
// bounded waits under force execute (lockBounded); it holds the lock
// until the commit, as a swap does: readers wait for the batch's rows to
// go in, the high watermark and the swaps (inPlaceMaxRows bounds the rows).
func (br *batchRun) addColumns(ctx context.Context) error {
	var adding []int
	var names []string
	for i, t := range br.tables {
		if _, ok := br.appending[i]; ok {
			adding = append(adding, i)
			names = append(names, t.spec.Schema+"."+t.spec.Name)
		}
	}
	if len(adding) == 0 {
		return nil
	}
	step := lockedStep{
		what:      "ADD COLUMN's",
		relations: strings.Join(names, ", "),
		prepare:   func(context.Context) (int, error) { return len(adding), nil },
		run: func(ctx context.Context, locked func() error) error {
			for _, i := range adding {
				t := br.tables[i]
				add := pgsql.AddColumns(t.spec.Schema, t.spec.Name, br.appending[i])
				br.log.Info("Adding columns: %s", add)
				if err := br.conn.Exec(ctx, add); err != nil {
					return fmt.Errorf("adding columns to %s: %w", t, err)
				}
				if err := locked(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	if err := br.conn.Force(ctx, func(ctx context.Context) error { return br.lockBounded(ctx, step) }); err != nil {
		return err
	}
	return br.moveStaged(ctx, true)
}
