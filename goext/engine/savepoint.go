package engine

import (
	"context"
	"errors"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// retrying runs attempt under a savepoint; when it fails with the given
// SQLSTATE, it rolls back to the savepoint and runs fallback instead.
func (br *batchRun) retrying(ctx context.Context, attempt, state string, fallback ...string) error {
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
	for _, sql := range fallback {
		if err := br.conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return br.conn.Exec(ctx, pgsql.Release)
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
