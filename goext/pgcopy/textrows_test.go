package pgcopy

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/decimal256"
)

// textOne encodes row i of a one-column record as a text COPY line.
func textOne(t testing.TB, col Target, rec arrow.Record, i int) (string, error) {
	t.Helper()
	rows, err := newTextRows([]Target{col}, rec)
	if err != nil {
		return "", err
	}
	out, err := rows.Append(nil, i)
	return string(out), err
}

var (
	textCol   = Target{Name: "c", OID: OIDText, Type: "text"}
	uuidCol   = Target{Name: "c", OID: OIDUUID, Type: "uuid"}
	vectorCol = Target{Name: "c", OID: 99999, Type: "vector(2)", Recv: "vector_recv"}
	// A type without a binary encoder takes the text of any value.
	moneyCol = Target{Name: "c", OID: 790, Type: "money", Recv: "cash_recv"}
	arrayCol = Target{Name: "c", OID: 1009, Type: "text[]", Recv: "array_recv"}
)

// col is a column of a type with a binary encoder.
func col(oid uint32, typ string) Target { return Target{Name: "c", OID: oid, Type: typ} }

func TestTextEncoder(t *testing.T) {
	ts := func(tz string) arrow.DataType { return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tz} }
	list := arrow.ListOf
	dec := func(v int64, scale int32) []any {
		return []any{&arrow.Decimal128Type{Precision: 38, Scale: scale}, decimal128.FromI64(v)}
	}
	uuid := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	cases := []struct {
		name    string
		col     Target
		dt      arrow.DataType
		value   any
		want    string // without the line's newline
		wantErr string
	}{
		{"utf8", textCol, arrow.BinaryTypes.String, "héllo 🦆", "héllo 🦆", ""},
		{"escapes", textCol, arrow.BinaryTypes.String, "a\\b\tc\nd\re\\N", `a\\b\tc\nd\re\\N`, ""},
		{"other controls as they are", textCol, arrow.BinaryTypes.String, "\x01\x0b\x0c\x7f", "\x01\x0b\x0c\x7f", ""},
		{"end-of-data marker", textCol, arrow.BinaryTypes.String, `\.`, `\\.`, ""},
		{"NUL", textCol, arrow.BinaryTypes.String, "a\x00", "", "NUL character at offset 1"},
		{"null", textCol, arrow.BinaryTypes.String, nil, `\N`, ""},
		{"empty", textCol, arrow.BinaryTypes.String, "", "", ""},
		{"large utf8", textCol, arrow.BinaryTypes.LargeString, "x\ty", `x\ty`, ""},
		{"int64", moneyCol, arrow.PrimitiveTypes.Int64, int64(math.MinInt64), "-9223372036854775808", ""},
		{"int8", moneyCol, arrow.PrimitiveTypes.Int8, int64(-5), "-5", ""},
		{"uint64", moneyCol, arrow.PrimitiveTypes.Uint64, uint64(math.MaxUint64), "18446744073709551615", ""},
		{"float64", moneyCol, arrow.PrimitiveTypes.Float64, 0.1, "0.1", ""},
		{"float64 exponent", moneyCol, arrow.PrimitiveTypes.Float64, 1e16, "1e+16", ""},
		{"float64 integral", moneyCol, arrow.PrimitiveTypes.Float64, 3.0, "3.0", ""},
		{"NaN", moneyCol, arrow.PrimitiveTypes.Float64, math.NaN(), "NaN", ""},
		{"Infinity", moneyCol, arrow.PrimitiveTypes.Float64, math.Inf(1), "Infinity", ""},
		{"-Infinity", moneyCol, arrow.PrimitiveTypes.Float64, math.Inf(-1), "-Infinity", ""},
		{"float32 shortest", moneyCol, arrow.PrimitiveTypes.Float32, float32(0.1), "0.1", ""},
		{"bool true", moneyCol, arrow.FixedWidthTypes.Boolean, true, "t", ""},
		{"bool false", moneyCol, arrow.FixedWidthTypes.Boolean, false, "f", ""},
		{"decimal", moneyCol, nil, dec(12345, 2), "123.45", ""},
		{"decimal small", moneyCol, nil, dec(-1, 5), "-0.00001", ""},
		{"decimal zero scale 8", moneyCol, nil, dec(0, 8), "0E-8", ""},
		{"decimal negative scale", moneyCol, nil, dec(5, -3), "5E+3", ""},
		{"decimal scientific", moneyCol, nil, dec(12, 8), "1.2E-7", ""},
		{"decimal adjusted -6", moneyCol, nil, dec(1234567, 12), "0.000001234567", ""},
		{"decimal integer", moneyCol, nil, dec(-123, 0), "-123", ""},
		{"decimal256", moneyCol, &arrow.Decimal256Type{Precision: 76, Scale: 1}, decimal256.FromI64(-15), "-1.5", ""},
		{"date32 epoch", moneyCol, arrow.FixedWidthTypes.Date32, int64(0), "1970-01-01", ""},
		{"date32 year 1", moneyCol, arrow.FixedWidthTypes.Date32, int64(-719162), "0001-01-01", ""},
		{"date32 1 BC", moneyCol, arrow.FixedWidthTypes.Date32, int64(-719163), "0001-12-31 BC", ""},
		{"date64 floors", moneyCol, arrow.FixedWidthTypes.Date64, int64(-1), "1969-12-31", ""},
		{"time64 us", moneyCol, arrow.FixedWidthTypes.Time64us, int64(3661000001), "01:01:01.000001", ""},
		{"time64 ns floors", moneyCol, arrow.FixedWidthTypes.Time64ns, int64(1999), "00:00:00.000001", ""},
		{"time32 24:00", moneyCol, arrow.FixedWidthTypes.Time32s, int64(86400), "24:00:00.000000", ""},
		{"time negative", moneyCol, arrow.FixedWidthTypes.Time64us, int64(-1), "", "out of range for a time"},
		{"timestamp", moneyCol, ts(""), int64(1709212455123456), "2024-02-29 13:14:15.123456", ""},
		{"timestamp zoned", moneyCol, ts("UTC"), int64(0), "1970-01-01 00:00:00.000000+00", ""},
		{"timestamp BC", moneyCol, ts(""), int64(-62135596800000001), "0001-12-31 23:59:59.999999 BC", ""},
		{"timestamp zoned BC", moneyCol, ts("Europe/London"), int64(-62135596800000001), "0001-12-31 23:58:44.999999-00:01:15 BC", ""},
		{"timestamp s overflow", moneyCol, &arrow.TimestampType{Unit: arrow.Second}, int64(math.MaxInt64 / 10), "", "out of range"},
		{"interval", moneyCol, arrow.FixedWidthTypes.Duration_us, int64(-82800000000), "-1 days +01:00:00.000000", ""},
		{"interval zero", moneyCol, arrow.FixedWidthTypes.Duration_ms, int64(0), "0 days +00:00:00.000000", ""},
		{"interval overflow", moneyCol, arrow.FixedWidthTypes.Duration_s, int64(math.MaxInt64), "", "out of range for an interval"},
		{"bytea", moneyCol, arrow.BinaryTypes.Binary, []byte{0, 0xff}, `\\x00ff`, ""},
		{"large bytea", moneyCol, arrow.BinaryTypes.LargeBinary, []byte{}, `\\x`, ""},
		{"uuid", uuidCol, uuid16, uuid, "00112233-4455-6677-8899-aabbccddeeff", ""},
		{"fixed size binary not uuid", moneyCol, uuid16, uuid, `\\x00112233445566778899aabbccddeeff`, ""},
		{"array", arrayCol, list(arrow.BinaryTypes.String), []any{"a", nil, `b"c\`, "", "NULL", "x,y{}"},
			`{"a",NULL,"b\\"c\\\\","","NULL","x,y{}"}`, ""},
		{"array with tab", arrayCol, list(arrow.BinaryTypes.String), []any{"a\tb"}, `{"a\tb"}`, ""},
		{"array NUL", arrayCol, list(arrow.BinaryTypes.String), []any{"a", "\x00"}, "", "NUL character at offset 6"},
		{"empty array", arrayCol, list(arrow.PrimitiveTypes.Int64), []any{}, "{}", ""},
		{"int array", arrayCol, arrow.LargeListOf(arrow.PrimitiveTypes.Int64), []any{int64(1), int64(-2)}, `{"1","-2"}`, ""},
		{"fixed size list", arrayCol, arrow.FixedSizeListOf(2, arrow.FixedWidthTypes.Boolean), []any{true, false}, `{"t","f"}`, ""},
		{"nested array", arrayCol, list(list(arrow.PrimitiveTypes.Int64)), []any{[]any{int64(1)}, []any{int64(2), nil}}, `{{"1"},{"2",NULL}}`, ""},
		{"uuid array", Target{Name: "c", OID: OIDUUIDArray, Type: "uuid[]"}, list(uuid16), []any{uuid}, `{"00112233-4455-6677-8899-aabbccddeeff"}`, ""},
		{"date array", arrayCol, list(arrow.FixedWidthTypes.Date32), []any{int64(-719163)}, `{"0001-12-31 BC"}`, ""},
		{"vector", vectorCol, list(arrow.PrimitiveTypes.Float32), []any{float32(1), float32(0.5)}, "[1.0,0.5]", ""},
		{"vector from float64", vectorCol, list(arrow.PrimitiveTypes.Float64), []any{0.1, -2.0}, "[0.1,-2.0]", ""},
		{"struct", moneyCol, arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}), nil, "", "no PostgreSQL text form"},

		// Columns with a binary encoder take text of any layout, and what
		// that encoder takes, writing the value it writes.
		{"string view", textCol, arrow.BinaryTypes.StringView, "x\ty", `x\ty`, ""},
		{"text into integer", col(OIDInt4, "integer"), arrow.BinaryTypes.String, " 42 ", " 42 ", ""},
		{"text into uuid", uuidCol, arrow.BinaryTypes.LargeString, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", ""},
		{"int into text", textCol, arrow.PrimitiveTypes.Int64, int64(1), "", "values of Arrow type int64 cannot be stored in this column"},
		{"timestamp into integer", col(OIDInt4, "integer"), &arrow.TimestampType{Unit: arrow.Microsecond}, int64(0), "", "values of Arrow type timestamp[us] cannot be stored"},
		{"list into integer", col(OIDInt4, "integer"), list(arrow.PrimitiveTypes.Int64), []any{}, "", "cannot be stored"},
		{"int into array", arrayCol, arrow.PrimitiveTypes.Int64, int64(1), "", "cannot be stored"},
		{"int2 from int8", col(OIDInt2, "smallint"), arrow.PrimitiveTypes.Int8, int64(-5), "-5", ""},
		{"int4 from float truncates", col(OIDInt4, "integer"), arrow.PrimitiveTypes.Float64, -1.9, "-1", ""},
		{"int4 from NaN", col(OIDInt4, "integer"), arrow.PrimitiveTypes.Float64, math.NaN(), "", "NaN is not an integer"},
		{"int4 out of range", col(OIDInt4, "integer"), arrow.PrimitiveTypes.Int64, int64(3e9), "", "out of range for a 4-byte integer"},
		{"int8 from uint64 too big", col(OIDInt8, "bigint"), arrow.PrimitiveTypes.Uint64, uint64(math.MaxUint64), "", "out of range for a 8-byte integer"},
		{"int8 from decimal", col(OIDInt8, "bigint"), nil, dec(12399, 2), "123", ""},
		{"float8 from float32", col(OIDFloat8, "double precision"), arrow.PrimitiveTypes.Float32, float32(0.1), "0.1", ""},
		{"float4 from float64", col(OIDFloat4, "real"), arrow.PrimitiveTypes.Float64, 1 + math.Pow(2, -24), "1.0000001", ""},
		{"float4 overflow", col(OIDFloat4, "real"), arrow.PrimitiveTypes.Float64, 1e39, "", "out of range for REAL"},
		{"float8 from decimal", col(OIDFloat8, "double precision"), nil, dec(1, 1), "0.1", ""},
		{"float8 NaN", col(OIDFloat8, "double precision"), arrow.PrimitiveTypes.Float64, math.NaN(), "NaN", ""},
		{"numeric from float32", col(OIDNumeric, "numeric"), arrow.PrimitiveTypes.Float32, float32(0.1), "0.1", ""},
		{"numeric from float16", col(OIDNumeric, "numeric"), arrow.FixedWidthTypes.Float16, float32(0.5), "0.5", ""},
		{"bytea from string is its UTF-8", col(OIDBytea, "bytea"), arrow.BinaryTypes.String, "é", `\\xc3a9`, ""},
		{"bytea from binary view", col(OIDBytea, "bytea"), arrow.BinaryTypes.BinaryView, []byte{1}, `\\x01`, ""},
		{"uuid from binary", uuidCol, arrow.BinaryTypes.Binary, uuid, "00112233-4455-6677-8899-aabbccddeeff", ""},
		{"uuid from 3 bytes", uuidCol, arrow.BinaryTypes.Binary, []byte{1, 2, 3}, "", "has 3 bytes, a UUID has 16"},
		{"timestamp zoned is its wall time and offset", col(OIDTimestamp, "timestamp"), ts("Europe/Paris"), int64(946684800000000), "2000-01-01 01:00:00.000000+01", ""},
		{"timestamp offset with minutes", col(OIDTimestamptz, "timestamptz"), ts("-05:30"), int64(0), "1969-12-31 18:30:00.000000-05:30", ""},
		{"timestamp LMT offset with seconds", col(OIDTimestamp, "timestamp"), ts("Europe/Paris"), int64(-2524521600000000), "1890-01-01 00:09:21.000000+00:09:21", ""},
		{"timestamptz from naive has no offset", col(OIDTimestamptz, "timestamptz"), ts(""), int64(0), "1970-01-01 00:00:00.000000", ""},
		{"timestamptz from date", col(OIDTimestamptz, "timestamptz"), arrow.FixedWidthTypes.Date32, int64(1), "1970-01-02", ""},
		{"date from timestamp", col(OIDDate, "date"), ts("Asia/Tokyo"), int64(946684800000000 - 3600000000), "2000-01-01 08:00:00.000000+09", ""},
		{"timestamp from unknown zone", col(OIDTimestamp, "timestamp"), ts("Mars/Olympus"), int64(0), "", "could not find timezone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dt, value := c.dt, c.value
			if d, ok := value.([]any); ok && dt == nil {
				dt, value = d[0].(arrow.DataType), d[1]
			}
			rec := oneColumn(t, dt, func(b array.Builder) {
				if _, isStruct := b.(*array.StructBuilder); !isStruct {
					appendValue(t, b, value)
				}
			})
			got, err := textOne(t, c.col, rec, 0)
			expect(t, got, err, c.want+"\n", c.wantErr)
		})
	}
}

func TestTextRows(t *testing.T) {
	rec := intAndString(t, []string{"a\nb", "bad\x00"}, nil)
	cols := []Target{{Name: "i", OID: OIDInt4, Type: "integer"}, {Name: "s", OID: OIDText, Type: "text"}}
	rows, err := newTextRows(cols, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rows.Append(nil, 0)
	if err != nil || string(got) != "7\ta\\nb\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err = rows.Append(nil, 1)
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Column != "s" || ve.Row != 1 || ve.Value != `"bad\x00"` {
		t.Fatalf("got %#v", err)
	}
	if _, err := newTextRows(cols[:1], rec); err == nil || !strings.Contains(err.Error(), "record has 2 columns, the table has 1") {
		t.Fatalf("got %v", err)
	}
}
