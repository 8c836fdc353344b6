// Package bridge runs the engine for a host language (Python through the
// C ABI): the engine works in its own goroutine and every connection,
// source and logger call becomes a Call that the host answers. The ops
// and their JSON are in messages.go; the host's side of engine.Conn in
// conn.go, of engine.Source and engine.Logger in source.go.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// Session is one ingest run for the host.
type Session struct {
	calls   chan Call
	answers chan Answer
	cancel  context.CancelFunc
	closed  <-chan struct{} // closed by Close
	// The op of the call that is out and not yet answered; OpDone (the
	// zero Op) when none.
	outstanding Op
	ended       bool
	// host errors so far
	failures int
}

// Start parses the job's document and, when engine.New accepts it, starts
// the engine: an invalid job fails here, before the host answers anything.
func Start(doc []byte) (*Session, error) {
	job, err := spec.Parse(doc)
	if err != nil {
		return nil, err
	}
	var hj Job
	if err := json.Unmarshal(doc, &hj); err != nil {
		return nil, fmt.Errorf("decoding the job: %w", err)
	}
	in, err := engine.New(job)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{calls: make(chan Call), answers: make(chan Answer), cancel: cancel, closed: ctx.Done()}
	go s.run(ctx, in, hj)
	return s, nil
}

func (s *Session) run(ctx context.Context, in *engine.Ingestion, job Job) {
	// The engine reads Arrow buffers that the host's libraries allocated:
	// a fault there (a producer's bad offsets) must fail the ingest like
	// a panic, not end the process.
	debug.SetPanicOnFault(true)
	h := &host{s: s, adbc: job.ADBC}
	var conn engine.Conn = h
	if job.ADBC {
		conn = adbcHost{h}
	}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error (Go panic): %v\n%s", p, debug.Stack())
				h.unwind(ctx, err)
			}
		}()
		return in.Run(ctx, conn, h, h)
	}()
	done := Call{Op: OpDone}
	if err != nil {
		done.JSON = mustJSON(failure(err))
	}
	select {
	case s.calls <- done:
	case <-ctx.Done():
	}
}

// failure is the Done JSON of an ingest that failed with err.
func failure(err error) DoneRequest {
	var located *engine.BatchError
	d := DoneRequest{Error: err.Error(), Host: hostFailure(err), Located: errors.As(err, &located)}
	if dup := (*engine.DuplicatePartitionError)(nil); errors.As(err, &dup) {
		d.Duplicate = &DuplicateDone{Partition: dup.Partition, Source: dup.Source}
	}
	return d
}

// hostFailure is the Seq of the host error that caused err, 0 if none.
func hostFailure(err error) int {
	var he *HostError
	if errors.As(err, &he) {
		return he.Seq
	}
	return 0
}

// Step answers the outstanding call, if any, and returns the next one.
func (s *Session) Step(a Answer) Call {
	if s.ended {
		return Call{Op: OpDone, JSON: DoneJSON(errors.New("the session has ended"))}
	}
	if he, ok := a.Err.(*HostError); ok {
		s.failures++
		he.Seq = s.failures
	}
	if s.waiting() {
		s.answers <- a
	} else if a.Record != nil {
		a.Record.Release()
	}
	c := <-s.calls
	s.outstanding = c.Op
	s.ended = c.Op == OpDone
	return c
}

// waiting reports whether a call is out and not yet answered.
func (s *Session) waiting() bool { return s.outstanding != OpDone }

// Abort answers the outstanding call with err, a failure on the host's
// side of the bridge rather than in the host (a panic recovered in the C
// ABI): the engine unwinds the batch as after any failure, through calls
// the host answers (the COPY aborted, the transaction rolled back), and
// ends with err. With no call outstanding the session ends at once with
// err.
func (s *Session) Abort(err error) Call {
	if s.waiting() {
		return s.Step(Answer{Err: err})
	}
	s.ended = true
	return Call{Op: OpDone, JSON: DoneJSON(err)}
}

// Close stops the engine if it still runs; the host calls it once. Once
// cancelled, the engine's further calls fail without reaching the host.
func (s *Session) Close() {
	s.cancel()
	if s.waiting() {
		s.answers <- Answer{Err: errors.New("the session was closed")}
		s.outstanding = OpDone
	}
}

// host implements engine.Conn (conn.go), engine.Source and engine.Logger
// (source.go) by calling the host. Its methods run on the engine's
// goroutine, one at a time.
type host struct {
	s *Session
	// The host is inside a COPY (between COPY_BEGIN and COPY_END) or a
	// get_pg_force_execute section (FORCE_BEGIN, FORCE_END), which a
	// failure must end before the transaction is rolled back.
	copying, forcing bool
	adbc             bool // Job.ADBC
}

// call sends the host a call of op with doc (nil for none) as its JSON
// and returns the host's answer.
func (h *host) call(ctx context.Context, op Op, doc any, data []byte) (Answer, error) {
	testPanicAt(op)
	c := Call{Op: op, Data: data}
	if doc != nil {
		c.JSON = mustJSON(doc)
	}
	// Calls made with a context that Close does not cancel (the rollback,
	// the logger) must not wait forever for a host that has gone.
	select {
	case h.s.calls <- c:
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
