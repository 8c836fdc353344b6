package pgcopy

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// text appends the PostgreSQL text input for row i, which is not null:
// what the server would have read from upstream's str(value).
type text func(dst []byte, i int) ([]byte, error)

// errNull is a text encoder's answer for a null it finds itself: a null of
// a dictionary's values, or a row of an array of Arrow type null.
var errNull = errors.New("null")

// textRows encodes the rows of one Arrow record as text-format COPY lines,
// for columns whose Arrow type has no binary encoder: the server then
// parses every value, as it parses upstream's.
type textRows struct {
	cols   []Target
	arrays []arrow.Array
	texts  []text
	raw    []byte // the value being escaped
}

// newTextRows checks that rec fits cols and prepares a text per column.
func newTextRows(cols []Target, rec arrow.Record) (*textRows, error) {
	texts, err := perColumn(cols, rec, textFor)
	if err != nil {
		return nil, err
	}
	return &textRows{cols: cols, arrays: rec.Columns(), texts: texts}, nil
}

// Append appends row i as one text COPY line.
func (r *textRows) Append(dst []byte, i int) ([]byte, error) {
	var err error
	for c := range r.texts {
		if c > 0 {
			dst = append(dst, '\t')
		}
		var null bool
		r.raw, null, err = r.value(r.raw[:0], c, i)
		if err == nil && null {
			dst = append(dst, `\N`...)
		} else if err == nil {
			dst, err = appendCopyEscaped(dst, r.raw)
		}
		if err != nil {
			return dst, valueError(r.cols[c], r.arrays[c], i, err)
		}
	}
	return append(dst, '\n'), nil
}

// value appends the text of column c's row i, unescaped, or says that it
// is NULL.
func (r *textRows) value(dst []byte, c, i int) (_ []byte, null bool, err error) {
	if r.arrays[c].IsNull(i) {
		return dst, true, nil
	}
	dst, err = r.texts[c](dst, i)
	if err == errNull {
		return dst, true, nil
	}
	return dst, false, err
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

func nulError(k int) error {
	return fmt.Errorf("contains a NUL character at offset %d, which PostgreSQL text cannot hold", k)
}

// textFor checks that col takes values of a's Arrow type and prepares
// their text. A column takes text of any layout, which the server reads
// as it reads upstream's; and the Arrow types its binary encoder takes,
// or leaves to the server's reading of their text. A column without a
// binary encoder (enums, domains, INET, ...) takes whatever has a text.
func textFor(col Target, a arrow.Array) (text, error) {
	values := a
	if d, ok := a.(*array.Dictionary); ok {
		values = d.Dictionary()
	}
	if strs(values) == nil {
		if _, err := fieldFor(col, values); err != nil && !errors.Is(err, errTextOnly) {
			return nil, err
		}
	}
	return valueText(col, a)
}

// valueText prepares the text of a's values for col, or of the items of
// an array column's lists: the column type's own reading of them, which
// gives the value its binary encoder writes, else the values' own text.
func valueText(col Target, a arrow.Array) (text, error) {
	if d, ok := a.(*array.Dictionary); ok {
		return dictionaryText(col, d)
	}
	if typed := codecFor(col).text; typed != nil {
		if f, err := typed(col, a); f != nil || err != nil {
			return f, err
		}
	}
	return ownText(col, a)
}

// ownText prepares the text of a's values as upstream writes the Python
// values of their Arrow type.
func ownText(col Target, a arrow.Array) (text, error) {
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
		return arrayText(col, a)
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
func dictionaryText(col Target, d *array.Dictionary) (text, error) {
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
