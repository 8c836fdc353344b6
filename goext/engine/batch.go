package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// batchRun is the state of one batch.
type batchRun struct {
	*run
	number  int
	staging map[int]string // upsert staging table per table index
	rows    map[int]int    // rows received per table index
	pending *Chunk         // a chunk read past the end of the COPY it ended
}

func (r *run) batch(ctx context.Context, number int, b *Batch) error {
	br := &batchRun{run: r, number: number, staging: map[int]string{}, rows: map[int]int{}}
	r.log.Info("Ingesting batch %s with high watermark value %s", b.Metadata, b.HighWatermark)
	for _, t := range r.tables {
		if err := br.firstBatch(ctx, t); err != nil {
			return err
		}
	}
	if err := br.load(ctx); err != nil {
		return err
	}
	for i, t := range r.tables {
		if name, ok := br.staging[i]; ok {
			r.log.Info("Copying from batch table to target table")
			if err := r.conn.Exec(ctx, pgsql.Upsert(t.spec, t.spec.Name, name)); err != nil {
				return fmt.Errorf("batch %d: upserting into %s: %w", number, t, err)
			}
			r.log.Info("Copying from batch table to target table complete")
		}
	}
	for i, t := range r.tables {
		r.log.Info("Calling on_before_visible callback")
		if err := r.src.OnBeforeVisible(ctx, i, t.spec.Schema, t.spec.Name); err != nil {
			return err
		}
		r.log.Info("Calling of on_before_visible callback complete")
	}
	r.log.Info("Renaming tables if necessary")
	hwm, hwmText, err := r.src.HighWatermark(ctx)
	if err != nil {
		return err
	}
	if err := r.writeHighWatermark(ctx, hwm); err != nil {
		return err
	}
	if err := r.conn.Commit(ctx); err != nil {
		return fmt.Errorf("batch %d: committing: %w", number, err)
	}
	r.log.Info("Ingestion of batch %s with high watermark value %s complete", b.Metadata, hwmText)
	if err := r.conn.Begin(ctx); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	return nil
}

// load COPYs the batch's chunks; a COPY runs until a chunk of another
// table arrives, which starts the next COPY.
func (br *batchRun) load(ctx context.Context) error {
	for {
		c := br.pending
		br.pending = nil
		if c == nil {
			var err error
			if c, err = br.src.NextChunk(ctx); err != nil {
				return err
			}
			if c == nil {
				return nil
			}
		}
		if err := br.copyTable(ctx, c); err != nil {
			// A chunk of the next table may have ended the failed COPY.
			if br.pending != nil {
				br.pending.Record.Release()
				br.pending = nil
			}
			return err
		}
	}
}

// copyTable runs one COPY into the table of first, fed by first and the
// chunks of the same table that follow it.
func (br *batchRun) copyTable(ctx context.Context, first *Chunk) error {
	t := br.tables[first.Table]
	if err := br.startTable(ctx, first.Table); err != nil {
		first.Record.Release()
		return err
	}
	target, schema := t.spec.Name, t.spec.Schema
	if name, ok := br.staging[first.Table]; ok {
		target, schema = name, ""
	}
	s := &copyStream{br: br, ctx: ctx, table: first.Table, next: first}
	br.log.Info("Ingesting from source into the database...")
	err := br.conn.CopyFrom(ctx, pgsql.CopyBinary(schema, target, t.spec.ColumnNames()), s)
	if s.next != nil {
		s.next.Record.Release()
	}
	if s.err != nil { // the stream's own error says more than the server's reply to it
		return s.err
	}
	if err != nil {
		return fmt.Errorf("batch %d: copying into %s: %w", br.number, t, err)
	}
	br.log.Info("Ingested %s rows in total", strconv.Itoa(s.count))
	return nil
}

// firstBatch does the work due in a table's first batch of the ingest,
// whether or not the batch has rows for it.
func (br *batchRun) firstBatch(ctx context.Context, t *table) error {
	if t.firstDone {
		return nil
	}
	t.firstDone = true
	if br.opts.Delete == spec.DeleteBeforeFirst {
		// Deleting in the batch's transaction keeps the old rows visible
		// to readers until the batch commits.
		if err := br.conn.Exec(ctx, "DELETE FROM "+t.String()); err != nil {
			return fmt.Errorf("deleting existing rows of %s: %w", t, err)
		}
	}
	return nil
}

// startTable does the work due before a table's first rows of the batch.
func (br *batchRun) startTable(ctx context.Context, i int) error {
	t := br.tables[i]
	if _, ok := br.staging[i]; ok || !t.upsert {
		if !t.upsert {
			br.log.Info("Ingesting without upsert")
		}
		return nil
	}
	br.log.Info("Ingesting with upsert")
	name := relationName()
	if err := br.conn.Exec(ctx, pgsql.CreateStaging(t.spec, name)); err != nil {
		return fmt.Errorf("creating the batch table for %s: %w", t, err)
	}
	br.staging[i] = name
	return nil
}

// copyStream is the binary COPY data of one table: chunks are encoded
// as they are read from the source, until one of another table or the
// batch's end.
type copyStream struct {
	br      *batchRun
	ctx     context.Context
	table   int
	next    *Chunk // the chunk to encode next, if read already
	buf     []byte
	off     int
	started bool
	done    bool
	count   int // rows of this COPY
	err     error
}

// fill encodes the next piece of the stream into buf.
func (s *copyStream) fill() error {
	s.buf, s.off = s.buf[:0], 0
	if !s.started {
		s.started = true
		s.buf = append(s.buf, pgcopy.Header...)
	}
	c := s.next
	s.next = nil
	if c == nil {
		var err error
		if c, err = s.br.src.NextChunk(s.ctx); err != nil {
			return err
		}
	}
	if c == nil || c.Table != s.table {
		s.br.pending = c
		s.done = true
		s.buf = append(s.buf, pgcopy.Trailer...)
		return nil
	}
	defer c.Record.Release()
	return s.encode(c)
}

func (s *copyStream) encode(c *Chunk) error {
	t := s.br.tables[s.table]
	rows, err := pgcopy.NewRows(t.columns, c.Record)
	if err != nil {
		return fmt.Errorf("batch %d: table %s: %w", s.br.number, t, err)
	}
	base := s.br.rows[s.table]
	n := int(c.Record.NumRows())
	for i := 0; i < n; i++ {
		if s.buf, err = rows.Append(s.buf, i); err != nil {
			var ve *pgcopy.ValueError
			if errors.As(err, &ve) {
				ve.Row += base
			}
			return &BatchError{Batch: s.br.number, Table: t.String(), Err: err}
		}
	}
	s.br.rows[s.table] = base + n
	before := s.count
	s.count += n
	for _, mark := range progressMarks(before, s.count) {
		s.br.log.Info("Ingested %s rows...", strconv.Itoa(mark))
	}
	return nil
}

// Read serves the encoded stream.
func (s *copyStream) Read(p []byte) (int, error) {
	for s.off == len(s.buf) {
		if s.done || s.err != nil {
			return 0, io.EOF
		}
		if err := s.fill(); err != nil {
			s.err = err
			return 0, err
		}
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	return n, nil
}

// WriteTo hands over whole encoded chunks, saving a copy per chunk.
func (s *copyStream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if s.off < len(s.buf) {
			n, err := w.Write(s.buf[s.off:])
			total += int64(n)
			s.off += n
			if err != nil {
				return total, err
			}
		}
		if s.done {
			return total, nil
		}
		if err := s.fill(); err != nil {
			s.err = err
			return total, err
		}
	}
}

// progressMarks lists the row counts in (before, after] that upstream logs:
// every 100 rows below 1,000, every 1,000 below 10,000 and so on, at most
// every 1,000,000 rows.
func progressMarks(before, after int) []int {
	var marks []int
	for n := before + 1; n <= after; {
		step := 100
		for step < 1000000 && n >= step*10 {
			step *= 10
		}
		m := (n + step - 1) / step * step
		if m > after {
			break
		}
		marks = append(marks, m)
		n = m + 1
	}
	return marks
}

// BatchError is a value of a batch that cannot be stored.
type BatchError struct {
	Batch int
	Table string
	Err   error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch %d, table %s: %s (row numbers count this table's rows in the batch from 0)", e.Batch, e.Table, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }
