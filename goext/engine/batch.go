package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
)

// batchRun is the state of one batch.
type batchRun struct {
	*run
	number  int
	staging map[int]string      // upsert staging table per table index
	ingest  map[int]ingestTable // new ingest table per table index, when swapping
	rows    map[int]int         // rows received per table index
	pending *Chunk              // a chunk read past the end of the COPY it ended
}

func (r *run) batch(ctx context.Context, number int, b *Batch) error {
	br := &batchRun{run: r, number: number, staging: map[int]string{}, ingest: map[int]ingestTable{}, rows: map[int]int{}}
	if err := r.lockTables(ctx); err != nil {
		return err
	}
	for i, t := range r.tables {
		if err := br.firstBatch(ctx, i, t); err != nil {
			return err
		}
	}
	r.log.Info("Ingesting batch %s with high watermark value %s", b.Metadata, b.HighWatermark)
	if err := br.load(ctx); err != nil {
		return err
	}
	for i, t := range r.tables {
		if name, ok := br.staging[i]; ok {
			r.log.Info("Copying from batch table to target table")
			if err := br.upsert(ctx, i, name); err != nil {
				return fmt.Errorf("batch %d: upserting into %s: %w", number, t, err)
			}
			r.log.Info("Copying from batch table to target table complete")
		}
	}
	if err := br.finishIngestTables(ctx); err != nil {
		return err
	}
	hwm, hwmText, err := r.src.HighWatermark(ctx)
	if err != nil {
		return err
	}
	// The high watermark goes in before the callbacks, onto the table that
	// carries it once swapped in, so that a callback committing the
	// transaction commits it with the rows.
	if err := r.writeHighWatermark(ctx, br.target(0), hwm); err != nil {
		return err
	}
	if err := br.onBeforeVisible(ctx); err != nil {
		return err
	}
	if err := br.swapIngestTables(ctx); err != nil {
		return err
	}
	if err := r.conn.Commit(ctx); err != nil {
		return fmt.Errorf("batch %d: committing: %w", number, err)
	}
	r.locked = false
	r.log.Info("Ingestion of batch %s with high watermark value %s complete", b.Metadata, hwmText)
	if err := r.conn.Begin(ctx); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	return nil
}

// onBeforeVisible runs the user's callbacks, which may end the batch's
// transaction themselves. After a commit, which made the rows visible with
// their high watermark, what remains of the batch (a swap) goes on in a
// new transaction under the tables' locks again; after a rollback the
// batch is lost, and the ingest stops before anything else commits.
func (br *batchRun) onBeforeVisible(ctx context.Context) error {
	rows, err := br.conn.Query(ctx, pgsql.CurrentXact)
	if err != nil {
		return fmt.Errorf("batch %d: reading the transaction's ID: %w", br.number, err)
	}
	xact := rows[0][0]
	for i, t := range br.tables {
		br.log.Info("Calling on_before_visible callback")
		if err := br.src.OnBeforeVisible(ctx, i, t.spec.Schema, br.target(i)); err != nil {
			return err
		}
		br.log.Info("Calling of on_before_visible callback complete")
	}
	if rows, err = br.conn.Query(ctx, pgsql.XactStatus, xact); err != nil {
		return fmt.Errorf("batch %d: reading the status of its transaction after on_before_visible: %w", br.number, err)
	}
	switch status, _ := rows[0][0].(string); status {
	case "in progress":
		return nil
	case "committed":
		br.log.Info("on_before_visible committed batch %s with its high watermark: the rest of it runs in a new transaction", strconv.Itoa(br.number))
		if err := br.conn.Begin(ctx); err != nil {
			return fmt.Errorf("beginning transaction: %w", err)
		}
		br.locked = false
		return br.lockTables(ctx)
	default:
		return fmt.Errorf("batch %d: on_before_visible rolled back the batch's transaction, so batch %d was not ingested "+
			"and the stored high watermark is still that of the last committed batch", br.number, br.number)
	}
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
// chunks of the same table and COPY format that follow it.
func (br *batchRun) copyTable(ctx context.Context, first *Chunk) error {
	t := br.tables[first.Table]
	if err := br.startTable(ctx, first.Table); err != nil {
		first.Record.Release()
		return err
	}
	enc, binary, err := encoderFor(t.columns, first.Record)
	if err != nil {
		first.Record.Release()
		return fmt.Errorf("batch %d: table %s: %w", br.number, t, err)
	}
	target, schema := br.target(first.Table), t.spec.Schema
	if name, ok := br.staging[first.Table]; ok {
		target, schema = name, ""
	}
	s := &copyStream{br: br, ctx: ctx, table: first.Table, binary: binary, next: first, nextEnc: enc, start: br.rows[first.Table]}
	defer s.release()
	copySQL := pgsql.CopyText
	if binary {
		copySQL = pgsql.CopyBinary
	}
	br.log.Info("Ingesting from source into the database...")
	err = br.conn.CopyFrom(ctx, copySQL(schema, target, t.spec.ColumnNames()), s)
	if s.err != nil { // the stream's own error says more than the server's reply to it
		return s.err
	}
	if err != nil {
		if located := s.locate(target, err); located != nil {
			return located
		}
		return fmt.Errorf("batch %d: copying into %s: %w", br.number, t, err)
	}
	br.log.Info("Ingested %s rows in total", strconv.Itoa(s.count))
	return nil
}

// rowEncoder encodes the rows of a chunk in one COPY format.
type rowEncoder interface {
	Append(dst []byte, i int) ([]byte, error)
}

// encoderFor chooses a chunk's COPY format: binary when every column has
// a binary encoder for its Arrow type, else text, whose values the server
// parses as it parses upstream's.
func encoderFor(cols []pgcopy.Column, rec arrow.Record) (rowEncoder, bool, error) {
	if rows, err := pgcopy.NewRows(cols, rec); err == nil {
		return rows, true, nil
	}
	rows, err := pgcopy.NewTextRows(cols, rec)
	if err != nil {
		return nil, false, err
	}
	return rows, false, nil
}

// ingestTable is a new table built in a batch to be swapped in for the
// live one.
type ingestTable struct {
	name       string
	hasOldRows bool // the live table's rows were copied into it
}

// target is the name of the table that table i's rows go into.
func (br *batchRun) target(i int) string {
	if it, ok := br.ingest[i]; ok {
		return it.name
	}
	return br.tables[i].spec.Name
}

// upsert moves table i's staged rows into the table they go into. Keys
// sent twice in a batch are rare, so the live table is first tried
// without sorting the rows to keep the last of each key; an ingest table
// holding the old rows loses those the batch replaces, and gets its key
// once they are in.
func (br *batchRun) upsert(ctx context.Context, i int, staging string) error {
	t := br.tables[i]
	if it, ok := br.ingest[i]; ok {
		if err := br.conn.Exec(ctx, pgsql.DeleteStagedKeys(t.spec, it.name, staging)); err != nil {
			return err
		}
		return br.conn.Exec(ctx, pgsql.InsertStaged(t.spec, it.name, staging))
	}
	return br.retrying(ctx, pgsql.Upsert(t.spec, t.spec.Name, staging, false), sqlStateCardinalityViolation,
		pgsql.Upsert(t.spec, t.spec.Name, staging, true))
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
	if it, ok := br.ingest[i]; ok && !it.hasOldRows {
		return nil // COPY straight in: addConstraints keeps the last row of each key
	}
	name := relationName()
	if err := br.conn.Exec(ctx, pgsql.CreateStaging(t.spec, name)); err != nil {
		return fmt.Errorf("creating the batch table for %s: %w", t, err)
	}
	br.staging[i] = name
	return nil
}

// copyStream is the COPY data of one table: chunks are encoded as they
// are read from the source, until one of another table or COPY format,
// or the batch's end.
type copyStream struct {
	br      *batchRun
	ctx     context.Context
	table   int
	binary  bool
	start   int        // the table's rows in the batch before this COPY
	next    *Chunk     // the chunk to encode next, if read already
	nextEnc rowEncoder // its encoder
	buf     []byte
	off     int
	started bool
	drained bool // the source has no more chunks in the batch
	done    bool
	count   int   // rows of this COPY
	bytes   int64 // encoded so far
	recent  []sentChunk
	err     error
}

// sentChunk is a chunk kept after encoding, so that an error of the server
// can show the value it refused.
type sentChunk struct {
	rec   arrow.Record
	first int   // its first row among the table's rows in the batch
	end   int64 // the COPY's bytes up to its end
}

// keepBytes is how far behind the encoder the server is assumed to be at
// most (socket buffers); older chunks are released.
const keepBytes = 8 << 20

// fill encodes the next piece of the stream into buf. The chunk is
// encoded while the source produces the one after it: with the bridge,
// Python builds the next chunk while Go encodes this one.
func (s *copyStream) fill() error {
	s.buf, s.off = s.buf[:0], 0
	if !s.started {
		s.started = true
		if s.binary {
			s.buf = append(s.buf, pgcopy.Header...)
		}
	}
	c, enc := s.next, s.nextEnc
	s.next, s.nextEnc = nil, nil
	if c == nil && !s.drained {
		var err error
		if c, enc, err = s.read(); err != nil {
			return err
		}
	}
	if enc == nil { // no chunk, or one of another table or format
		s.br.pending = c
		s.done = true
		if s.binary {
			s.buf = append(s.buf, pgcopy.Trailer...)
		}
		return nil
	}
	first := s.br.rows[s.table]
	encoded := make(chan error, 1)
	go func() {
		// A panic here, away from the goroutines that recover, would end
		// the host process: it fails the batch instead.
		debug.SetPanicOnFault(true)
		defer func() {
			if p := recover(); p != nil {
				encoded <- fmt.Errorf("internal error (Go panic): %v\n%s", p, debug.Stack())
			}
		}()
		encoded <- s.encode(c, enc, first)
	}()
	next, nextEnc, readErr := s.read()
	if err := <-encoded; err != nil {
		c.Record.Release()
		if next != nil {
			next.Record.Release()
		}
		return err
	}
	s.next, s.nextEnc = next, nextEnc
	s.account(int(c.Record.NumRows()))
	s.bytes += int64(len(s.buf))
	s.recent = append(s.recent, sentChunk{rec: c.Record, first: first, end: s.bytes})
	for len(s.recent) > 1 && s.bytes-s.recent[0].end > keepBytes {
		s.recent[0].rec.Release()
		s.recent = s.recent[1:]
	}
	return readErr
}

// read takes the source's next chunk and, when it continues this COPY
// (same table, same format), its encoder.
func (s *copyStream) read() (*Chunk, rowEncoder, error) {
	c, err := s.br.src.NextChunk(s.ctx)
	s.drained = c == nil && err == nil
	if err != nil || c == nil || c.Table != s.table {
		return c, nil, err
	}
	t := s.br.tables[s.table]
	enc, binary, err := encoderFor(t.columns, c.Record)
	if err != nil {
		c.Record.Release()
		return nil, nil, fmt.Errorf("batch %d: table %s: %w", s.br.number, t, err)
	}
	if binary != s.binary {
		enc = nil // the next COPY takes it, in its format
	}
	return c, enc, nil
}

// encode appends the rows of c to buf; first is the table's rows in the
// batch before c, for messages. It runs beside the source's production
// of the next chunk, so it touches nothing else.
func (s *copyStream) encode(c *Chunk, enc rowEncoder, first int) error {
	n := int(c.Record.NumRows())
	var err error
	for i := 0; i < n; i++ {
		if s.buf, err = enc.Append(s.buf, i); err != nil {
			var ve *pgcopy.ValueError
			if errors.As(err, &ve) {
				ve.Row += first
			}
			return &BatchError{Batch: s.br.number, Table: s.br.tables[s.table].String(), Err: err}
		}
	}
	return nil
}

// account counts n rows encoded and logs upstream's progress lines.
func (s *copyStream) account(n int) {
	s.br.rows[s.table] += n
	before := s.count
	s.count += n
	for _, mark := range progressMarks(before, s.count) {
		s.br.log.Info("Ingested %s rows...", strconv.Itoa(mark))
	}
}

// release drops the chunks the stream holds.
func (s *copyStream) release() {
	if s.next != nil {
		s.next.Record.Release()
	}
	for _, k := range s.recent {
		k.rec.Release()
	}
	s.next, s.recent = nil, nil
}

// locate names the row, and the column and value if any, of a COPY error
// whose text gives the server's context (the line of the COPY data), or
// returns nil.
func (s *copyStream) locate(rel string, err error) error {
	t := s.br.tables[s.table]
	line, col, ok := copyContext(err.Error(), rel, t.columns)
	if !ok {
		return nil
	}
	ve := &pgcopy.ValueError{Row: s.start + line - 1, Reason: err.Error(), Err: err}
	if col >= 0 {
		ve.Column, ve.Type = t.columns[col].Name, t.columns[col].Type
		for _, k := range s.recent {
			if i := ve.Row - k.first; i >= 0 && i < int(k.rec.NumRows()) {
				ve.Value = pgcopy.ValueText(k.rec.Column(col), i)
			}
		}
	}
	return &BatchError{Batch: s.br.number, Table: t.String(), Err: ve}
}

// copyContext reads the server's context of an error in a COPY into rel,
// `COPY rel, line N[, column C...]`, from an error's text, where pgxconn
// and drivers such as psycopg2 put it: the line, from 1, and the index of
// the column named, -1 if none.
func copyContext(msg, rel string, cols []pgcopy.Column) (line, col int, ok bool) {
	_, rest, found := strings.Cut(msg, "COPY "+rel+", line ")
	if !found {
		return 0, -1, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	line, err := strconv.Atoi(rest[:n])
	if err != nil || line < 1 {
		return 0, -1, false
	}
	col = -1
	if rest, found = strings.CutPrefix(rest[n:], ", column "); found {
		for c, cl := range cols { // the longest name that ends where the context says
			after, is := strings.CutPrefix(rest, cl.Name)
			if is && (after == "" || after[0] == ':' || after[0] == '\n') && (col < 0 || len(cl.Name) > len(cols[col].Name)) {
				col = c
			}
		}
	}
	return line, col, true
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
