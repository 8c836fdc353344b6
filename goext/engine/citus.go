package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// citusTable is how Citus spreads a live table, which its rebuild keeps.
type citusTable struct {
	kind   string // as citus_tables names it: distributed, reference, schema or local
	column string // the distribution column; "" when none
}

// detectCitus tells, once per ingest, whether the database runs Citus.
func (r *run) detectCitus(ctx context.Context) error {
	rows, err := r.conn.Query(ctx, pgsql.CitusInstalled)
	if err != nil {
		return fmt.Errorf("looking up the citus extension: %w", err)
	}
	r.citus, _ = rows[0][0].(bool)
	return nil
}

// citusShape reads how Citus spreads the live table of t, about to be
// rebuilt, and refuses, before anything is loaded, a wanted definition
// that the new table could not be spread alike with: never would the
// rebuild turn it into a local table. A rebuild of a Citus table runs
// Citus's multi-shard commands one at a time (pgsql.CitusSequential),
// set here, before the transaction's first; a swap left to a transaction
// of its own by on_before_visible's commit needs it not (measured). Nil
// when Citus does not spread the table.
func (br *batchRun) citusShape(ctx context.Context, t *table, live []liveColumn) (*citusTable, error) {
	if !br.citus {
		return nil, nil
	}
	rows, err := br.conn.Query(ctx, pgsql.CitusTable, t.spec.Schema, t.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("reading how Citus distributes %s: %w", t, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	shape := &citusTable{}
	shape.kind, _ = rows[0][0].(string)
	shape.column, _ = rows[0][1].(string)
	if method, _ := rows[0][2].(string); method != "h" && method != "n" {
		return nil, fmt.Errorf("table %s is an append- or range-distributed Citus table, which a rebuild cannot keep: "+
			"make it a hash-distributed table (create_distributed_table)", t)
	}
	if shape.column != "" {
		if err := br.keepsColumn(ctx, t, live, shape.column); err != nil {
			return nil, err
		}
	}
	if !br.sequential {
		if err := br.conn.Exec(ctx, pgsql.CitusSequential); err != nil {
			return nil, fmt.Errorf("batch %d: %w", br.number, err)
		}
		br.sequential = true
	}
	return shape, nil
}

// keepsColumn refuses a wanted definition of t, distributed on column,
// that Citus would refuse for the new table: without the column or with
// another type for it (the shards' hash ranges follow its values), or
// with a primary key, unique column or unique index that leaves it out
// (Citus checks uniqueness shard by shard).
func (br *batchRun) keepsColumn(ctx context.Context, t *table, live []liveColumn, column string) error {
	refuse := func(what, change string) error {
		return fmt.Errorf("table %s is distributed by Citus on column %s, %s: %s, or undistribute the table first (undistribute_table)",
			t, pgsql.Ident(column), what, change)
	}
	k := slices.IndexFunc(t.spec.Columns, func(c spec.Column) bool { return c.Name == column })
	if k < 0 {
		return refuse("which the wanted definition drops", "keep the column")
	}
	types, err := br.wantedTypes(ctx, t)
	if err != nil {
		return err
	}
	for _, c := range live {
		if c.Name == column && c.Type != types[k] {
			return refuse("of type "+c.Type+", which the wanted definition changes to "+types[k], "keep its type")
		}
	}
	if pk := t.spec.PrimaryKey(); len(pk) > 0 && !slices.Contains(pk, column) {
		return refuse("which the wanted primary key ("+pgsql.IdentList(pk)+") leaves out", "add the column to the primary key")
	}
	for _, c := range t.spec.Columns {
		if c.Unique && c.Name != column {
			return refuse("but the wanted column "+pgsql.Ident(c.Name)+" is unique", "drop its unique constraint")
		}
	}
	for _, ix := range t.spec.Indexes {
		if ix.Unique && !slices.Contains(ix.Columns, column) {
			return refuse("which the wanted unique index on ("+pgsql.IdentList(ix.Columns)+") leaves out", "add the column to the index")
		}
	}
	return nil
}

// distribute spreads the new ingest table name as Citus spreads the live
// table of t, before it is loaded: a table of a distributed schema is
// already spread by its creation.
func (br *batchRun) distribute(ctx context.Context, t *table, shape *citusTable, name string) error {
	var err error
	switch shape.kind {
	case "distributed":
		err = br.conn.Exec(ctx, pgsql.DistributeLike, t.spec.Schema, name, t.spec.Name, shape.column)
	case "reference":
		err = br.conn.Exec(ctx, pgsql.ReferenceTable, t.spec.Schema, name)
	case "local":
		err = br.conn.Exec(ctx, pgsql.CitusLocalTable, t.spec.Schema, name)
	}
	if err != nil {
		return fmt.Errorf("distributing the ingest table of %s as Citus distributes it (%s): %w", t, shape.kind, err)
	}
	return nil
}
