package pgcopy

// Tests of the Arrow layouts users' data comes in: dictionaries, the null
// type.

import (
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// dictionaryColumn builds a one-column record of a dictionary-encoded
// array: indices (nil for a null row) into the values of Arrow type dt.
func dictionaryColumn(t testing.TB, dt arrow.DataType, values []any, indices []any) arrow.Record {
	t.Helper()
	vb := array.NewBuilder(memory.DefaultAllocator, dt)
	defer vb.Release()
	for _, v := range values {
		appendValue(t, vb, v)
	}
	ib := array.NewInt8Builder(memory.DefaultAllocator)
	defer ib.Release()
	for _, k := range indices {
		appendValue(t, ib, k)
	}
	dict, idx := vb.NewArray(), ib.NewArray()
	defer dict.Release()
	defer idx.Release()
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: dt}
	arr := array.NewDictionaryArray(typ, idx, dict)
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: typ, Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
	t.Cleanup(rec.Release)
	return rec
}

// encodeAll encodes every row of rec, binary and text, one field or line
// per row: NULL for a binary null.
func encodeAll(t *testing.T, col Target, rec arrow.Record) (fields []string, lines []string, binErr, textErr error) {
	t.Helper()
	if rows, err := newBinaryRows([]Target{col}, rec); err != nil {
		binErr = err
	} else {
		for i := 0; i < int(rec.NumRows()); i++ {
			out, err := rows.Append(nil, i)
			if err != nil {
				binErr = err
				break
			}
			if string(out[2:]) == "\xff\xff\xff\xff" {
				fields = append(fields, "NULL")
			} else {
				fields = append(fields, string(out[6:]))
			}
		}
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		line, err := textOne(t, col, rec, i)
		if err != nil {
			textErr = err
			break
		}
		lines = append(lines, line)
	}
	return fields, lines, binErr, textErr
}

func TestDictionary(t *testing.T) {
	cases := []struct {
		name     string
		col      Target
		dt       arrow.DataType
		values   []any
		indices  []any
		fields   []string // nil: the binary encoder refuses the column
		lines    []string
		wantErrs string // both refuse the column with this
	}{
		{"strings into text", textCol, arrow.BinaryTypes.String, []any{"b", "a\tb"}, []any{1, 0, nil, 1},
			[]string{"a\tb", "b", "NULL", "a\tb"}, []string{"a\\tb\n", "b\n", "\\N\n", "a\\tb\n"}, ""},
		{"string views into varchar", col(OIDVarchar, "character varying"), arrow.BinaryTypes.StringView, []any{"x"}, []any{0},
			[]string{"x"}, []string{"x\n"}, ""},
		{"null values", textCol, arrow.BinaryTypes.LargeString, []any{nil, "v"}, []any{0, 1},
			[]string{"NULL", "v"}, []string{"\\N\n", "v\n"}, ""},
		{"ints into bigint", col(OIDInt8, "bigint"), arrow.PrimitiveTypes.Int32, []any{-7, 9}, []any{1, 0},
			[]string{"\x00\x00\x00\x00\x00\x00\x00\x09", "\xff\xff\xff\xff\xff\xff\xff\xf9"}, []string{"9\n", "-7\n"}, ""},
		{"strings into integer are text", col(OIDInt4, "integer"), arrow.BinaryTypes.String, []any{"42"}, []any{0},
			nil, []string{"42\n"}, ""},
		{"strings into an array", arrayCol, arrow.BinaryTypes.String, []any{"{a}"}, []any{0}, nil, []string{"{a}\n"}, ""},
		{"out of range", col(OIDInt2, "smallint"), arrow.PrimitiveTypes.Int64, []any{1, 1 << 20}, []any{0, 1},
			nil, nil, "row 1: value 1048576: out of range for a 2-byte integer"},
		{"dates into integer", col(OIDInt4, "integer"), arrow.FixedWidthTypes.Date32, []any{int64(1)}, []any{0},
			nil, nil, "values of Arrow type date32 cannot be stored"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := dictionaryColumn(t, c.dt, c.values, c.indices)
			fields, lines, binErr, textErr := encodeAll(t, c.col, rec)
			if c.wantErrs != "" {
				expect(t, "", binErr, "", c.wantErrs)
				expect(t, "", textErr, "", c.wantErrs)
				return
			}
			if c.fields == nil {
				if binErr == nil {
					t.Errorf("binary: got %q, want a refusal", fields)
				}
			} else if binErr != nil || fmt.Sprint(fields) != fmt.Sprint(c.fields) {
				t.Errorf("binary: got %q, %v; want %q", fields, binErr, c.fields)
			}
			if textErr != nil || fmt.Sprint(lines) != fmt.Sprint(c.lines) {
				t.Errorf("text: got %q, %v; want %q", lines, textErr, c.lines)
			}
		})
	}
	rec := dictionaryColumn(t, arrow.BinaryTypes.String, []any{"a\"b"}, []any{0})
	if got := ValueText(rec.Column(0), 0); got != `"a\"b"` {
		t.Errorf("ValueText of a dictionary: %s", got)
	}
}

// TestNullType stores the rows of an array of Arrow type null (a column
// that pandas only saw None in) as NULL, in any column.
func TestNullType(t *testing.T) {
	arr := array.NewNull(2)
	defer arr.Release()
	rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "c", Type: arrow.Null, Nullable: true}}, nil), []arrow.Array{arr}, 2)
	defer rec.Release()
	for _, c := range []Target{col(OIDInt4, "integer"), col(OIDTimestamptz, "timestamptz"), moneyCol, arrayCol} {
		fields, lines, binErr, textErr := encodeAll(t, c, rec)
		if binErr != nil || textErr != nil || fmt.Sprint(fields) != "[NULL NULL]" || fmt.Sprint(lines) != fmt.Sprint([]string{"\\N\n", "\\N\n"}) {
			t.Errorf("%s: got %q, %q, %v, %v", c.Type, fields, lines, binErr, textErr)
		}
	}
	if got := ValueText(arr, 0); got != "NULL" {
		t.Errorf("ValueText: %s", got)
	}
}
