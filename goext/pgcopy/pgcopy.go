// Package pgcopy encodes Arrow columns as PostgreSQL's binary COPY format,
// choosing each field's encoding by the target column's type OID.
package pgcopy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// Type OIDs with a binary encoder here.
const (
	OIDBool        = 16
	OIDBytea       = 17
	OIDInt8        = 20
	OIDInt2        = 21
	OIDInt4        = 23
	OIDText        = 25
	OIDJSON        = 114
	OIDFloat4      = 700
	OIDFloat8      = 701
	OIDBPChar      = 1042
	OIDVarchar     = 1043
	OIDDate        = 1082
	OIDTime        = 1083
	OIDTimestamp   = 1114
	OIDTimestamptz = 1184
	OIDInterval    = 1186
	OIDNumeric     = 1700
	OIDUUID        = 2950
	OIDUUIDArray   = 2951
	OIDJSONB       = 3802
)

// Column is a target column: its name, type OID, type as the server
// writes it (for messages) and the name of the type's binary receive
// function, which tells extension types (whose OIDs vary) apart.
type Column struct {
	Name string
	OID  uint32
	Type string
	Recv string
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

var (
	signature = []byte("PGCOPY\n\xff\r\n\x00")
	// Header starts every binary COPY stream: signature, flags, extension length.
	Header = append(append([]byte{}, signature...), 0, 0, 0, 0, 0, 0, 0, 0)
	// Trailer ends every binary COPY stream.
	Trailer = []byte{0xff, 0xff}
)

// field appends the length-prefixed value of row i, which is not null.
type field func(dst []byte, i int) ([]byte, error)

// Rows encodes the rows of one Arrow record whose columns are the target
// columns in order.
type Rows struct {
	cols    []Column
	arrays  []arrow.Array
	fields  []field
	scratch []byte // digits of the numeric being encoded
	text    []byte // text of the float being encoded
}

// NewRows checks that rec fits cols and prepares an encoder per column.
func NewRows(cols []Column, rec arrow.Record) (*Rows, error) {
	if int(rec.NumCols()) != len(cols) {
		return nil, fmt.Errorf("record has %d columns, the table has %d", rec.NumCols(), len(cols))
	}
	r := &Rows{cols: cols, arrays: rec.Columns(), fields: make([]field, len(cols))}
	for c, col := range cols {
		f, err := r.fieldFor(col, r.arrays[c])
		if err != nil {
			return nil, fmt.Errorf("column %q (%s): %w", col.Name, col.Type, err)
		}
		r.fields[c] = f
	}
	return r, nil
}

// Append appends row i as one binary COPY tuple.
func (r *Rows) Append(dst []byte, i int) ([]byte, error) {
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

func valueError(col Column, a arrow.Array, i int, err error) *ValueError {
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

// nullField writes NULL: for an array of Arrow type null, whose rows
// IsNull does not report.
func nullField(dst []byte, i int) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, math.MaxUint32), nil
}

func (r *Rows) fieldFor(col Column, a arrow.Array) (field, error) {
	switch a := a.(type) {
	case *array.Dictionary:
		return r.dictionaryField(col, a)
	case *array.Null:
		return nullField, nil
	}
	switch col.OID {
	case OIDInt2, OIDInt4, OIDInt8:
		return intField(a, intSize(col.OID))
	case OIDFloat4, OIDFloat8:
		return floatField(a, col.OID == OIDFloat4)
	case OIDBool:
		if b, ok := a.(*array.Boolean); ok {
			return func(dst []byte, i int) ([]byte, error) {
				v := byte(0)
				if b.Value(i) {
					v = 1
				}
				return append(binary.BigEndian.AppendUint32(dst, 1), v), nil
			}, nil
		}
	case OIDNumeric:
		return r.numericField(a)
	case OIDText, OIDVarchar, OIDBPChar, OIDJSON:
		return textField(a, nil)
	case OIDJSONB:
		return textField(a, []byte{1})
	case OIDBytea:
		return bytesField(a)
	case OIDDate:
		return dateField(a)
	case OIDTimestamp, OIDTimestamptz:
		return timestampField(a, col.OID == OIDTimestamptz)
	case OIDUUID:
		return uuidField(a)
	case OIDTime:
		return timeField(a)
	case OIDInterval:
		return intervalField(a)
	default:
		switch col.Recv {
		case "vector_recv": // pgvector
			return vectorField(a)
		case "array_recv":
			if _, ok := a.(array.ListLike); !ok {
				return nil, unsupported(a)
			}
		}
		return nil, textOnly("no binary encoder for this type")
	}
	return nil, unsupported(a)
}

// dictionaryField encodes a dictionary-encoded array through its
// dictionary's encoder, without decoding it.
func (r *Rows) dictionaryField(col Column, d *array.Dictionary) (field, error) {
	values := d.Dictionary()
	f, err := r.fieldFor(col, values)
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

// ints reads any Arrow integer array as int64; false for a uint64 beyond
// int64, whose bits it returns.
func ints(a arrow.Array) func(i int) (int64, bool) {
	switch a := a.(type) {
	case *array.Int64:
		return func(i int) (int64, bool) { return a.Value(i), true }
	case *array.Int32:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Int16:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Int8:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint8:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint16:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint32:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint64:
		return func(i int) (int64, bool) { v := a.Value(i); return int64(v), v <= math.MaxInt64 }
	}
	return nil
}

func intField(a arrow.Array, size int) (field, error) {
	if v, ok := a.(*array.Int64); ok { // the tuple path's integers, without a reader's call
		hi := int64(math.MaxInt64 >> (64 - 8*size))
		return func(dst []byte, i int) ([]byte, error) {
			if v := v.Value(i); v >= -hi-1 && v <= hi {
				return appendInt(dst, size, v), nil
			}
			_, err := integers(a, size)(i) // the error
			return dst, err
		}, nil
	}
	get := integers(a, size)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		v, err := get(i)
		if err != nil {
			return dst, err
		}
		return appendInt(dst, size, v), nil
	}, nil
}

// appendInt appends v as an integer field of size bytes.
func appendInt(dst []byte, size int, v int64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	switch size {
	case 2:
		return binary.BigEndian.AppendUint16(dst, uint16(v))
	case 4:
		return binary.BigEndian.AppendUint32(dst, uint32(v))
	}
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

func floatField(a arrow.Array, single bool) (field, error) {
	get := floatsFor(a, single)
	if get == nil {
		return nil, unsupported(a)
	}
	if single {
		return func(dst []byte, i int) ([]byte, error) {
			f, err := get(i)
			if err != nil {
				return dst, err
			}
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, 4), math.Float32bits(float32(f))), nil
		}, nil
	}
	return func(dst []byte, i int) ([]byte, error) {
		f, err := get(i)
		if err != nil {
			return dst, err
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), math.Float64bits(f)), nil
	}, nil
}

// decimalField encodes an Arrow decimal: its unscaled integer and scale.
// It goes through big.Int since negating the type's minimum would overflow.
func (r *Rows) decimalField(scale int, get func(i int) *big.Int) field {
	var v big.Int
	return func(dst []byte, i int) ([]byte, error) {
		v.Set(get(i))
		neg := v.Sign() < 0
		r.scratch = v.Abs(&v).Append(r.scratch[:0], 10)
		return appendNumeric(dst, neg, r.scratch, scale)
	}
}

func (r *Rows) numericField(a arrow.Array) (field, error) {
	if get, scale := decimals(a); get != nil {
		return r.decimalField(scale, get), nil
	}
	if get, bits := floats(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			f := get(i)
			switch {
			case math.IsNaN(f):
				return appendNumericSpecial(dst, numericNaN), nil
			case math.IsInf(f, 1):
				return appendNumericSpecial(dst, numericPosInf), nil
			case math.IsInf(f, -1):
				return appendNumericSpecial(dst, numericNegInf), nil
			}
			// What Python's str(f) writes (numpy's for a float32), whose
			// digits and scale upstream stores.
			r.text = appendShortFloat(r.text[:0], f, bits)
			var err error
			dst, r.scratch, err = appendNumericText(dst, r.scratch, string(r.text))
			return dst, err
		}, nil
	}
	if get := strs(a); get != nil {
		return r.numericTextField(a, get)
	}
	if get := ints(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			v, ok := get(i)
			neg := v < 0 && ok
			u := uint64(v)
			if neg {
				u = -u
			}
			r.scratch = strconv.AppendUint(r.scratch[:0], u, 10)
			return appendNumeric(dst, neg, r.scratch, 0)
		}, nil
	}
	return nil, unsupported(a)
}

// numericTextField encodes a column of numbers written as text up front.
// Text beyond the syntax every supported server reads (PostgreSQL 16 also
// reads 1_000 and 0x1F, 15 refuses them), or no number at all, sends the
// chunk as text COPY instead: the server reads it as its version does,
// and refuses it with its own error, as it refuses upstream's text.
func (r *Rows) numericTextField(a arrow.Array, get func(int) string) (field, error) {
	var buf []byte
	ends := make([]int, a.Len())
	for i := range ends {
		if !a.IsNull(i) {
			var err error
			if buf, r.scratch, err = appendNumericText(buf, r.scratch, get(i)); err != nil {
				return nil, fmt.Errorf("%w: %v", errServerReads, err)
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

// errServerReads marks values whose reading is left to the server.
var errServerReads = errors.New("left for the server to read as text")

// textField writes UTF-8 text after a prefix (the jsonb version byte).
func textField(a arrow.Array, prefix []byte) (field, error) {
	if v, ok := a.(*array.String); ok { // the tuple path's text, without a reader's call
		return func(dst []byte, i int) ([]byte, error) { return appendText(dst, prefix, v.Value(i)) }, nil
	}
	get := strs(a)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) { return appendText(dst, prefix, get(i)) }, nil
}

func appendText(dst, prefix []byte, s string) ([]byte, error) {
	if k := indexNUL(s); k >= 0 {
		return dst, nulError(k)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(prefix)+len(s)))
	return append(append(dst, prefix...), s...), nil
}

func indexNUL(s string) int { return strings.IndexByte(s, 0) }

func nulError(k int) error {
	return fmt.Errorf("contains a NUL character at offset %d, which PostgreSQL text cannot hold", k)
}

// bytesField writes bytes, and text as its UTF-8 bytes.
func bytesField(a arrow.Array) (field, error) {
	if get := byteStrings(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			b := get(i)
			return append(binary.BigEndian.AppendUint32(dst, uint32(len(b))), b...), nil
		}, nil
	}
	if get := strs(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			s := get(i)
			return append(binary.BigEndian.AppendUint32(dst, uint32(len(s))), s...), nil
		}, nil
	}
	return nil, unsupported(a)
}

// Days and microseconds between the Unix epoch and PostgreSQL's, 2000-01-01.
const (
	pgEpochDays   = 10957
	pgEpochMicros = pgEpochDays * 86400 * 1000000
)

// appendPyFloat appends Python's repr of a finite f: the shortest digits
// that read back as f, in positional notation with at least one decimal
// when the decimal exponent is in [-4, 16), else as d.ddde±XX.
func appendPyFloat(dst []byte, f float64) []byte { return appendShortFloat(dst, f, 64) }

// appendShortFloat is appendPyFloat with the shortest digits that read
// back as the same float of bits 32 or 64.
func appendShortFloat(dst []byte, f float64, bits int) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, bits)
	e := strings.LastIndexByte(string(dst[start:]), 'e')
	exp, _ := strconv.Atoi(string(dst[start+e+1:]))
	if exp < -4 || exp >= 16 {
		return dst
	}
	dst = strconv.AppendFloat(dst[:start], f, 'f', -1, bits)
	if strings.IndexByte(string(dst[start:]), '.') < 0 {
		dst = append(dst, ".0"...)
	}
	return dst
}

// days reads an Arrow date array as days since the Unix epoch.
func days(a arrow.Array) func(i int) int64 {
	switch a := a.(type) {
	case *array.Date32:
		return func(i int) int64 { return int64(a.Value(i)) }
	case *array.Date64:
		return func(i int) int64 { return floorDiv(int64(a.Value(i)), 86400000) }
	}
	return nil
}

// dateField writes dates, and the date of a timestamp's wall-clock time
// in its own zone (the server's reading of its text).
func dateField(a arrow.Array) (field, error) {
	get, err := dates(a)
	if get == nil {
		return nil, err
	}
	return func(dst []byte, i int) ([]byte, error) {
		d, ok := get(i)
		d -= pgEpochDays
		// The ends of int32 are -infinity and infinity to the server.
		if !ok || d <= math.MinInt32 || d >= math.MaxInt32 {
			return dst, fmt.Errorf("out of range for a date")
		}
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, 4), uint32(int32(d))), nil
	}, nil
}

func dates(a arrow.Array) (func(i int) (int64, bool), error) {
	if get := days(a); get != nil {
		return func(i int) (int64, bool) { return get(i), true }, nil
	}
	ts, ok := a.(*array.Timestamp)
	if !ok {
		return nil, unsupported(a)
	}
	get, _, err := wallClocks(ts)
	if err != nil {
		return nil, err
	}
	return func(i int) (int64, bool) {
		us, offset, ok := get(i)
		pg, inRange := pgMicros(us, offset)
		return floorDiv(pg, microsPerDay) + pgEpochDays, ok && inRange
	}, nil
}

// timestampField writes a TIMESTAMP: a timestamp's wall-clock time in its
// own zone (the server drops the offset of upstream's text of an aware
// datetime), a date's midnight; or a TIMESTAMP WITH TIME ZONE: a zoned
// timestamp's instant. A naive timestamp or a date is read in the
// session's TimeZone there, which only the server knows: text COPY.
func timestampField(a arrow.Array, zoned bool) (field, error) {
	var get func(i int) (int64, bool) // microseconds since PostgreSQL's epoch
	switch a := a.(type) {
	case *array.Timestamp:
		walls, isZoned, err := wallClocks(a)
		if err != nil {
			return nil, err
		}
		tt := a.DataType().(*arrow.TimestampType)
		switch {
		case zoned && !isZoned:
			return nil, textOnly("a timestamp without time zone is read in the session's TimeZone")
		case zoned || tt.TimeZone == "" || tt.TimeZone == "UTC": // the value itself: an instant, or a wall-clock time
			get = func(i int) (int64, bool) {
				us, ok := toMicros(int64(a.Value(i)), tt.Unit)
				pg, inRange := pgMicros(us, 0)
				return pg, ok && inRange
			}
		default:
			get = func(i int) (int64, bool) {
				us, offset, ok := walls(i)
				pg, inRange := pgMicros(us, offset)
				return pg, ok && inRange
			}
		}
	default:
		day := days(a)
		if day == nil {
			return nil, unsupported(a)
		}
		if zoned {
			return nil, textOnly("a date is read in the session's TimeZone")
		}
		get = func(i int) (int64, bool) {
			us, ok := toMicros(day(i)*86400, arrow.Second)
			pg, inRange := pgMicros(us, 0)
			return pg, ok && inRange
		}
	}
	return func(dst []byte, i int) ([]byte, error) {
		pg, ok := get(i)
		if !ok {
			return dst, fmt.Errorf("out of range for a timestamp")
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), uint64(pg)), nil
	}, nil
}

// toMicros converts a timestamp in unit to microseconds, truncating
// nanoseconds toward minus infinity as PostgreSQL rounds none.
func toMicros(v int64, unit arrow.TimeUnit) (int64, bool) {
	switch unit {
	case arrow.Second:
		return v * 1000000, v <= math.MaxInt64/1000000 && v >= math.MinInt64/1000000
	case arrow.Millisecond:
		return v * 1000, v <= math.MaxInt64/1000 && v >= math.MinInt64/1000
	case arrow.Nanosecond:
		return floorDiv(v, 1000), true
	}
	return v, true
}
