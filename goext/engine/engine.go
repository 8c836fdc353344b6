package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pyjson"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// table is a wanted table and what the engine learnt of it.
type table struct {
	spec    *spec.Table
	columns []pgcopy.Target // columns of the table the rows go into, in wanted order
	upsert  bool
	// firstDone is set once the table's first batch of this ingest ran.
	firstDone bool
	// forward, for a copy-forward partition, is the source whose rows it
	// takes in its first batch.
	forward *forward
}

func (t *table) String() string { return pgsql.Qualified(t.spec.Schema, t.spec.Name) }

// run is one call of Ingest.
type run struct {
	conn    Conn
	src     Source
	log     Logger
	opts    spec.Options
	tables  []*table
	comment *pyjson.Object      // first table's comment, other keys kept
	types   map[*table][]string // wanted column types as the server writes them
	locks   []tableLock         // the tables' advisory locks, in the order taken
	locked  bool                // the current transaction holds them
	citus   bool                // the database runs Citus (citus.go)
}

// Ingestion is a job that New found ingestible, ready to Run.
type Ingestion struct{ job *spec.Job }

// New refuses, before any SQL, a job that cannot be ingested
// (spec.Job.Validate): the one check of a job on the Go side.
func New(job *spec.Job) (*Ingestion, error) {
	if err := job.Validate(); err != nil {
		return nil, err
	}
	return &Ingestion{job: job}, nil
}

// Ingest is New and Run.
func Ingest(ctx context.Context, conn Conn, job *spec.Job, src Source, log Logger) error {
	in, err := New(job)
	if err != nil {
		return err
	}
	return in.Run(ctx, conn, src, log)
}

// Run creates the tables when missing and ingests every batch of src,
// one transaction each, storing each batch's high watermark in the first
// table's comment. On error the current batch is rolled back; earlier
// batches stay committed. Ingests into a common table take turns, a
// transaction at a time (lockTables). A versioned job (spec.Versioned)
// ingests into its partition so, between its own transactions before
// and after (versioned.go); its src must be a VersionedSource.
func (in *Ingestion) Run(ctx context.Context, conn Conn, src Source, log Logger) error {
	if in.job.Versioned != nil {
		return in.runVersioned(ctx, conn, src, log)
	}
	return in.ingest(ctx, conn, src, log, nil)
}

// ingest runs the batches of src; fwd, if set, is what the first table
// takes from a source partition in its first batch.
func (in *Ingestion) ingest(ctx context.Context, conn Conn, src Source, log Logger, fwd *forward) (err error) {
	job := in.job
	r := &run{conn: conn, src: src, log: log, opts: job.Options}
	for i := range job.Tables {
		t := &job.Tables[i]
		r.tables = append(r.tables, &table{spec: t, upsert: upserts(job.Options, t)})
	}
	r.tables[0].forward = fwd
	if err := conn.Begin(ctx); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := conn.Rollback(context.WithoutCancel(ctx)); rbErr != nil {
				err = errors.Join(err, fmt.Errorf("rolling back: %w", rbErr))
			}
		}
	}()
	if err := r.lockTables(ctx); err != nil {
		return err
	}
	if err := r.detectCitus(ctx); err != nil {
		return err
	}
	if err := r.prepareTables(ctx); err != nil {
		return err
	}
	stored, err := r.readHighWatermark(ctx)
	if err != nil {
		return err
	}
	if err := src.Start(ctx, stored); err != nil {
		return err
	}
	for n := 1; ; n++ {
		b, err := src.NextBatch(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		if err := r.batch(ctx, n, b); err != nil {
			return err
		}
	}
	if err := conn.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// upserts tells whether the rows of t replace those of their key.
func upserts(opts spec.Options, t *spec.Table) bool {
	return opts.Upsert == spec.UpsertIfPrimaryKey && len(t.PrimaryKey()) > 0
}

func (r *run) prepareTables(ctx context.Context) error {
	for _, t := range r.tables {
		r.log.Info("Creating target table %s if it doesn't already exist", t.spec.Schema+"."+t.spec.Name)
		exists, err := r.existsLocked(ctx, pgsql.SchemaExists, "schema "+pgsql.Ident(t.spec.Schema), t.spec.Schema)
		if err != nil {
			return err
		}
		if !exists {
			if err := r.conn.Exec(ctx, pgsql.CreateSchema(t.spec.Schema)); err != nil {
				return fmt.Errorf("creating schema %s: %w", pgsql.Ident(t.spec.Schema), err)
			}
		}
		exists, err = r.existsLocked(ctx, pgsql.TableExists, "table "+t.String(), t.spec.Schema, t.spec.Name)
		if err != nil {
			return err
		}
		if !exists {
			if err := r.createTable(ctx, t); err != nil {
				return err
			}
		}
		r.log.Info("Target table %s created or already existed", t.spec.Schema+"."+t.spec.Name)
	}
	return nil
}

// existsLocked answers an existence query; when the object is missing it
// first takes a lock on its name until the transaction ends and asks
// again, so that concurrent ingests creating the same schema or table
// wait for each other instead of failing on the catalog's unique keys.
func (r *run) existsLocked(ctx context.Context, query, what string, args ...any) (bool, error) {
	for locked := false; ; locked = true {
		rows, err := r.conn.Query(ctx, query, args...)
		if err != nil {
			return false, fmt.Errorf("looking up %s: %w", what, err)
		}
		if exists, _ := rows[0][0].(bool); exists || locked {
			return exists, nil
		}
		if err := r.conn.Exec(ctx, pgsql.LockName, "pg_bulk_ingest "+what); err != nil {
			return false, fmt.Errorf("locking %s: %w", what, err)
		}
	}
}

func (r *run) createTable(ctx context.Context, t *table) error {
	if err := r.conn.Exec(ctx, pgsql.CreateMissingTable(t.spec)); err != nil {
		return fmt.Errorf("creating table %s: %w", t, err)
	}
	return nil
}

func toInt(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case float64:
		return int64(v), nil
	case string:
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("unexpected value %v", v)
}

// readHighWatermark reads the first table's comment, keeping it to write
// back with the new high watermark, and returns the stored value.
func (r *run) readHighWatermark(ctx context.Context) (json.RawMessage, error) {
	first := r.tables[0]
	r.log.Info("Finding high-watermark of %s", first.spec.Name)
	rows, err := r.conn.Query(ctx, pgsql.ReadComment, first.spec.Schema, first.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("reading the comment of %s: %w", first, err)
	}
	r.comment = pyjson.NewObject()
	if text, ok := rows[0][0].(string); ok {
		// A comment that is not a JSON object counts as none.
		if v, err := pyjson.Parse([]byte(text)); err == nil {
			if o, ok := v.(*pyjson.Object); ok {
				r.comment = o
			}
		}
	}
	if ours, ok := r.ours(); ok {
		if hwm, ok := ours.Get("high-watermark"); ok {
			text, err := pyjson.Dumps(hwm)
			if err != nil {
				return nil, fmt.Errorf("reading the comment of %s: %w", first, err)
			}
			return json.RawMessage(text), nil
		}
	}
	return json.RawMessage("null"), nil
}

// ours is the comment's "pg-bulk-ingest" object, if it has one.
func (r *run) ours() (*pyjson.Object, bool) {
	v, _ := r.comment.Get("pg-bulk-ingest")
	o, ok := v.(*pyjson.Object)
	return o, ok
}

// writeHighWatermark stores hwm in the first table's comment, other keys
// kept in their order, as the text upstream's json.dumps writes; table is
// the first table's live table or the ingest table to be swapped in.
func (r *run) writeHighWatermark(ctx context.Context, table string, hwm json.RawMessage) error {
	ours, ok := r.ours()
	if !ok {
		ours = pyjson.NewObject()
		r.comment.Set("pg-bulk-ingest", ours)
	}
	ours.Set("high-watermark", hwm)
	text, err := pyjson.Dumps(r.comment)
	if err != nil {
		return fmt.Errorf("encoding high watermark: %w", err)
	}
	first := r.tables[0]
	if err := r.setComment(ctx, first.spec.Schema, table, text); err != nil {
		return fmt.Errorf("storing the high watermark of %s: %w", first, err)
	}
	return nil
}

// setComment sets schema.table's comment to text. COMMENT takes no
// parameters: the server quotes the text into the statement (format's
// %L), which then runs as it is.
func (r *run) setComment(ctx context.Context, schema, table, text string) error {
	rows, err := r.conn.Query(ctx, pgsql.CommentStatement, schema, table, text)
	if err != nil {
		return err
	}
	stmt, _ := rows[0][0].(string)
	return r.conn.Exec(ctx, stmt)
}

// relationName returns a fresh name for an ingest, staging or index relation.
func relationName() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "_tmp_" + hex.EncodeToString(b[:])
}
