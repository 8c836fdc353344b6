package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// sqlStateProgramLimit is program_limit_exceeded, which the server raises
// when a text value would exceed 1 GB.
const sqlStateProgramLimit = "54000"

// tableHash is upstream's hash of schema.table (its utils'
// calculate_table_metrics), computed on the server: the MD5 in hex of
// the text of ROW(columns) of every row, ordered by the primary key (or
// the first column), and the row count, 0 when there is nothing to hash.
// The columns are those of upstream's list, a column once per index that
// holds it, less those named in ignore. Upstream reads and hashes the
// rows on the client, which gives the same bytes from a UTF-8 client.
func tableHash(ctx context.Context, conn Conn, schema, table string, ignore ...string) (string, int64, error) {
	what := pgsql.Qualified(schema, table)
	rows, err := conn.Query(ctx, pgsql.HashColumns, schema, table)
	if err != nil {
		return "", 0, fmt.Errorf("reading the columns of %s: %w", what, err)
	}
	var cols, order []string
	for _, row := range rows {
		name, _ := row[0].(string)
		if pk, _ := row[1].(bool); pk {
			order = append(order, name)
		}
		if !slices.Contains(ignore, name) {
			cols = append(cols, name)
		}
	}
	if len(cols) == 0 {
		return "", 0, nil
	}
	if len(order) == 0 {
		order = cols[:1]
	}
	rows, err = conn.Query(ctx, pgsql.Hash(schema, table, cols, order))
	if err != nil {
		if sqlState(err) == sqlStateProgramLimit {
			err = fmt.Errorf("%w: the server builds the text of every row as one value, limited to 1 GB", err)
		}
		return "", 0, fmt.Errorf("hashing %s: %w", what, err)
	}
	n, err := toInt(rows[0][1])
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", what, err)
	}
	hash, _ := rows[0][0].(string)
	return hash, n, nil
}

// isoformat writes t in UTC as Python's datetime.isoformat does for an
// aware datetime: microseconds, left out when zero.
func isoformat(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000+00:00")
}
