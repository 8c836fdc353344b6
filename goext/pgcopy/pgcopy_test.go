package pgcopy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/arrowtest"
)

// oneColumn builds a one-column record of the Arrow type of the values,
// which are appended with build; nil values are nulls.
func oneColumn(t testing.TB, dt arrow.DataType, build func(b array.Builder)) arrow.Record {
	t.Helper()
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	build(b)
	arr := b.NewArray()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: dt, Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
	t.Cleanup(rec.Release)
	return rec
}

// intAndString builds a two-row record of an int64 column i, 7 then
// null, and a string column s of strs (valid: which are not null, nil
// for all).
func intAndString(t testing.TB, strs []string, valid []bool) arrow.Record {
	t.Helper()
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	defer ib.Release()
	ib.AppendValues([]int64{7, 0}, []bool{true, false})
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb.Release()
	sb.AppendValues(strs, valid)
	ia, sa := ib.NewArray(), sb.NewArray()
	defer ia.Release()
	defer sa.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: ia.DataType(), Nullable: true}, {Name: "s", Type: sa.DataType(), Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{ia, sa}, 2)
	t.Cleanup(rec.Release)
	return rec
}

// encodeOne encodes row i of a one-column record into a column of type
// oid and returns the field (length and value) without the tuple header.
func encodeOne(t testing.TB, oid uint32, rec arrow.Record, i int) ([]byte, error) {
	t.Helper()
	return encodeCol(t, Target{Name: "c", OID: oid, Type: fmt.Sprint(oid)}, rec, i)
}

func encodeCol(t testing.TB, col Target, rec arrow.Record, i int) ([]byte, error) {
	t.Helper()
	rows, err := newBinaryRows([]Target{col}, rec)
	if err != nil {
		return nil, err
	}
	out, err := rows.Append(nil, i)
	if err != nil {
		return nil, err
	}
	if got := binary.BigEndian.Uint16(out); got != 1 {
		t.Fatalf("tuple header says %d fields, want 1", got)
	}
	return out[2:], nil
}

// be builds a binary field: 4-byte length then the given bytes.
func be(parts ...any) []byte {
	var v []byte
	for _, p := range parts {
		switch p := p.(type) {
		case uint16:
			v = binary.BigEndian.AppendUint16(v, p)
		case uint32:
			v = binary.BigEndian.AppendUint32(v, p)
		case uint64:
			v = binary.BigEndian.AppendUint64(v, p)
		case byte:
			v = append(v, p)
		case string:
			v = append(v, p...)
		case []byte:
			v = append(v, p...)
		default:
			panic(fmt.Sprintf("be: %T", p))
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(v))), v...)
}

func i16(v int16) uint16 { return uint16(v) }

func i32(v int32) uint32 { return uint32(v) }

func i64(v int64) uint64 { return uint64(v) }

func TestEncoders(t *testing.T) {
	ts := func(unit arrow.TimeUnit) arrow.DataType { return &arrow.TimestampType{Unit: unit} }
	zts := func(unit arrow.TimeUnit, tz string) arrow.DataType {
		return &arrow.TimestampType{Unit: unit, TimeZone: tz}
	}
	cases := []struct {
		name    string
		oid     uint32
		dt      arrow.DataType
		value   any
		want    []byte
		wantErr string
	}{
		{"int2 from int64", OIDInt2, arrow.PrimitiveTypes.Int64, int64(-2), be(i16(-2)), ""},
		{"int2 max", OIDInt2, arrow.PrimitiveTypes.Int64, int64(32767), be(i16(32767)), ""},
		{"int2 min", OIDInt2, arrow.PrimitiveTypes.Int64, int64(-32768), be(i16(-32768)), ""},
		{"int2 overflow", OIDInt2, arrow.PrimitiveTypes.Int64, int64(70000), nil, "out of range for a 2-byte integer"},
		{"int2 underflow", OIDInt2, arrow.PrimitiveTypes.Int64, int64(-32769), nil, "out of range"},
		{"int4 from int32", OIDInt4, arrow.PrimitiveTypes.Int32, int64(math.MinInt32), be(i32(math.MinInt32)), ""},
		{"int4 overflow", OIDInt4, arrow.PrimitiveTypes.Int64, int64(math.MaxInt32 + 1), nil, "out of range for a 4-byte integer"},
		{"int8 min", OIDInt8, arrow.PrimitiveTypes.Int64, int64(math.MinInt64), be(i64(math.MinInt64)), ""},
		{"int8 from uint64 too big", OIDInt8, arrow.PrimitiveTypes.Uint64, uint64(math.MaxUint64), nil, "out of range"},
		{"int8 from uint8", OIDInt8, arrow.PrimitiveTypes.Uint8, uint64(200), be(i64(200)), ""},
		{"int4 from string", OIDInt4, arrow.BinaryTypes.String, "1", nil, "cannot be stored"},
		{"float8", OIDFloat8, arrow.PrimitiveTypes.Float64, 1.5, be(math.Float64bits(1.5)), ""},
		{"float8 -0", OIDFloat8, arrow.PrimitiveTypes.Float64, math.Copysign(0, -1), be(uint64(1) << 63), ""},
		{"float8 from int64", OIDFloat8, arrow.PrimitiveTypes.Int64, int64(1 << 60), be(math.Float64bits(1 << 60)), ""},
		{"float8 from big uint64", OIDFloat8, arrow.PrimitiveTypes.Uint64, uint64(math.MaxUint64), be(math.Float64bits(math.MaxUint64)), ""},
		{"float4", OIDFloat4, arrow.PrimitiveTypes.Float64, 0.5, be(math.Float32bits(0.5)), ""},
		// str(1 + 2**-24) is 1.0000000596046448, just above the midpoint
		// between two REALs: the server rounds that text up.
		{"float4 midpoint", OIDFloat4, arrow.PrimitiveTypes.Float64, 1 + math.Pow(2, -24), be(math.Float32bits(1 + 0x1p-23)), ""},
		{"float4 from int64 rounds once", OIDFloat4, arrow.PrimitiveTypes.Int64, int64(1<<40 + 1<<16 + 1), be(math.Float32bits(float32(int64(1<<40 + 1<<16 + 1)))), ""},
		{"float4 overflow", OIDFloat4, arrow.PrimitiveTypes.Float64, 1e39, nil, "out of range for REAL"},
		{"float4 underflow", OIDFloat4, arrow.PrimitiveTypes.Float64, 1e-50, nil, "out of range for REAL"},
		{"float4 inf", OIDFloat4, arrow.PrimitiveTypes.Float64, math.Inf(-1), be(math.Float32bits(float32(math.Inf(-1)))), ""},
		{"bool true", OIDBool, arrow.FixedWidthTypes.Boolean, true, be(byte(1)), ""},
		{"bool false", OIDBool, arrow.FixedWidthTypes.Boolean, false, be(byte(0)), ""},
		{"bool from int", OIDBool, arrow.PrimitiveTypes.Int64, int64(1), nil, "cannot be stored"},
		{"text", OIDText, arrow.BinaryTypes.String, "héllo", be("héllo"), ""},
		{"varchar empty", OIDVarchar, arrow.BinaryTypes.String, "", be(), ""},
		{"bpchar large string", OIDBPChar, arrow.BinaryTypes.LargeString, "ab", be("ab"), ""},
		{"text with NUL", OIDText, arrow.BinaryTypes.String, "a\x00b", nil, "NUL character at offset 1"},
		{"json", OIDJSON, arrow.BinaryTypes.String, `{"a": 1}`, be(`{"a": 1}`), ""},
		{"jsonb has version byte", OIDJSONB, arrow.BinaryTypes.String, `[1]`, be(byte(1), `[1]`), ""},
		{"bytea", OIDBytea, arrow.BinaryTypes.Binary, []byte{0, 0xff}, be([]byte{0, 0xff}), ""},
		{"date epoch", OIDDate, arrow.FixedWidthTypes.Date32, int64(0), be(i32(-10957)), ""},
		{"date 2000-01-01", OIDDate, arrow.FixedWidthTypes.Date32, int64(10957), be(i32(0)), ""},
		{"date64", OIDDate, arrow.FixedWidthTypes.Date64, int64(10958 * 86400000), be(i32(1)), ""},
		{"date wraps int32", OIDDate, arrow.FixedWidthTypes.Date32, int64(math.MinInt32), nil, "out of range for a date"},
		{"date not -infinity", OIDDate, arrow.FixedWidthTypes.Date32, int64(math.MinInt32 + 10957), nil, "out of range for a date"},
		{"timestamp us", OIDTimestamp, ts(arrow.Microsecond), int64(946684800000001), be(i64(1)), ""},
		{"timestamp s", OIDTimestamp, ts(arrow.Second), int64(0), be(i64(-946684800000000)), ""},
		{"timestamp ms", OIDTimestamp, ts(arrow.Millisecond), int64(946684800001), be(i64(1000)), ""},
		{"timestamptz ms", OIDTimestamptz, zts(arrow.Millisecond, "UTC"), int64(946684800001), be(i64(1000)), ""},
		{"timestamp ns floors", OIDTimestamp, ts(arrow.Nanosecond), int64(946684799999999999), be(i64(-1)), ""},
		{"timestamp from date32", OIDTimestamp, arrow.FixedWidthTypes.Date32, int64(10958), be(i64(86400000000)), ""},
		{"timestamp s overflow", OIDTimestamp, ts(arrow.Second), int64(math.MaxInt64 / 100), nil, "out of range"},
		{"timestamp us wraps", OIDTimestamp, ts(arrow.Microsecond), int64(math.MinInt64 + 5), nil, "out of range"},
		{"timestamp not -infinity", OIDTimestamp, ts(arrow.Microsecond), int64(math.MinInt64 + pgEpochMicros), nil, "out of range"},
		{"date32 into timestamp overflow", OIDTimestamp, arrow.FixedWidthTypes.Date32, int64(math.MaxInt32), nil, "out of range"},
		{"numeric from int64", OIDNumeric, arrow.PrimitiveTypes.Int64, int64(-12345), be(uint16(2), i16(1), uint16(numericNeg), uint16(0), uint16(1), uint16(2345)), ""},
		{"numeric from int64 min", OIDNumeric, arrow.PrimitiveTypes.Int64, int64(math.MinInt64), be(uint16(5), i16(4), uint16(numericNeg), uint16(0), uint16(922), uint16(3372), uint16(368), uint16(5477), uint16(5808)), ""},
		{"numeric from uint64 max", OIDNumeric, arrow.PrimitiveTypes.Uint64, uint64(math.MaxUint64), be(uint16(5), i16(4), uint16(numericPos), uint16(0), uint16(1844), uint16(6744), uint16(737), uint16(955), uint16(1615)), ""},
		{"numeric from float", OIDNumeric, arrow.PrimitiveTypes.Float64, 100.0, be(uint16(1), i16(0), uint16(numericPos), uint16(1), uint16(100)), ""},
		{"numeric from NaN float", OIDNumeric, arrow.PrimitiveTypes.Float64, math.NaN(), be(uint16(0), uint16(0), uint16(numericNaN), uint16(0)), ""},
		{"numeric from string", OIDNumeric, arrow.BinaryTypes.String, "0.00001", be(uint16(1), i16(-2), uint16(numericPos), uint16(5), uint16(1000)), ""},
		{"numeric from bad string", OIDNumeric, arrow.BinaryTypes.String, "1.2.3", nil, "is not a number"},
		{"numeric from bool", OIDNumeric, arrow.FixedWidthTypes.Boolean, true, nil, "cannot be stored"},
		{"unknown type", 600, arrow.PrimitiveTypes.Int64, int64(1), nil, "no binary encoder"},
		{"uuid", OIDUUID, uuid16, []byte("0123456789abcdef"), be("0123456789abcdef"), ""},
		{"uuid from string", OIDUUID, arrow.BinaryTypes.String, "0123456789abcdef", nil, "cannot be stored"},
		{"uuid from 8 bytes", OIDUUID, &arrow.FixedSizeBinaryType{ByteWidth: 8}, []byte("01234567"), nil, "cannot be stored"},
		{"time us", OIDTime, arrow.FixedWidthTypes.Time64us, int64(3661000001), be(i64(3661000001)), ""},
		{"time ns floors", OIDTime, arrow.FixedWidthTypes.Time64ns, int64(1999), be(i64(1)), ""},
		{"time32 ms", OIDTime, arrow.FixedWidthTypes.Time32ms, int64(1500), be(i64(1500000)), ""},
		{"time 24:00", OIDTime, arrow.FixedWidthTypes.Time32s, int64(86400), be(i64(86400000000)), ""},
		{"time past 24:00", OIDTime, arrow.FixedWidthTypes.Time64us, int64(86400000001), nil, "out of range for a time"},
		{"time negative", OIDTime, arrow.FixedWidthTypes.Time64us, int64(-1), nil, "out of range for a time"},
		{"interval", OIDInterval, arrow.FixedWidthTypes.Duration_us, int64(90061000001), be(i64(3661000001), i32(1), i32(0)), ""},
		// Python's timedelta(hours=-23): "-1 day, 1:00:00".
		{"interval negative", OIDInterval, arrow.FixedWidthTypes.Duration_us, int64(-82800000000), be(i64(3600000000), i32(-1), i32(0)), ""},
		{"interval ns floors", OIDInterval, arrow.FixedWidthTypes.Duration_ns, int64(-1), be(i64(86399999999), i32(-1), i32(0)), ""},
		{"interval s", OIDInterval, arrow.FixedWidthTypes.Duration_s, int64(86400), be(i64(0), i32(1), i32(0)), ""},
		{"interval s overflow", OIDInterval, arrow.FixedWidthTypes.Duration_s, int64(math.MaxInt64 / 10), nil, "out of range for an interval"},
		{"interval from int", OIDInterval, arrow.PrimitiveTypes.Int64, int64(1), nil, "cannot be stored"},

		// Arrow types of users' data.
		{"int2 from int16", OIDInt2, arrow.PrimitiveTypes.Int16, int64(-300), be(i16(-300)), ""},
		{"int4 from uint16", OIDInt4, arrow.PrimitiveTypes.Uint16, uint64(65535), be(i32(65535)), ""},
		{"int2 from uint16 too big", OIDInt2, arrow.PrimitiveTypes.Uint16, uint64(40000), nil, "out of range for a 2-byte integer"},
		{"int8 from uint32", OIDInt8, arrow.PrimitiveTypes.Uint32, uint64(math.MaxUint32), be(i64(math.MaxUint32)), ""},
		{"int4 from uint32 too big", OIDInt4, arrow.PrimitiveTypes.Uint32, uint64(math.MaxUint32), nil, "out of range for a 4-byte integer"},
		{"int8 from uint64 max int64", OIDInt8, arrow.PrimitiveTypes.Uint64, uint64(math.MaxInt64), be(i64(math.MaxInt64)), ""},
		{"int4 from float truncates", OIDInt4, arrow.PrimitiveTypes.Float64, 1.9, be(i32(1)), ""},
		{"int4 from negative float truncates", OIDInt4, arrow.PrimitiveTypes.Float64, -1.9, be(i32(-1)), ""},
		{"int2 from float32", OIDInt2, arrow.PrimitiveTypes.Float32, float32(-32768.5), be(i16(-32768)), ""},
		{"int8 from float16", OIDInt8, arrow.FixedWidthTypes.Float16, float32(65504), be(i64(65504)), ""},
		{"int4 from float too big", OIDInt4, arrow.PrimitiveTypes.Float64, 3e9, nil, "out of range for a 4-byte integer"},
		{"int8 from float 2^63", OIDInt8, arrow.PrimitiveTypes.Float64, 0x1p63, nil, "out of range for a 8-byte integer"},
		{"int8 from float -2^63", OIDInt8, arrow.PrimitiveTypes.Float64, -0x1p63, be(i64(math.MinInt64)), ""},
		{"int4 from NaN", OIDInt4, arrow.PrimitiveTypes.Float64, math.NaN(), nil, "NaN is not an integer"},
		{"int4 from infinity", OIDInt4, arrow.PrimitiveTypes.Float64, math.Inf(1), nil, "out of range"},
		{"int4 from decimal truncates", OIDInt4, &arrow.Decimal128Type{Precision: 10, Scale: 2}, decimal128.FromI64(-12399), be(i32(-123)), ""},
		{"int8 from decimal negative scale", OIDInt8, &arrow.Decimal128Type{Precision: 10, Scale: -3}, decimal128.FromI64(5), be(i64(5000)), ""},
		{"int8 from decimal too big", OIDInt8, &arrow.Decimal128Type{Precision: 38, Scale: 0}, decimal128.FromBigInt(new(big.Int).Lsh(big.NewInt(1), 63)), nil, "out of range"},
		{"int4 from bool", OIDInt4, arrow.FixedWidthTypes.Boolean, true, nil, "values of Arrow type bool cannot be stored"},
		{"int4 from timestamp", OIDInt4, ts(arrow.Microsecond), int64(0), nil, "values of Arrow type timestamp[us] cannot be stored"},
		{"float8 from float32 is its digits", OIDFloat8, arrow.PrimitiveTypes.Float32, float32(0.1), be(math.Float64bits(0.1)), ""},
		{"float4 from float32 exact", OIDFloat4, arrow.PrimitiveTypes.Float32, float32(0.1), be(math.Float32bits(0.1)), ""},
		{"float4 from float16", OIDFloat4, arrow.FixedWidthTypes.Float16, float32(0.5), be(math.Float32bits(0.5)), ""},
		{"float8 from float16", OIDFloat8, arrow.FixedWidthTypes.Float16, float32(-2), be(math.Float64bits(-2)), ""},
		{"float8 from float32 NaN", OIDFloat8, arrow.PrimitiveTypes.Float32, float32(math.NaN()), be(math.Float64bits(float64(float32(math.NaN())))), ""},
		{"float8 from decimal", OIDFloat8, &arrow.Decimal128Type{Precision: 10, Scale: 1}, decimal128.FromI64(1), be(math.Float64bits(0.1)), ""},
		{"float4 from decimal", OIDFloat4, &arrow.Decimal128Type{Precision: 10, Scale: 1}, decimal128.FromI64(1), be(math.Float32bits(0.1)), ""},
		{"float4 from decimal too big", OIDFloat4, &arrow.Decimal128Type{Precision: 38, Scale: -30}, decimal128.FromI64(1e10), nil, "out of range for REAL"},
		{"float8 from uint64", OIDFloat8, arrow.PrimitiveTypes.Uint64, uint64(1<<64 - 1), be(math.Float64bits(1 << 64)), ""},
		{"numeric from float32 is its digits", OIDNumeric, arrow.PrimitiveTypes.Float32, float32(0.1), be(uint16(1), i16(-1), uint16(numericPos), uint16(1), uint16(1000)), ""},
		{"numeric from float16", OIDNumeric, arrow.FixedWidthTypes.Float16, float32(0.5), be(uint16(1), i16(-1), uint16(numericPos), uint16(1), uint16(5000)), ""},
		{"numeric from string view", OIDNumeric, arrow.BinaryTypes.StringView, "1.5", be(uint16(2), i16(0), uint16(numericPos), uint16(1), uint16(1), uint16(5000)), ""},
		{"numeric from large string", OIDNumeric, arrow.BinaryTypes.LargeString, "-2", be(uint16(1), i16(0), uint16(numericNeg), uint16(0), uint16(2)), ""},
		{"text from string view", OIDVarchar, arrow.BinaryTypes.StringView, "a longer string than a view inlines", be("a longer string than a view inlines"), ""},
		{"text from string view NUL", OIDText, arrow.BinaryTypes.StringView, "a\x00", nil, "NUL character"},
		{"jsonb from large string", OIDJSONB, arrow.BinaryTypes.LargeString, "{}", be(byte(1), "{}"), ""},
		{"text from int", OIDText, arrow.PrimitiveTypes.Int64, int64(1), nil, "values of Arrow type int64 cannot be stored"},
		{"json from struct", OIDJSON, arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}), nil, nil, "cannot be stored"},
		{"bytea from binary view", OIDBytea, arrow.BinaryTypes.BinaryView, []byte("\x00\x01"), be([]byte{0, 1}), ""},
		{"bytea from string is its UTF-8", OIDBytea, arrow.BinaryTypes.String, "é", be("é"), ""},
		{"bytea from string view", OIDBytea, arrow.BinaryTypes.StringView, "x", be("x"), ""},
		{"date from timestamp", OIDDate, ts(arrow.Nanosecond), int64(946684800000000000 - 1), be(i32(-1)), ""},
		{"date from zoned timestamp is its wall date", OIDDate, zts(arrow.Second, "Asia/Tokyo"), int64(946684800 - 3600), be(i32(0)), ""},
		{"timestamp from zoned is its wall time", OIDTimestamp, zts(arrow.Second, "Europe/Paris"), int64(946684800), be(i64(3600000000)), ""},
		{"timestamp from offset zone", OIDTimestamp, zts(arrow.Microsecond, "-05:30"), int64(946684800000000), be(i64(-19800000000)), ""},
		{"timestamp from UTC", OIDTimestamp, zts(arrow.Microsecond, "UTC"), int64(946684800000001), be(i64(1)), ""},
		{"timestamp from unknown zone", OIDTimestamp, zts(arrow.Microsecond, "Mars/Olympus"), int64(0), nil, "could not find timezone"},
		{"timestamp wall time past -infinity", OIDTimestamp, zts(arrow.Microsecond, "-01:00"), int64(math.MinInt64 + pgEpochMicros + 1), nil, "out of range"},
		{"timestamp wall time of the last instant", OIDTimestamp, zts(arrow.Microsecond, "+01:00"), int64(math.MaxInt64), be(i64(math.MaxInt64 - pgEpochMicros + 3600000000)), ""},
		{"timestamp from date64", OIDTimestamp, arrow.FixedWidthTypes.Date64, int64(10958 * 86400000), be(i64(86400000000)), ""},
		{"timestamptz from zoned is its instant", OIDTimestamptz, zts(arrow.Second, "Europe/Paris"), int64(946684800), be(i64(0)), ""},
		{"timestamptz from naive is text", OIDTimestamptz, ts(arrow.Microsecond), int64(0), nil, "read in the session's TimeZone"},
		{"timestamptz from date is text", OIDTimestamptz, arrow.FixedWidthTypes.Date32, int64(0), nil, "read in the session's TimeZone"},
		{"uuid from binary", OIDUUID, arrow.BinaryTypes.Binary, []byte("0123456789abcdef"), be("0123456789abcdef"), ""},
		{"uuid from large binary", OIDUUID, arrow.BinaryTypes.LargeBinary, []byte("0123456789abcdef"), be("0123456789abcdef"), ""},
		{"uuid from binary view", OIDUUID, arrow.BinaryTypes.BinaryView, []byte("0123456789abcdef"), be("0123456789abcdef"), ""},
		{"uuid from 15 bytes", OIDUUID, arrow.BinaryTypes.Binary, []byte("0123456789abcde"), nil, "has 15 bytes, a UUID has 16"},
		{"array from int", 1007, arrow.PrimitiveTypes.Int64, int64(1), nil, "no binary encoder"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := oneColumn(t, c.dt, func(b array.Builder) { appendValue(t, b, c.value) })
			got, err := encodeOne(t, c.oid, rec, 0)
			expect(t, got, err, c.want, c.wantErr)
		})
	}
}

// expect checks an encoder's outcome: want, or with wantErr set an error
// containing it.
func expect[T []byte | string](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("got %q, %v; want an error containing %q", got, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

var uuid16 = &arrow.FixedSizeBinaryType{ByteWidth: 16}

func appendValue(t testing.TB, b array.Builder, v any) {
	t.Helper()
	if err := arrowtest.Append(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestNullsAndTuples(t *testing.T) {
	rec := intAndString(t, []string{"", "x"}, []bool{false, true})
	rows, err := newBinaryRows([]Target{{Name: "i", OID: OIDInt4}, {Name: "s", OID: OIDText}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; i < 2; i++ {
		if got, err = rows.Append(got, i); err != nil {
			t.Fatal(err)
		}
	}
	want := []byte{0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'x'}
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	if !bytes.HasPrefix(header, []byte("PGCOPY\n\xff\r\n\x00")) || len(header) != 19 || !bytes.Equal(trailer, []byte{0xff, 0xff}) {
		t.Fatalf("header %x / trailer %x", header, trailer)
	}
}

func TestNewBinaryRowsErrors(t *testing.T) {
	rec := oneColumn(t, arrow.PrimitiveTypes.Int64, func(b array.Builder) { b.(*array.Int64Builder).Append(1) })
	if _, err := newBinaryRows([]Target{{Name: "a", OID: OIDInt8}, {Name: "b", OID: OIDInt8}}, rec); err == nil || !strings.Contains(err.Error(), "record has 1 columns, the table has 2") {
		t.Fatalf("got %v", err)
	}
	if _, err := newBinaryRows([]Target{{Name: "a", OID: OIDText, Type: "text"}}, rec); err == nil || !strings.Contains(err.Error(), `column "a" (text)`) {
		t.Fatalf("got %v", err)
	}
}

func TestValueError(t *testing.T) {
	rec := oneColumn(t, arrow.PrimitiveTypes.Int64, func(b array.Builder) {
		b.(*array.Int64Builder).AppendValues([]int64{1, 1 << 40}, nil)
	})
	rows, err := newBinaryRows([]Target{{Name: "amount", OID: OIDInt4, Type: "integer"}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := rows.Append(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rows.Append(dst, 1)
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Row != 1 || ve.Column != "amount" || ve.Value != "1099511627776" {
		t.Fatalf("got %#v", err)
	}
	for _, want := range []string{`column "amount" (integer)`, "row 1", "value 1099511627776"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
