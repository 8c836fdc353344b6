package engine

import (
	"context"
	"fmt"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// loadText runs a COPY's stream s through a connection that runs no COPY:
// loader loads it into a new temporary table of text columns, whose rows
// then go into schema.target, each value cast to its column's type, and
// which is dropped; all in the batch's transaction.
func (br *batchRun) loadText(ctx context.Context, loader TextLoader, s *copyStream, schema, target string) error {
	t := br.tables[s.table]
	name := relationName()
	if err := loader.LoadText(ctx, name, s); err != nil {
		return err
	}
	rows, err := br.conn.Query(ctx, pgsql.ColumnTypes, pgsql.RelationText(schema, target))
	if err != nil {
		return fmt.Errorf("reading the column types: %w", err)
	}
	typeOf := map[string]string{}
	for _, row := range rows {
		column, _ := row[0].(string)
		typeOf[column], _ = row[1].(string)
	}
	sources, types := make([]string, len(t.columns)), make([]string, len(t.columns))
	for c, col := range t.columns {
		sources[c], types[c] = pgcopy.TextColumn(c), typeOf[col.Name]
		if types[c] == "" {
			return fmt.Errorf("column %q is missing", col.Name)
		}
	}
	if err := br.conn.Exec(ctx, pgsql.InsertCast(schema, target, t.spec.ColumnNames(), name, sources, types)); err != nil {
		return err
	}
	return br.conn.Exec(ctx, pgsql.DropTemporary(name))
}
