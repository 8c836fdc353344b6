// Package pgxconn runs the engine on a pgx connection: for Go callers and
// for the Go tests against a real server.
package pgxconn

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Conn adapts a *pgx.Conn to engine.Conn.
type Conn struct {
	conn *pgx.Conn
}

// New wraps conn, which must not be in a transaction.
func New(conn *pgx.Conn) *Conn { return &Conn{conn: conn} }

// Exec runs one statement.
func (c *Conn) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := c.conn.Exec(ctx, sql, args...)
	return err
}

// Query returns all rows with values as engine.Conn documents.
func (c *Conn) Query(ctx context.Context, sql string, args ...any) ([][]any, error) {
	rows, err := c.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			switch v := v.(type) {
			case int32:
				vals[i] = int64(v)
			case int16:
				vals[i] = int64(v)
			case uint32:
				vals[i] = int64(v)
			case nil, bool, int64, float64, string:
			default:
				vals[i] = fmt.Sprint(v)
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// CopyFrom streams r into a COPY ... FROM STDIN. The server's context of
// an error (which line of the data it refused) joins the error's text,
// where the engine reads it.
func (c *Conn) CopyFrom(ctx context.Context, sql string, r io.Reader) error {
	_, err := c.conn.PgConn().CopyFrom(ctx, r, sql)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Where != "" {
		return fmt.Errorf("%w; CONTEXT: %s", err, pe.Where)
	}
	return err
}

// Begin starts a transaction.
func (c *Conn) Begin(ctx context.Context) error { return c.Exec(ctx, "BEGIN") }

// Commit commits the transaction. The server answers COMMIT of a failed
// transaction by rolling it back, which must not pass for success.
func (c *Conn) Commit(ctx context.Context) error {
	tag, err := c.conn.Exec(ctx, "COMMIT")
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("the transaction was rolled back (%s)", tag)
	}
	return err
}

// Rollback rolls the transaction back.
func (c *Conn) Rollback(ctx context.Context) error { return c.Exec(ctx, "ROLLBACK") }
