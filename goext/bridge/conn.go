package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// The host's side of engine.Conn: SQL, transactions, COPY and force
// execute, on the user's connection.

// endCopy aborts the host's COPY with err if it is still open: after a
// failure of the engine or of the bridge, not of the host's COPY itself.
func (h *host) endCopy(ctx context.Context, err error) {
	if h.copying {
		h.call(ctx, OpCopyEnd, EndRequest{Error: err.Error()}, nil) //nolint:errcheck // err is the one to report
	}
}

// endForce leaves the host's get_pg_force_execute section, if it is in
// one, telling it that the section failed with err.
func (h *host) endForce(ctx context.Context, err error) {
	if h.forcing {
		h.call(ctx, OpForceEnd, EndRequest{Error: err.Error()}, nil) //nolint:errcheck // err is the one to report
	}
}

func (h *host) sql(ctx context.Context, op Op, sql string, args []any) (Answer, error) {
	doc := SQLRequest{SQL: sql, Params: args}
	if len(args) > 0 && !h.adbc {
		text, order := PyFormat(sql)
		doc = SQLRequest{SQL: text, Params: make([]any, len(order))}
		for i, n := range order {
			if n < 1 || n > len(args) {
				return Answer{}, fmt.Errorf("statement uses $%d with %d arguments", n, len(args))
			}
			doc.Params[i] = args[n-1]
		}
	}
	return h.call(ctx, op, doc, nil)
}

func (h *host) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := h.sql(ctx, OpExec, sql, args)
	return err
}

func (h *host) Query(ctx context.Context, sql string, args ...any) ([][]any, error) {
	a, err := h.sql(ctx, OpQuery, sql, args)
	if err != nil {
		return nil, err
	}
	var rows QueryAnswer
	if err := json.Unmarshal(a.JSON, &rows); err != nil {
		return nil, fmt.Errorf("decoding query result: %w", err)
	}
	return rows, nil
}

func (h *host) CopyFrom(ctx context.Context, sql string, r io.Reader) error {
	return h.copy(ctx, CopyBeginRequest{SQL: sql}, r)
}

// adbcHost is the host of an ADBC connection (Job.ADBC), which loads
// rows as Arrow instead of running COPY.
type adbcHost struct{ *host }

// LoadText implements engine.TextLoader with the calls of a COPY.
func (h adbcHost) LoadText(ctx context.Context, table string, r io.Reader) error {
	return h.copy(ctx, CopyBeginRequest{Table: table}, r)
}

func (h *host) copy(ctx context.Context, begin CopyBeginRequest, r io.Reader) error {
	_, err := h.call(ctx, OpCopyBegin, begin, nil)
	if err == nil {
		_, err = io.Copy(&copyWriter{h: h, ctx: ctx}, r)
	}
	if err != nil {
		// Abort the host's COPY unless the host ended it; the stream's
		// error is the one to report.
		h.endCopy(ctx, err)
		return err
	}
	_, err = h.call(ctx, OpCopyEnd, EndRequest{}, nil)
	return err
}

type copyWriter struct {
	h   *host
	ctx context.Context
}

func (w *copyWriter) Write(p []byte) (int, error) {
	if _, err := w.h.call(w.ctx, OpCopyData, nil, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) Begin(ctx context.Context) error {
	_, err := h.call(ctx, OpBegin, nil, nil)
	return err
}

func (h *host) Commit(ctx context.Context) error {
	_, err := h.call(ctx, OpCommit, nil, nil)
	return err
}

func (h *host) Rollback(ctx context.Context) error {
	_, err := h.call(ctx, OpRollback, nil, nil)
	return err
}

// Force runs section inside the host's get_pg_force_execute, which it
// always leaves, telling it whether the section failed.
func (h *host) Force(ctx context.Context, section func(context.Context) error) error {
	if _, err := h.call(ctx, OpForceBegin, nil, nil); err != nil {
		h.endForce(ctx, err) // unless the host failed to enter it
		return err
	}
	err := section(ctx)
	var end EndRequest
	if err != nil {
		end.Error = err.Error()
	}
	_, endErr := h.call(ctx, OpForceEnd, end, nil)
	if err != nil {
		return err
	}
	return endErr
}
