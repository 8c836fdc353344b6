package bridge

import (
	"encoding/json"

	"github.com/apache/arrow/go/v15/arrow"
)

// Op says what a call asks of the host.
type Op int

// The ops. goext/internal/genpy writes the Python side's copy of them,
// and of the JSON each carries (Messages), into _protocol.py.
//
//go:generate go run ../internal/genpy/cmd
const (
	OpDone            Op = 0  // the ingest ended
	OpExec            Op = 1  // run a statement
	OpQuery           Op = 2  // run a query; the answer has its rows
	OpCopyBegin       Op = 3  // start a COPY ... FROM STDIN
	OpCopyData        Op = 4  // Data; an error answer means the host ended the COPY
	OpCopyEnd         Op = 5  // finish the COPY, or abort it with an error
	OpBegin           Op = 6  // begin a transaction
	OpCommit          Op = 7  //
	OpRollback        Op = 8  //
	OpStart           Op = 9  // the ingest starts from the stored high watermark
	OpNextBatch       Op = 10 // the answer is the next batch, null after the last
	OpNextChunk       Op = 11 // the answer is the batch's next chunk with its record or SQL, null after the last
	OpHighWatermark   Op = 12 // the answer is the batch's high watermark
	OpOnBeforeVisible Op = 13 // call on_before_visible
	OpLog             Op = 14 // log a line
	OpForceBegin      Op = 15 // enter get_pg_force_execute(conn, logger)
	OpForceEnd        Op = 16 // leave it, telling it whether the section failed
	// ingest_versioned's callbacks (engine.VersionedSource)
	OpOnDuplicate         Op = 17 // call on_duplicate; the answer says whether to stop there
	OpOnPartitionAttached Op = 18 // call on_partition_attached
)

// Call is one request of the engine to the host.
type Call struct {
	Op   Op
	JSON []byte // the op's request JSON (Messages); nil for none
	Data []byte
}

// Answer is the host's reply to a call.
type Answer struct {
	// Err is set when the host failed; the host keeps its own exception.
	Err    error
	JSON   []byte // the op's answer JSON (Messages)
	Record arrow.Record
}

// DoneRequest is OpDone's JSON when the ingest failed (none when it
// succeeded).
type DoneRequest struct {
	Error string `json:"error"`
	// Host is the Seq of the host's failure that caused it, 0 if none.
	Host int `json:"host,omitempty"`
	// Located: Error names where in the batch the failure arose.
	Located bool `json:"located,omitempty"`
	// Duplicate is set when the failure is on_duplicate=ERROR's
	// (engine.DuplicatePartitionError).
	Duplicate *DuplicateDone `json:"duplicate,omitempty"`
}

// DuplicateDone names the new partition that duplicates the source one.
type DuplicateDone struct {
	Partition string `json:"partition"`
	Source    string `json:"source"`
}

// SQLRequest is the JSON of OpExec and OpQuery: the statement in the
// driver's paramstyle (PyFormat; $n for ADBC) with its parameters, if any.
type SQLRequest struct {
	SQL    string `json:"sql"`
	Params []any  `json:"params,omitzero"`
}

// QueryAnswer is the answer to OpQuery: the rows.
type QueryAnswer [][]any

// CopyBeginRequest is the JSON of OpCopyBegin: the COPY statement; or,
// on an ADBC host (Job.ADBC), the temporary table to create and fill
// from the data, an Arrow IPC stream (engine.TextLoader).
type CopyBeginRequest struct {
	SQL   string `json:"sql,omitempty"`
	Table string `json:"table,omitempty"`
}

// Job is what the bridge reads of the job's JSON, beside the engine's
// spec.Job: how the host's connection differs.
type Job struct {
	// ADBC: the host's connection is ADBC's (pgarrow), which takes $n
	// parameters as they are and runs no COPY FROM STDIN.
	ADBC bool `json:"adbc,omitempty"`
}

// EndRequest is the JSON of OpCopyEnd and OpForceEnd: the error that
// ends the COPY or the section, if any.
type EndRequest struct {
	Error string `json:"error,omitempty"`
}

// NextBatchAnswer is the answer to OpNextBatch.
type NextBatchAnswer struct {
	Metadata      string `json:"metadata"`
	HighWatermark string `json:"high_watermark"`
}

// ChunkAnswer is the answer to OpNextChunk: the index of the table its
// rows are for, and their SQL (engine.Chunk) when no record comes with it.
type ChunkAnswer struct {
	Table int    `json:"table"`
	SQL   string `json:"sql,omitempty"`
}

// HighWatermarkAnswer is the answer to OpHighWatermark.
type HighWatermarkAnswer struct {
	Value json.RawMessage `json:"value"` // what the table's comment stores
	Text  string          `json:"text"`  // what the log shows
}

// OnBeforeVisibleRequest is the JSON of OpOnBeforeVisible: the index of
// the wanted table and the table the batch went into.
type OnBeforeVisibleRequest struct {
	Table  int    `json:"table"`
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// LogRequest is the JSON of OpLog: a format of %s verbs and its values.
type LogRequest struct {
	Msg  string   `json:"msg"`
	Args []string `json:"args"`
	// Logger, when set, names the logger to use instead of ingest's:
	// "partition_wrapper" for ingest_versioned's own lines, as upstream.
	Logger  string `json:"logger,omitempty"`
	Warning bool   `json:"warning,omitempty"` // WARNING rather than INFO
}

// OnDuplicateRequest is the JSON of OpOnDuplicate: the new partition,
// whose hash equals that of the source partition, both in schema.
type OnDuplicateRequest struct {
	Schema    string `json:"schema"`
	Partition string `json:"partition"`
	Source    string `json:"source"`
}

// OnDuplicateAnswer is the answer to OpOnDuplicate: on_duplicate's
// result, true to stop with the partition unattached.
type OnDuplicateAnswer struct {
	Result bool `json:"result"`
}

// OnPartitionAttachedRequest is the JSON of OpOnPartitionAttached: the
// attached partition and the "pg-bulk-ingest" object of its comment.
type OnPartitionAttachedRequest struct {
	Schema    string          `json:"schema"`
	Partition string          `json:"partition"`
	Metadata  json.RawMessage `json:"metadata"`
}

// HostErrorAnswer is the answer to any call that the host failed: its
// message and, when the server raised the error, its SQLSTATE and
// context.
type HostErrorAnswer struct {
	Message  string `json:"message"`
	SQLState string `json:"sqlstate,omitempty"`
	Context  string `json:"context,omitempty"`
}

// Message gives the Go types of the JSON of an op's call and of the
// host's answer; nil for none.
type Message struct {
	Op              Op
	Request, Answer any
}

// Messages are every op's JSON, for goext/internal/genpy.
func Messages() []Message {
	return []Message{
		{OpDone, DoneRequest{}, nil},
		{OpExec, SQLRequest{}, nil},
		{OpQuery, SQLRequest{}, QueryAnswer{}},
		{OpCopyBegin, CopyBeginRequest{}, nil},
		{OpCopyData, nil, nil},
		{OpCopyEnd, EndRequest{}, nil},
		{OpBegin, nil, nil},
		{OpCommit, nil, nil},
		{OpRollback, nil, nil},
		{OpStart, json.RawMessage{}, nil},
		{OpNextBatch, nil, (*NextBatchAnswer)(nil)},
		{OpNextChunk, nil, (*ChunkAnswer)(nil)},
		{OpHighWatermark, nil, HighWatermarkAnswer{}},
		{OpOnBeforeVisible, OnBeforeVisibleRequest{}, nil},
		{OpLog, LogRequest{}, nil},
		{OpForceBegin, nil, nil},
		{OpForceEnd, EndRequest{}, nil},
		{OpOnDuplicate, OnDuplicateRequest{}, OnDuplicateAnswer{}},
		{OpOnPartitionAttached, OnPartitionAttachedRequest{}, nil},
	}
}

// HostError is a failure reported by the host in answer to a call.
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

// ParseHostError reads the host's report of a failure (HostErrorAnswer).
func ParseHostError(doc []byte) *HostError {
	var e HostErrorAnswer
	if err := json.Unmarshal(doc, &e); err != nil {
		return &HostError{Message: string(doc)}
	}
	return &HostError{Message: e.Message, State: e.SQLState, Context: e.Context}
}

// DoneJSON is the JSON of an OpDone call that ends the session with err.
func DoneJSON(err error) []byte { return mustJSON(DoneRequest{Error: err.Error()}) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
