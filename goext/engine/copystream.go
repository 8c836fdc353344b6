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
)

// copyStream is the COPY data of one table: chunks are encoded as they
// are read from the source, until one of another table or COPY format,
// or the batch's end.
type copyStream struct {
	br      *batchRun
	ctx     context.Context
	table   int
	enc     encoder
	start   int            // the table's rows in the batch before this COPY
	next    *Chunk         // the chunk to encode next, if read already
	nextRec *pgcopy.Record // its rows, prepared
	buf     []byte
	off     int
	drained bool // the source has no more chunks in the batch
	done    bool
	count   int   // rows of this COPY
	bytes   int64 // encoded so far
	recent  []sentChunk
	err     error
}

// encoder makes a COPY's data: a pgcopy.Encoder, or a pgcopy.TextStream
// for a TextLoader.
type encoder interface {
	Format() pgcopy.Format
	Append(dst []byte, rec *pgcopy.Record) ([]byte, error)
	End(dst []byte) []byte
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
	c, rec := s.next, s.nextRec
	s.next, s.nextRec = nil, nil
	if c == nil && !s.drained {
		var err error
		if c, rec, err = s.read(); err != nil {
			return err
		}
	}
	if rec == nil { // no chunk, or one of another table or format
		s.br.pending = c
		s.done = true
		s.buf = s.enc.End(s.buf)
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
		encoded <- s.encode(rec, first)
	}()
	next, nextRec, readErr := s.read()
	if err := <-encoded; err != nil {
		c.Record.Release()
		next.release()
		return err
	}
	s.next, s.nextRec = next, nextRec
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
// (same table, same format, not SQL), its prepared rows.
func (s *copyStream) read() (*Chunk, *pgcopy.Record, error) {
	c, err := s.br.src.NextChunk(s.ctx)
	s.drained = c == nil && err == nil
	if err != nil || c == nil || c.Table != s.table || c.Record == nil {
		return c, nil, err
	}
	rec, err := s.br.prepare(c)
	if err != nil {
		return nil, nil, err
	}
	if rec.Format() != s.enc.Format() {
		rec = nil // the next COPY takes it, in its format
	}
	return c, rec, nil
}

// release releases c's record, if any: a nil chunk or an SQL one has none.
func (c *Chunk) release() {
	if c != nil && c.Record != nil {
		c.Record.Release()
	}
}

// prepare prepares c's rows for COPY into its table; when they cannot
// be, it releases c's record and says which batch and table they are of.
func (br *batchRun) prepare(c *Chunk) (*pgcopy.Record, error) {
	t := br.tables[c.Table]
	prepare := pgcopy.Prepare
	if _, ok := br.conn.(TextLoader); ok {
		prepare = pgcopy.PrepareText
	}
	rec, err := prepare(t.columns, c.Record)
	if err != nil {
		c.Record.Release()
		return nil, fmt.Errorf("batch %d: table %s: %w", br.number, t, err)
	}
	return rec, nil
}

// encode appends the rows of a chunk to buf; first is the table's rows
// in the batch before it, for messages. It runs beside the source's
// production of the next chunk, so it touches nothing else.
func (s *copyStream) encode(rec *pgcopy.Record, first int) error {
	var err error
	if s.buf, err = s.enc.Append(s.buf, rec); err != nil {
		var ve *pgcopy.ValueError
		if errors.As(err, &ve) {
			ve.Row += first
		}
		return &BatchError{Batch: s.br.number, Table: s.br.tables[s.table].String(), Err: err}
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
	s.next.release()
	for _, k := range s.recent {
		k.rec.Release()
	}
	s.next, s.recent = nil, nil
}

// locate names the row, and the column and value if any, of a COPY error
// whose server context (Where) gives the line of the COPY data, or
// returns nil.
func (s *copyStream) locate(rel string, err error) error {
	where, ok := serverContext(err)
	if !ok {
		return nil
	}
	t := s.br.tables[s.table]
	line, col, ok := copyContext(where, rel, t.columns)
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

// serverContext is the context of an error of the server, which the
// connection's error carries as pgx's PgError does (bridge.HostError,
// pgxconn's errors); never parsed out of the message.
func serverContext(err error) (string, bool) {
	var server interface{ Where() string }
	if !errors.As(err, &server) {
		return "", false
	}
	return server.Where(), true
}

// copyContext reads the server's context of an error, one line per
// level, for its COPY into rel: `COPY rel, line N[, column C: ...]`. It
// gives the line, from 1, and the index of the column named, -1 if none.
func copyContext(where, rel string, cols []pgcopy.Target) (line, col int, ok bool) {
	for ctx := range strings.Lines(where) {
		if rest, found := strings.CutPrefix(ctx, "COPY "+rel+", line "); found {
			return copyLine(strings.TrimSuffix(rest, "\n"), cols)
		}
	}
	return 0, -1, false
}

// copyLine reads `N[, column C: ...]` of a COPY's context.
func copyLine(rest string, cols []pgcopy.Target) (line, col int, ok bool) {
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	line, err := strconv.Atoi(rest[:n])
	if err != nil || line < 1 {
		return 0, -1, false
	}
	col = -1
	if rest, found := strings.CutPrefix(rest[n:], ", column "); found {
		for c, cl := range cols { // the longest name that ends where the context says
			after, is := strings.CutPrefix(rest, cl.Name)
			if is && (after == "" || after[0] == ':') && (col < 0 || len(cl.Name) > len(cols[col].Name)) {
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
