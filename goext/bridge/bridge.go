// Package bridge runs the engine for a host language (Python through the
// C ABI): the engine works in its own goroutine and every connection,
// source and logger call becomes a request that the host answers.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// Op says what a request asks of the host.
type Op int

// The requests. The Python package's copy is generated from these.
//
//go:generate go run ../internal/genpy/cmd
const (
	OpDone            Op = 0  // the ingest ended; JSON {"error": ...} when it failed
	OpExec            Op = 1  // JSON {"sql", "params"}
	OpQuery           Op = 2  // JSON {"sql", "params"}; answer JSON rows
	OpCopyBegin       Op = 3  // JSON {"sql"}
	OpCopyData        Op = 4  // Data; an error answer means the host ended the COPY
	OpCopyEnd         Op = 5  // JSON {"error"} when the host must abort the COPY
	OpBegin           Op = 6  //
	OpCommit          Op = 7  //
	OpRollback        Op = 8  //
	OpStart           Op = 9  // JSON stored high watermark
	OpNextBatch       Op = 10 // answer JSON {"metadata", "high_watermark"} or null
	OpNextChunk       Op = 11 // answer JSON {"table"} with a record, or null
	OpHighWatermark   Op = 12 // answer JSON {"value", "text"}
	OpOnBeforeVisible Op = 13 // JSON {"table", "schema", "name"}
	OpLog             Op = 14 // JSON {"msg", "args"}
	OpForceBegin      Op = 15 // enter get_pg_force_execute(conn, logger)
	OpForceEnd        Op = 16 // leave it; JSON {"error"} when the section failed
)

// Request is one request to the host.
type Request struct {
	Op   Op
	JSON []byte
	Data []byte
}

// Answer is the host's reply to a request.
type Answer struct {
	// Err is set when the host failed; the host keeps its own exception.
	Err    error
	JSON   []byte
	Record arrow.Record
}

// HostError is a failure reported by the host in answer to a request.
type HostError struct {
	Message string
	State   string // the server's SQLSTATE when the host's error came from it
	// Context is the server's CONTEXT of the error (which line of a COPY's
	// data it refused, for one), "" if none.
	Context string
	// Seq counts the host's failures in the session, from 1: the host
	// keeps its exceptions, and the final answer names the one to raise.
	Seq int
}

func (e *HostError) Error() string { return e.Message }

// SQLState lets the engine recover from server errors it expects.
func (e *HostError) SQLState() string { return e.State }

// Where is the server's context of the error, named as pgx names it.
func (e *HostError) Where() string { return e.Context }

// ParseHostError reads the host's report of a failure: JSON with its
// message and, when the server raised it, its SQLSTATE and context.
func ParseHostError(doc []byte) *HostError {
	var e struct {
		Message  string `json:"message"`
		SQLState string `json:"sqlstate"`
		Context  string `json:"context"`
	}
	if err := json.Unmarshal(doc, &e); err != nil {
		return &HostError{Message: string(doc)}
	}
	return &HostError{Message: e.Message, State: e.SQLState, Context: e.Context}
}

// Session is one ingest run for the host.
type Session struct {
	requests chan Request
	answers  chan Answer
	cancel   context.CancelFunc
	closed   <-chan struct{} // closed by Close
	waiting  bool            // a request is out and not yet answered
	pending  Op              // that request's op
	ended    bool
	failures int // host errors so far
}

// testPanic is the op of the request at which the engine goroutine of a
// session panics, once, instead of sending it; 0 when unarmed. Only the
// tests of panic recovery arm it (PanicAt, the C ABI's pbi_test_panic).
var testPanic atomic.Int32

// PanicAt makes the engine goroutine of a running or next session panic
// once, at its next request with that op; PanicAt(OpDone) disarms it.
// For tests only: they check that such a panic fails the ingest cleanly.
func PanicAt(op Op) { testPanic.Store(int32(op)) }

func testPanicAt(op Op) {
	if t := testPanic.Load(); t != 0 && Op(t) == op && testPanic.CompareAndSwap(t, 0) {
		panic(fmt.Sprintf("test panic before request %d", op))
	}
}

// Start parses the request document and starts the engine.
func Start(doc []byte) (*Session, error) {
	req, err := spec.Parse(doc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{requests: make(chan Request), answers: make(chan Answer), cancel: cancel, closed: ctx.Done()}
	go s.run(ctx, req)
	return s, nil
}

func (s *Session) run(ctx context.Context, req *spec.Request) {
	// The engine reads Arrow buffers that the host's libraries allocated:
	// a fault there (a producer's bad offsets) must fail the ingest like
	// a panic, not end the process.
	debug.SetPanicOnFault(true)
	h := &host{s: s}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error (Go panic): %v\n%s", p, debug.Stack())
				h.unwind(ctx, err)
			}
		}()
		return engine.Ingest(ctx, h, req, h, h)
	}()
	done := Request{Op: OpDone}
	if err != nil {
		var located *engine.BatchError
		done.JSON = mustJSON(map[string]any{
			"error":   err.Error(),
			"host":    hostFailure(err),
			"located": errors.As(err, &located), // the message names where in the batch
		})
	}
	select {
	case s.requests <- done:
	case <-ctx.Done():
	}
}

// hostFailure is the Seq of the host error that caused err, 0 if none.
func hostFailure(err error) int {
	var he *HostError
	if errors.As(err, &he) {
		return he.Seq
	}
	return 0
}

// Step answers the outstanding request, if any, and returns the next one.
func (s *Session) Step(a Answer) Request {
	if s.ended {
		return Request{Op: OpDone, JSON: mustJSON(map[string]any{"error": "the session has ended"})}
	}
	if he, ok := a.Err.(*HostError); ok {
		s.failures++
		he.Seq = s.failures
	}
	if s.waiting {
		s.answers <- a
	} else if a.Record != nil {
		a.Record.Release()
	}
	r := <-s.requests
	s.waiting = r.Op != OpDone
	s.pending = r.Op
	s.ended = r.Op == OpDone
	return r
}

// Pending is the op of the request the host is answering; OpDone when none.
func (s *Session) Pending() Op {
	if !s.waiting {
		return OpDone
	}
	return s.pending
}

// Abort answers the outstanding request with err, a failure on the host's
// side of the bridge rather than in the host (a panic recovered in the C
// ABI): the engine unwinds the batch as after any failure, through
// requests the host answers (the COPY aborted, the transaction rolled
// back), and ends with err. With no request outstanding the session ends
// at once with err.
func (s *Session) Abort(err error) Request {
	if s.waiting {
		return s.Step(Answer{Err: err})
	}
	s.ended = true
	return Request{Op: OpDone, JSON: mustJSON(map[string]any{"error": err.Error()})}
}

// Close stops the engine if it still runs; the host calls it once. Once
// cancelled, the engine's further requests fail without reaching the host.
func (s *Session) Close() {
	s.cancel()
	if s.waiting {
		s.answers <- Answer{Err: errors.New("the session was closed")}
		s.waiting = false
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// host implements engine.Conn, engine.Source and engine.Logger by asking
// the host. Its methods run on the engine's goroutine, one at a time.
type host struct {
	s *Session
	// The host is inside a COPY (between COPY_BEGIN and COPY_END) or a
	// get_pg_force_execute section (FORCE_BEGIN, FORCE_END), which a
	// failure must end before the transaction is rolled back.
	copying, forcing bool
}

func (h *host) call(ctx context.Context, op Op, doc any, data []byte) (Answer, error) {
	testPanicAt(op)
	r := Request{Op: op, Data: data}
	if doc != nil {
		r.JSON = mustJSON(doc)
	}
	// Calls made with a context that Close does not cancel (the rollback,
	// the logger) must not wait forever for a host that has gone.
	select {
	case h.s.requests <- r:
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	case <-h.s.closed:
		return Answer{}, errors.New("the session was closed")
	}
	switch op {
	case OpCopyBegin, OpCopyEnd:
		h.copying = op == OpCopyBegin
	case OpForceBegin, OpForceEnd:
		h.forcing = op == OpForceBegin
	}
	a := <-h.s.answers
	if he := (*HostError)(nil); errors.As(a.Err, &he) {
		// The host ends its COPY before it reports a failure in it, and
		// has not entered a section whose start failed.
		switch op {
		case OpCopyBegin, OpCopyData:
			h.copying = false
		case OpForceBegin:
			h.forcing = false
		}
	}
	return a, a.Err
}

// endCopy aborts the host's COPY with err if it is still open: after a
// failure of the engine or of the bridge, not of the host's COPY itself.
func (h *host) endCopy(ctx context.Context, err error) {
	if h.copying {
		h.call(ctx, OpCopyEnd, map[string]any{"error": err.Error()}, nil) //nolint:errcheck // err is the one to report
	}
}

// endForce leaves the host's get_pg_force_execute section, if it is in
// one, telling it that the section failed with err.
func (h *host) endForce(ctx context.Context, err error) {
	if h.forcing {
		h.call(ctx, OpForceEnd, map[string]any{"error": err.Error()}, nil) //nolint:errcheck // err is the one to report
	}
}

// unwind leaves the host as a failed batch leaves it, after a panic that
// skipped the engine's own unwinding: the COPY aborted, the
// get_pg_force_execute section left, the transaction rolled back.
func (h *host) unwind(ctx context.Context, err error) {
	defer func() { recover() }() //nolint:errcheck // the panic's error is reported anyway
	ctx = context.WithoutCancel(ctx)
	h.endCopy(ctx, err)
	h.endForce(ctx, err)
	h.call(ctx, OpRollback, nil, nil) //nolint:errcheck // err is the one to report
}

func (h *host) sql(ctx context.Context, op Op, sql string, args []any) (Answer, error) {
	doc := map[string]any{"sql": sql}
	if len(args) > 0 {
		text, order := PyFormat(sql)
		params := make([]any, len(order))
		for i, n := range order {
			if n < 1 || n > len(args) {
				return Answer{}, fmt.Errorf("statement uses $%d with %d arguments", n, len(args))
			}
			params[i] = args[n-1]
		}
		doc = map[string]any{"sql": text, "params": params}
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
	var rows [][]any
	if err := json.Unmarshal(a.JSON, &rows); err != nil {
		return nil, fmt.Errorf("decoding query result: %w", err)
	}
	return rows, nil
}

func (h *host) CopyFrom(ctx context.Context, sql string, r io.Reader) error {
	_, err := h.call(ctx, OpCopyBegin, map[string]any{"sql": sql}, nil)
	if err == nil {
		_, err = io.Copy(&copyWriter{h: h, ctx: ctx}, r)
	}
	if err != nil {
		// Abort the host's COPY unless the host ended it; the stream's
		// error is the one to report.
		h.endCopy(ctx, err)
		return err
	}
	_, err = h.call(ctx, OpCopyEnd, map[string]any{}, nil)
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
	end := map[string]any{}
	if err != nil {
		end["error"] = err.Error()
	}
	_, endErr := h.call(ctx, OpForceEnd, end, nil)
	if err != nil {
		return err
	}
	return endErr
}

func (h *host) Start(ctx context.Context, stored json.RawMessage) error {
	_, err := h.call(ctx, OpStart, stored, nil)
	return err
}

func (h *host) NextBatch(ctx context.Context) (*engine.Batch, error) {
	a, err := h.call(ctx, OpNextBatch, nil, nil)
	if err != nil {
		return nil, err
	}
	var b *struct {
		Metadata      string `json:"metadata"`
		HighWatermark string `json:"high_watermark"`
	}
	if err := json.Unmarshal(a.JSON, &b); err != nil {
		return nil, fmt.Errorf("decoding batch: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	return &engine.Batch{Metadata: b.Metadata, HighWatermark: b.HighWatermark}, nil
}

func (h *host) NextChunk(ctx context.Context) (*engine.Chunk, error) {
	a, err := h.call(ctx, OpNextChunk, nil, nil)
	if err != nil {
		return nil, err
	}
	var c *struct {
		Table int `json:"table"`
	}
	if err := json.Unmarshal(a.JSON, &c); err != nil || (c == nil) != (a.Record == nil) {
		if a.Record != nil {
			a.Record.Release()
		}
		return nil, fmt.Errorf("malformed chunk from the host")
	}
	if c == nil {
		return nil, nil
	}
	return &engine.Chunk{Table: c.Table, Record: a.Record}, nil
}

func (h *host) HighWatermark(ctx context.Context) (json.RawMessage, string, error) {
	a, err := h.call(ctx, OpHighWatermark, nil, nil)
	if err != nil {
		return nil, "", err
	}
	var hwm struct {
		Value json.RawMessage `json:"value"`
		Text  string          `json:"text"`
	}
	if err := json.Unmarshal(a.JSON, &hwm); err != nil {
		return nil, "", fmt.Errorf("decoding high watermark: %w", err)
	}
	return hwm.Value, hwm.Text, nil
}

func (h *host) OnBeforeVisible(ctx context.Context, table int, schema, name string) error {
	_, err := h.call(ctx, OpOnBeforeVisible, map[string]any{"table": table, "schema": schema, "name": name}, nil)
	return err
}

// Info sends a log line; a failing logger must not fail the ingest.
func (h *host) Info(format string, args ...string) {
	if args == nil {
		args = []string{}
	}
	h.call(context.Background(), OpLog, map[string]any{"msg": format, "args": args}, nil) //nolint:errcheck
}
