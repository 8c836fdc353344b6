package pgcopy

import (
	"encoding/hex"
	"errors"
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
		} else if err == errNull {
			dst, err = append(dst, `\N`...), nil
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

// textFor checks that col takes values of a's Arrow type and prepares
// their text. A column takes text of any layout, which the server reads
// as it reads upstream's; and the Arrow types its binary encoder takes,
// or leaves to the server's reading of their text. A column without a
// binary encoder (enums, domains, INET, ...) takes whatever has a text.
func textFor(col Column, a arrow.Array) (text, error) {
	values := a
	if d, ok := a.(*array.Dictionary); ok {
		values = d.Dictionary()
	}
	if strs(values) == nil {
		if _, err := (&Rows{}).fieldFor(col, values); err != nil && !errors.Is(err, errTextOnly) {
			return nil, err
		}
	}
	return valueText(col, a)
}

// valueText prepares the text of a's values for col, or of the items of
// an array column's lists.
func valueText(col Column, a arrow.Array) (text, error) {
	if d, ok := a.(*array.Dictionary); ok {
		return dictionaryText(col, d)
	}
	// Readers of the column's type, which give the value its binary
	// encoder writes.
	switch col.OID {
	case OIDInt2, OIDInt4, OIDInt8:
		if get := integers(a, intSize(col.OID)); get != nil {
			return func(dst []byte, i int) ([]byte, error) {
				v, err := get(i)
				return strconv.AppendInt(dst, v, 10), err
			}, nil
		}
	case OIDFloat4, OIDFloat8:
		if get := floatsFor(a, col.OID == OIDFloat4); get != nil {
			bits := 64
			if col.OID == OIDFloat4 {
				bits = 32
			}
			return floatText(get, bits), nil
		}
	case OIDBytea:
		if get := strs(a); get != nil { // its UTF-8 bytes
			return func(dst []byte, i int) ([]byte, error) {
				return hex.AppendEncode(append(dst, `\x`...), []byte(get(i))), nil
			}, nil
		}
	case OIDUUID, OIDUUIDArray:
		if get := uuids(a); get != nil {
			return func(dst []byte, i int) ([]byte, error) {
				u, err := get(i)
				if err != nil {
					return dst, err
				}
				return appendUUID(dst, u), nil
			}, nil
		}
	}
	if get := strs(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) { return append(dst, get(i)...), nil }, nil
	}
	if get := byteStrings(a); get != nil {
		return bytesText(get), nil
	}
	if get, bits := floats(a); get != nil {
		return floatText(func(i int) (float64, error) { return get(i), nil }, bits), nil
	}
	if get, scale := decimals(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) { return appendPyDecimal(dst, get(i), scale), nil }, nil
	}
	switch a := a.(type) {
	case *array.Null:
		return func(dst []byte, i int) ([]byte, error) { return dst, errNull }, nil
	case *array.Boolean:
		return func(dst []byte, i int) ([]byte, error) {
			if a.Value(i) {
				return append(dst, 't'), nil
			}
			return append(dst, 'f'), nil
		}, nil
	case *array.Uint64:
		return func(dst []byte, i int) ([]byte, error) { return strconv.AppendUint(dst, a.Value(i), 10), nil }, nil
	case *array.Timestamp:
		get, zoned, err := wallClocks(a)
		if err != nil {
			return nil, err
		}
		return func(dst []byte, i int) ([]byte, error) {
			us, offset, ok := get(i)
			if !ok {
				return dst, fmt.Errorf("out of range for a timestamp")
			}
			return appendTimestamp(dst, us, offset, zoned), nil
		}, nil
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

// dictionaryText writes a dictionary-encoded array's values through its
// dictionary's text, without decoding it.
func dictionaryText(col Column, d *array.Dictionary) (text, error) {
	values := d.Dictionary()
	f, err := valueText(col, values)
	if err != nil {
		return nil, err
	}
	return func(dst []byte, i int) ([]byte, error) {
		k := d.GetValueIndex(i)
		if values.IsNull(k) {
			return dst, errNull
		}
		return f(dst, k)
	}, nil
}

// floatText writes Python's repr, with the server's spelling of NaN and
// the infinities; float32 values keep their own shortest digits.
func floatText(get func(i int) (float64, error), bits int) text {
	return func(dst []byte, i int) ([]byte, error) {
		f, err := get(i)
		switch {
		case err != nil:
			return dst, err
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
	item, err := valueText(col, items)
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
			if err == errNull {
				dst, err = append(dst, "NULL"...), nil
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
