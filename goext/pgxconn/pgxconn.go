// Package pgxconn runs the engine on a pgx connection: for Go callers and
// for the Go tests against a real server.
package pgxconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Conn adapts a *pgx.Conn to engine.Conn.
type Conn struct {
	conn *pgx.Conn
	// ForceDelay is how long Force lets other sessions block it before
	// terminating them; zero means 5 minutes, as pg_force_execute's.
	ForceDelay time.Duration
	// ForceInterval is how often Force then looks for blockers; zero
	// means a second.
	ForceInterval time.Duration
	// Logger is told of the sessions that Force terminates; nil means
	// the standard library's log package.
	Logger Logger
}

// Logger is engine.Logger.
type Logger interface {
	Info(format string, args ...string)
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

// CopyFrom streams r into a COPY ... FROM STDIN.
func (c *Conn) CopyFrom(ctx context.Context, sql string, r io.Reader) error {
	_, err := c.conn.PgConn().CopyFrom(ctx, r, sql)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &serverError{pe}
	}
	return err
}

// serverError is an error of the server with its context (which line of
// a COPY's data it refused) behind the method the engine reads it from.
type serverError struct{ pe *pgconn.PgError }

func (e *serverError) Error() string    { return e.pe.Error() }
func (e *serverError) Unwrap() error    { return e.pe }
func (e *serverError) SQLState() string { return e.pe.SQLState() }
func (e *serverError) Where() string    { return e.pe.Where }

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

// Force runs section under "force execute": from ForceDelay on, every
// ForceInterval, a second connection terminates the sessions that block
// this one, until section returns.
func (c *Conn) Force(ctx context.Context, section func(context.Context) error) error {
	delay, interval := c.ForceDelay, c.ForceInterval
	if delay <= 0 {
		delay = 5 * time.Minute
	}
	if interval <= 0 {
		interval = time.Second
	}
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	pid := c.conn.PgConn().PID()
	go func() { done <- c.unblock(watchCtx, pid, delay, interval) }()
	err := section(ctx)
	stop()
	if werr := <-done; werr != nil && err == nil {
		err = fmt.Errorf("terminating blocking sessions: %w", werr)
	}
	return err
}

// unblock terminates the sessions blocking pid, every interval from delay
// on, until ctx ends.
func (c *Conn) unblock(ctx context.Context, pid uint32, delay, interval time.Duration) error {
	var other *pgx.Conn
	defer func() {
		if other != nil {
			other.Close(context.Background()) //nolint:errcheck
		}
	}()
	for wait := delay; ; wait = interval {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		// A check under way finishes, that its terminations are logged,
		// within a bound, like pg_force_execute's cleanup timeout.
		checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := c.terminateBlockers(checkCtx, &other, pid)
		cancel()
		if err != nil {
			return err
		}
	}
}

func (c *Conn) terminateBlockers(ctx context.Context, other **pgx.Conn, pid uint32) error {
	if *other == nil {
		conn, err := pgx.ConnectConfig(ctx, c.conn.Config().Copy())
		if err != nil {
			return err
		}
		*other = conn
	}
	c.info("Cancelling queries blocking PID %s", strconv.FormatUint(uint64(pid), 10))
	rows, err := (*other).Query(ctx, terminateBlockersSQL, pid)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var blocker int32
		var user, query, age string
		if err := rows.Scan(&blocker, &user, &query, &age); err != nil {
			return err
		}
		n++
		c.info("Cancelled blocking query %s", fmt.Sprintf("(pid %d, user %q, running for %s: %q)", blocker, user, age, query))
	}
	if n == 0 {
		c.info("No blocking queries to cancel")
	}
	return rows.Err()
}

// terminateBlockersSQL terminates the sessions blocking the backend $1.
const terminateBlockersSQL = `SELECT p.pid, COALESCE(a.usename::text, ''), COALESCE(a.query, ''),
	COALESCE(pg_catalog.age(pg_catalog.clock_timestamp(), a.query_start)::text, '')
	FROM unnest(pg_catalog.pg_blocking_pids($1::int)) AS p(pid)
	JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
	WHERE pg_catalog.pg_terminate_backend(p.pid)`

func (c *Conn) info(format string, args ...string) {
	if c.Logger != nil {
		c.Logger.Info(format, args...)
		return
	}
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	log.Printf(format, a...)
}
