// Package engine is the ingest algorithm: straight-line code against a
// connection, a source of batches and a logger, all small interfaces.
package engine

import (
	"context"
	"encoding/json"
	"io"

	"github.com/apache/arrow/go/v15/arrow"
)

// Conn runs SQL in one session. Statements take $n parameters.
type Conn interface {
	Exec(ctx context.Context, sql string, args ...any) error
	// Query returns every row; values are nil, bool, int64, float64 or string.
	Query(ctx context.Context, sql string, args ...any) ([][]any, error)
	// CopyFrom runs a COPY ... FROM STDIN fed from r.
	CopyFrom(ctx context.Context, sql string, r io.Reader) error
	Begin(ctx context.Context) error
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// Force runs section, whose statements take locks that others may
	// hold, under "force execute": sessions still blocking this one after
	// a delay are terminated. It returns section's error, if any.
	Force(ctx context.Context, section func(context.Context) error) error
}

// TextLoader is a Conn that runs no COPY FROM STDIN (ADBC's, under
// pgarrow): the engine then loads each COPY's rows with LoadText into a
// temporary table of text columns, and inserts them from there, cast to
// the columns' types as the server reads a text COPY.
type TextLoader interface {
	// LoadText creates the temporary table, in the transaction, from
	// r's Arrow IPC stream (pgcopy.TextStream) and fills it with its rows.
	LoadText(ctx context.Context, table string, r io.Reader) error
}

// Logger receives upstream's progress messages: a format with %s verbs
// and string arguments, so that Python's logging and fmt agree on it.
type Logger interface {
	Info(format string, args ...string)
}

// Batch is what the source says of a batch when it starts.
type Batch struct {
	// Metadata and HighWatermark are the batch's metadata and high
	// watermark as text, for the log.
	Metadata      string
	HighWatermark string
}

// Chunk is some rows of one table, columns in table order: a Record, or
// SQL whose rows the engine inserts (a VALUES list or a query, the text
// that follows INSERT INTO the table), in order among the table's other
// chunks. The engine releases Record once it is encoded.
type Chunk struct {
	Table  int
	Record arrow.Record
	SQL    string // only when Record is nil
}

// Source hands over the batches of one ingest.
type Source interface {
	// Start gets the high watermark stored in the first table (JSON null
	// when none) and readies the batches.
	Start(ctx context.Context, stored json.RawMessage) error
	// NextBatch starts the next batch; nil when there is none left.
	NextBatch(ctx context.Context) (*Batch, error)
	// NextChunk returns the next rows of the current batch; nil at its end.
	NextChunk(ctx context.Context) (*Chunk, error)
	// HighWatermark returns the finished batch's high watermark as JSON,
	// and as text for the log.
	HighWatermark(ctx context.Context) (json.RawMessage, string, error)
	// OnBeforeVisible runs the user's callback for one table of the batch
	// before it commits; schema and name say where its rows went.
	OnBeforeVisible(ctx context.Context, table int, schema, name string) error
}

// VersionedSource is the Source of a versioned ingest (spec.Versioned):
// it also runs ingest_versioned's callbacks and logs its own lines, which
// upstream writes on the logger "partition_wrapper", not on ingest's.
type VersionedSource interface {
	Source
	// OnDuplicate runs on_duplicate for partition, whose hash equals that
	// of source, both in schema; true stops there, leaving it unattached.
	OnDuplicate(ctx context.Context, schema, partition, source string) (bool, error)
	// OnPartitionAttached runs on_partition_attached for the partition
	// just attached; metadata is the "pg-bulk-ingest" object of its comment.
	OnPartitionAttached(ctx context.Context, schema, partition string, metadata json.RawMessage) error
	// VersionedLog logs a line as Logger.Info does, at WARNING when warn.
	VersionedLog(warn bool, format string, args ...string)
}
