package pgcopy

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// text appends the PostgreSQL text input for row i, which is not null:
// what the server would have read from upstream's str(value).
type text func(dst []byte, i int) ([]byte, error)

// TextRows encodes the rows of one Arrow record as text-format COPY lines,
// for columns whose Arrow type has no binary encoder: the server then
// parses every value, as it parses upstream's.
type TextRows struct {
	cols   []Column
	arrays []arrow.Array
	texts  []text
	raw    []byte // the value being escaped
}

// NewTextRows checks that rec fits cols and prepares a text per column.
func NewTextRows(cols []Column, rec arrow.Record) (*TextRows, error) {
	if int(rec.NumCols()) != len(cols) {
		return nil, fmt.Errorf("record has %d columns, the table has %d", rec.NumCols(), len(cols))
	}
	r := &TextRows{cols: cols, arrays: rec.Columns(), texts: make([]text, len(cols))}
	for c, col := range cols {
		f, err := textFor(col, r.arrays[c])
		if err != nil {
			return nil, fmt.Errorf("column %q (%s): %w", col.Name, col.Type, err)
		}
		r.texts[c] = f
	}
	return r, nil
}

// Append appends row i as one text COPY line.
func (r *TextRows) Append(dst []byte, i int) ([]byte, error) {
	for c, f := range r.texts {
		if c > 0 {
			dst = append(dst, '\t')
		}
		if r.arrays[c].IsNull(i) {
			dst = append(dst, `\N`...)
			continue
		}
		var err error
		if r.raw, err = f(r.raw[:0], i); err == nil {
			dst, err = appendCopyEscaped(dst, r.raw)
		}
		if err != nil {
			return dst, valueError(r.cols[c], r.arrays[c], i, err)
		}
	}
	return append(dst, '\n'), nil
}

// appendCopyEscaped escapes s for a text COPY field.
func appendCopyEscaped(dst, s []byte) ([]byte, error) {
	for k, c := range s {
		switch c {
		case '\\':
			dst = append(dst, `\\`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case 0:
			return dst, nulError(k)
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

func textFor(col Column, a arrow.Array) (text, error) {
	switch a := a.(type) {
	case *array.Null:
		return func(dst []byte, i int) ([]byte, error) { return dst, nil }, nil // every row is null
	case *array.String:
		return func(dst []byte, i int) ([]byte, error) { return append(dst, a.Value(i)...), nil }, nil
	case *array.LargeString:
		return func(dst []byte, i int) ([]byte, error) { return append(dst, a.Value(i)...), nil }, nil
	case *array.Boolean:
		return func(dst []byte, i int) ([]byte, error) {
			if a.Value(i) {
				return append(dst, 't'), nil
			}
			return append(dst, 'f'), nil
		}, nil
	case *array.Uint64:
		return func(dst []byte, i int) ([]byte, error) { return strconv.AppendUint(dst, a.Value(i), 10), nil }, nil
	case *array.Float64:
		return floatText(a.Value, 64), nil
	case *array.Float32:
		return floatText(func(i int) float64 { return float64(a.Value(i)) }, 32), nil
	case *array.Decimal128:
		scale := int(a.DataType().(*arrow.Decimal128Type).Scale)
		return func(dst []byte, i int) ([]byte, error) { return appendPyDecimal(dst, a.Value(i).BigInt(), scale), nil }, nil
	case *array.Decimal256:
		scale := int(a.DataType().(*arrow.Decimal256Type).Scale)
		return func(dst []byte, i int) ([]byte, error) { return appendPyDecimal(dst, a.Value(i).BigInt(), scale), nil }, nil
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		return func(dst []byte, i int) ([]byte, error) {
			us, ok := toMicros(int64(a.Value(i)), tt.Unit)
			if !ok {
				return dst, fmt.Errorf("out of range for a timestamp")
			}
			return appendTimestamp(dst, us, tt.TimeZone != ""), nil
		}, nil
	case *array.Binary:
		return bytesText(a.Value), nil
	case *array.LargeBinary:
		return bytesText(a.Value), nil
	case *array.FixedSizeBinary:
		if get := uuids(a); get != nil && (col.OID == OIDUUID || col.OID == OIDUUIDArray) {
			return func(dst []byte, i int) ([]byte, error) { return appendUUID(dst, get(i)), nil }, nil
		}
		return bytesText(a.Value), nil
	case array.ListLike:
		return listText(col, a)
	}
	if get := ints(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) { v, _ := get(i); return strconv.AppendInt(dst, v, 10), nil }, nil
	}
	if get := days(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			return appendDate(dst, time.Unix(get(i)*86400, 0).UTC()), nil
		}, nil
	}
	if get := clock(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			us, ok := get(i)
			if !ok {
				return dst, errTimeRange
			}
			return appendClock(dst, us), nil
		}, nil
	}
	if get := durations(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			days, us, ok := get(i)
			if !ok {
				return dst, errIntervalRange
			}
			return appendInterval(dst, days, us), nil
		}, nil
	}
	return nil, fmt.Errorf("values of Arrow type %s have no PostgreSQL text form here", a.DataType())
}

// floatText writes Python's repr, with the server's spelling of NaN and
// the infinities; float32 values keep their own shortest digits.
func floatText(get func(i int) float64, bits int) text {
	return func(dst []byte, i int) ([]byte, error) {
		switch f := get(i); {
		case math.IsNaN(f):
			return append(dst, "NaN"...), nil
		case math.IsInf(f, 1):
			return append(dst, "Infinity"...), nil
		case math.IsInf(f, -1):
			return append(dst, "-Infinity"...), nil
		default:
			return appendShortFloat(dst, f, bits), nil
		}
	}
}

// bytesText writes bytea's hex input, as upstream's '\x' + v.hex().
func bytesText(get func(i int) []byte) text {
	return func(dst []byte, i int) ([]byte, error) {
		return hex.AppendEncode(append(dst, `\x`...), get(i)), nil
	}
}

// appendPyDecimal writes v × 10^-scale as Python's str(Decimal) does.
func appendPyDecimal(dst []byte, v *big.Int, scale int) []byte {
	if v.Sign() < 0 {
		dst = append(dst, '-')
	}
	digits := new(big.Int).Abs(v).String()
	exp := -scale
	switch adjusted := exp + len(digits) - 1; {
	case exp > 0 || adjusted < -6:
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(append(dst, '.'), digits[1:]...)
		}
		return fmt.Appendf(dst, "E%+d", adjusted)
	case exp == 0:
		return append(dst, digits...)
	case len(digits) > -exp:
		point := len(digits) + exp
		return append(append(append(dst, digits[:point]...), '.'), digits[point:]...)
	}
	dst = append(dst, "0."...)
	for k := len(digits); k < -exp; k++ {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

// listText writes a one-dimensional array literal as upstream does:
// every item quoted, NULL items bare; nested lists are sub-arrays. A
// vector is written as str(list) writes it, which is pgvector's input.
func listText(col Column, a array.ListLike) (text, error) {
	items := a.ListValues()
	item, err := textFor(col, items)
	if err != nil {
		return nil, err
	}
	_, nested := items.(array.ListLike)
	left, right, quote := byte('{'), byte('}'), !nested
	if col.Recv == "vector_recv" {
		left, right, quote = '[', ']', false
	}
	var scratch []byte
	return func(dst []byte, i int) ([]byte, error) {
		start, end := a.ValueOffsets(i)
		dst = append(dst, left)
		for k := int(start); k < int(end); k++ {
			if k > int(start) {
				dst = append(dst, ',')
			}
			var err error
			switch {
			case items.IsNull(k):
				dst = append(dst, "NULL"...)
			case quote:
				if scratch, err = item(scratch[:0], k); err == nil {
					dst = appendArrayQuoted(dst, scratch)
				}
			default:
				dst, err = item(dst, k)
			}
			if err != nil {
				return dst, err
			}
		}
		return append(dst, right), nil
	}, nil
}

// appendArrayQuoted appends s quoted as an array item.
func appendArrayQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
