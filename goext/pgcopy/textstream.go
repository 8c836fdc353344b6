package pgcopy

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// TextStream writes rows, in place of a COPY's data, for a connection that
// runs no COPY FROM STDIN (ADBC's): an Arrow IPC stream whose utf8
// columns c1, c2, ... hold each value's text as a text COPY would send it,
// unescaped, and null for NULL. The connection loads it into a table of
// text columns, whose values the server then casts to the column types,
// reading them as it reads a text COPY's. It has the methods of Encoder.
type TextStream struct {
	schema *arrow.Schema
	w      *ipc.Writer
	out    appender
	raw    []byte // the value being read
}

// appender is the io.Writer of a TextStream's IPC writer: it appends to
// the caller's buffer of the moment.
type appender struct{ dst []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.dst = append(a.dst, p...)
	return len(p), nil
}

// NewTextStream starts the stream of rows with n columns.
func NewTextStream(n int) *TextStream {
	fields := make([]arrow.Field, n)
	for c := range fields {
		fields[c] = arrow.Field{Name: TextColumn(c), Type: arrow.BinaryTypes.String, Nullable: true}
	}
	s := &TextStream{schema: arrow.NewSchema(fields, nil)}
	s.w = ipc.NewWriter(&s.out, ipc.WithSchema(s.schema))
	return s
}

// TextColumn is the name of a TextStream's column c, from 0.
func TextColumn(c int) string { return "c" + strconv.Itoa(c+1) }

// Format is Text: the stream takes the rows of PrepareText.
func (s *TextStream) Format() Format { return Text }

// Append appends rec's rows as one Arrow record, after the stream's
// schema if it is due. A value that cannot be stored is a *ValueError,
// whose Row counts rec's rows.
func (s *TextStream) Append(dst []byte, rec *Record) ([]byte, error) {
	r, ok := rec.rows.(*textRows)
	if !ok {
		return dst, errFormatMix
	}
	columns := make([]arrow.Array, len(r.texts))
	defer func() {
		for _, a := range columns {
			if a != nil {
				a.Release()
			}
		}
	}()
	for c := range columns {
		var err error
		if columns[c], err = s.column(r, c, rec.n); err != nil {
			return dst, err
		}
	}
	out := array.NewRecord(s.schema, columns, int64(rec.n))
	defer out.Release()
	s.out.dst = dst
	err := s.w.Write(out)
	dst, s.out.dst = s.out.dst, nil
	return dst, err
}

// column builds the text of column c's n rows.
func (s *TextStream) column(r *textRows, c, n int) (arrow.Array, error) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		var null bool
		var err error
		s.raw, null, err = r.value(s.raw[:0], c, i)
		if err == nil && !null {
			if k := bytes.IndexByte(s.raw, 0); k >= 0 {
				err = nulError(k)
			}
		}
		switch {
		case err != nil:
			return nil, valueError(r.cols[c], r.arrays[c], i, err)
		case null:
			b.AppendNull()
		default:
			b.BinaryBuilder.Append(s.raw)
		}
	}
	return b.NewArray(), nil
}

// End appends the end of the stream, after its schema if it is due; the
// stream is then complete, and ending it again appends nothing.
func (s *TextStream) End(dst []byte) []byte {
	s.out.dst = dst
	if err := s.w.Close(); err != nil {
		// Only the writer's own state fails Close: appender never does.
		panic(fmt.Sprintf("pgcopy: ending an Arrow IPC stream: %v", err))
	}
	dst, s.out.dst = s.out.dst, nil
	return dst
}
