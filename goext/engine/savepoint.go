package engine

import (
	"context"
	"errors"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// retrying runs attempt under a savepoint; when it fails with the given
// SQLSTATE, it rolls back to the savepoint and runs fallback instead. On
// a TextLoader (ADBC), which runs nothing after an error until the
// transaction ends, ROLLBACK TO SAVEPOINT included, fallback runs alone.
func (br *batchRun) retrying(ctx context.Context, attempt, state string, fallback ...string) error {
	if _, ok := br.conn.(TextLoader); ok {
		return br.execAll(ctx, fallback)
	}
	if err := br.conn.Exec(ctx, pgsql.Savepoint); err != nil {
		return err
	}
	err := br.conn.Exec(ctx, attempt)
	if err == nil {
		return br.conn.Exec(ctx, pgsql.Release)
	}
	if sqlState(err) != state {
		return err
	}
	if err := br.conn.Exec(ctx, pgsql.RollbackTo); err != nil {
		return err
	}
	if err := br.execAll(ctx, fallback); err != nil {
		return err
	}
	return br.conn.Exec(ctx, pgsql.Release)
}

// execAll runs statements in order until one fails.
func (br *batchRun) execAll(ctx context.Context, statements []string) error {
	for _, sql := range statements {
		if err := br.conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

// SQLSTATEs the engine recovers from.
const (
	sqlStateUniqueViolation      = "23505"
	sqlStateCardinalityViolation = "21000"
)

// sqlState is the SQLSTATE of a server error in err's chain, or "": both
// pgx's errors and the host's answer it.
func sqlState(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}
