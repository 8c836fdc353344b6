// Package pgcopy encodes Arrow columns as PostgreSQL's COPY data, binary
// when every column's type has a binary encoder for its Arrow type, else
// text. Each type family's file (integers.go, uuid.go, ...) holds its
// encoders and readers and registers them for its types' OIDs or
// receive functions. The other files hold what all share: copy.go the
// format choice (Prepare) and the COPY framing (Encoder), this file the
// codec registry and the binary rows, textrows.go the text rows, and
// arrow.go the readers of Arrow arrays that several families use.
package pgcopy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// Target is a column that rows go into: its name, type OID, type as the
// server writes it (for messages) and the name of the type's binary
// receive function, which tells extension types (whose OIDs vary) apart.
type Target struct {
	Name string
	OID  uint32
	Type string
	Recv string
}

// codec is how one PostgreSQL type takes Arrow values.
type codec struct {
	// binary prepares the binary fields of a's values, or says why not:
	// unsupported for an Arrow type the column does not take, textOnly
	// for one whose text the server must read. Nil: text COPY only.
	binary func(col Target, a arrow.Array) (field, error)
	// text prepares the text input of a's values where the type reads
	// them in its own way; nil, or a nil text, leaves the values' own
	// text (valueText).
	text func(col Target, a arrow.Array) (text, error)
}

// Codecs by type OID, and by binary receive function for the types of
// extensions and arrays, whose OIDs vary. Each family's file registers
// its own in init.
var (
	byOID  = map[uint32]codec{}
	byRecv = map[string]codec{}
)

func registerOIDs(c codec, oids ...uint32) {
	for _, oid := range oids {
		byOID[oid] = c
	}
}

func registerRecv(recv string, c codec) { byRecv[recv] = c }

// codecFor is col's codec: its OID's, completed by its receive function's.
func codecFor(col Target) codec {
	c, r := byOID[col.OID], byRecv[col.Recv]
	if c.binary == nil {
		c.binary = r.binary
	}
	if c.text == nil {
		c.text = r.text
	}
	return c
}

// ValueError is a value that cannot be stored in its column, found by the
// encoder or, with Err set, by the server.
type ValueError struct {
	Column string // "" when the server names no column
	Type   string
	Row    int    // position in the encoded record
	Value  string // "" when not known
	Reason string
	Err    error
}

func (e *ValueError) Error() string {
	var b strings.Builder
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q (%s), ", e.Column, e.Type)
	}
	fmt.Fprintf(&b, "row %d", e.Row)
	if e.Value != "" {
		b.WriteString(": value " + e.Value)
	}
	return b.String() + ": " + e.Reason
}

func (e *ValueError) Unwrap() error { return e.Err }

// field appends the length-prefixed value of row i, which is not null.
type field func(dst []byte, i int) ([]byte, error)

// binaryRows encodes the rows of one Arrow record whose columns are the
// target columns in order, as binary COPY tuples.
type binaryRows struct {
	cols   []Target
	arrays []arrow.Array
	fields []field
}

// newBinaryRows checks that rec fits cols and prepares a field per column.
func newBinaryRows(cols []Target, rec arrow.Record) (*binaryRows, error) {
	fields, err := perColumn(cols, rec, fieldFor)
	if err != nil {
		return nil, err
	}
	return &binaryRows{cols: cols, arrays: rec.Columns(), fields: fields}, nil
}

// perColumn checks that rec has a column per target column and prepares
// each with prepare: a binary field or a text.
func perColumn[T any](cols []Target, rec arrow.Record, prepare func(Target, arrow.Array) (T, error)) ([]T, error) {
	if int(rec.NumCols()) != len(cols) {
		return nil, fmt.Errorf("record has %d columns, the table has %d", rec.NumCols(), len(cols))
	}
	prepared := make([]T, len(cols))
	for c, col := range cols {
		var err error
		if prepared[c], err = prepare(col, rec.Column(c)); err != nil {
			return nil, fmt.Errorf("column %q (%s): %w", col.Name, col.Type, err)
		}
	}
	return prepared, nil
}

// Append appends row i as one binary COPY tuple.
func (r *binaryRows) Append(dst []byte, i int) ([]byte, error) {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.fields)))
	for c, f := range r.fields {
		if r.arrays[c].IsNull(i) {
			dst = binary.BigEndian.AppendUint32(dst, math.MaxUint32)
			continue
		}
		var err error
		if dst, err = f(dst, i); err != nil {
			return dst, valueError(r.cols[c], r.arrays[c], i, err)
		}
	}
	return dst, nil
}

func valueError(col Target, a arrow.Array, i int, err error) *ValueError {
	return &ValueError{Column: col.Name, Type: col.Type, Row: i, Value: ValueText(a, i), Reason: err.Error()}
}

// ValueText shows row i of a for messages.
func ValueText(a arrow.Array, i int) string {
	if a.IsNull(i) || a.DataType().ID() == arrow.NULL {
		return "NULL"
	}
	if d, ok := a.(*array.Dictionary); ok {
		return ValueText(d.Dictionary(), d.GetValueIndex(i))
	}
	if get := strs(a); get != nil {
		return strconv.Quote(get(i))
	}
	return a.ValueStr(i)
}

// unsupported names an Arrow type that has no encoding for a column type.
func unsupported(a arrow.Array) error {
	return fmt.Errorf("values of Arrow type %s cannot be stored in this column", a.DataType())
}

// errTextOnly marks values that a column takes only through text COPY,
// whose text the server reads as it reads upstream's: those of an Arrow
// type without a binary encoder for the column, or text that parsedField
// leaves to the server.
var errTextOnly = errors.New("the server reads these values from their text")

func textOnly(reason string) error { return fmt.Errorf("%s: %w", reason, errTextOnly) }

// nullField writes NULL: for an array of Arrow type null, whose rows
// IsNull does not report.
func nullField(dst []byte, i int) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, math.MaxUint32), nil
}

func fieldFor(col Target, a arrow.Array) (field, error) {
	switch a := a.(type) {
	case *array.Dictionary:
		return dictionaryField(col, a)
	case *array.Null:
		return nullField, nil
	}
	if binary := codecFor(col).binary; binary != nil {
		return binary(col, a)
	}
	return nil, textOnly("no binary encoder for this type")
}

// dictionaryField encodes a dictionary-encoded array through its
// dictionary's encoder, without decoding it.
func dictionaryField(col Target, d *array.Dictionary) (field, error) {
	values := d.Dictionary()
	f, err := fieldFor(col, values)
	if err != nil {
		return nil, err
	}
	return func(dst []byte, i int) ([]byte, error) {
		k := d.GetValueIndex(i)
		if values.IsNull(k) {
			return nullField(dst, i)
		}
		return f(dst, k)
	}, nil
}

// parsedField encodes a column of values written as text, parsed up front
// by parse into fields: a value parse refuses, which it need not read
// exactly as the server does, sends the chunk as text COPY instead, where
// the server reads it as its version does or refuses it with its own
// error, as it refuses upstream's text.
func parsedField(a arrow.Array, get func(int) string, parse func(dst []byte, s string) ([]byte, error)) (field, error) {
	var buf []byte
	ends := make([]int, a.Len())
	for i := range ends {
		if !a.IsNull(i) {
			var err error
			if buf, err = parse(buf, get(i)); err != nil {
				return nil, textOnly(err.Error())
			}
		}
		ends[i] = len(buf)
	}
	return func(dst []byte, i int) ([]byte, error) {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return append(dst, buf[start:ends[i]]...), nil
	}, nil
}
