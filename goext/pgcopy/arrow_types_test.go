package pgcopy

// Tests of the Arrow layouts users' data comes in (dictionaries, the null
// type) and fuzz tests, against the server, of the conversions between
// Arrow and column types: floats and decimals into integers, float32s into
// DOUBLE PRECISION and NUMERIC, and zoned timestamps into TIMESTAMP and DATE.

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

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
	if rows, err := NewRows([]Target{col}, rec); err != nil {
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
	for _, c := range []Target{col(OIDInt4, "integer"), col(OIDTimestamptz, "timestamptz"), inetCol, arrayCol} {
		fields, lines, binErr, textErr := encodeAll(t, c, rec)
		if binErr != nil || textErr != nil || fmt.Sprint(fields) != "[NULL NULL]" || fmt.Sprint(lines) != fmt.Sprint([]string{"\\N\n", "\\N\n"}) {
			t.Errorf("%s: got %q, %q, %v, %v", c.Type, fields, lines, binErr, textErr)
		}
	}
	if got := ValueText(arr, 0); got != "NULL" {
		t.Errorf("ValueText: %s", got)
	}
}

// expr is the server's value of a query of one text parameter, as text.
func (s *server) expr(t *testing.T, query string, args ...any) (string, error) {
	t.Helper()
	var out string
	err := s.conn.QueryRow(context.Background(), query, args...).Scan(&out)
	return out, serverError(t, err)
}

// checkRec checks row 0 of rec for col, binary and text, against want
// (or a refusal, with wantErr set); typ reads the text line.
func (s *server) checkRec(t *testing.T, what string, col Target, rec arrow.Record, typ, want string, wantErr error) {
	t.Helper()
	field, encErr := encodeCol(t, col, rec, 0)
	s.check(t, what, col.OID, field, encErr, want, wantErr)
	line, textErr := textOne(t, col, rec, 0)
	if textErr != nil {
		if wantErr == nil {
			t.Fatalf("%s: the text encoder refuses it (%v), want %s", what, textErr, want)
		}
		return
	}
	got, err := s.parse(t, typ, line[:len(line)-1])
	if (err != nil) != (wantErr != nil) || got != want {
		t.Fatalf("%s: written as %q, read as %q (%v); want %q (%v)", what, line, got, err, want, wantErr)
	}
}

func FuzzIntFromFloat(f *testing.F) {
	s := newServer(f)
	for _, seed := range []float64{0, math.Copysign(0, -1), 1.9, -1.9, 0.5, -0.5, 32767.9, 32768, -32768.9, -32769, 2147483647.5, 2147483648,
		-2147483648.99, 0x1p63, -0x1p63, 9.223372036854775e18, 1e300, math.NaN(), math.Inf(1), math.Inf(-1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		rec := oneColumn(t, arrow.PrimitiveTypes.Float64, func(b array.Builder) { appendValue(t, b, v) })
		for _, typ := range []string{"int2", "int4", "int8"} {
			oid := map[string]uint32{"int2": OIDInt2, "int4": OIDInt4, "int8": OIDInt8}[typ]
			// Python's int(v), which upstream sends, is the server's trunc.
			want, wantErr := s.expr(t, "SELECT trunc($1::text::float8)::"+typ+"::text", pyStr(v))
			s.checkRec(t, fmt.Sprintf("%s from float %s", typ, pyStr(v)), col(oid, typ), rec, typ, want, wantErr)
		}
	})
}

func FuzzFloatFromFloat32(f *testing.F) {
	s := newServer(f)
	for _, seed := range []float32{0, float32(math.Copysign(0, -1)), 0.1, 1.5, 16777217, 3.4028235e38, 1e-45, 1.1754944e-38, 1e10, 0.3,
		float32(math.NaN()), float32(math.Inf(-1))} {
		f.Add(math.Float32bits(seed))
	}
	f.Fuzz(func(t *testing.T, bits uint32) {
		v := math.Float32frombits(bits)
		rec := oneColumn(t, arrow.PrimitiveTypes.Float32, func(b array.Builder) { appendValue(t, b, v) })
		// Its shortest digits, written as Python writes a float.
		py := string(appendShortFloat(nil, float64(v), 32))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			py = strconv.FormatFloat(float64(v), 'g', -1, 32)
		}
		for _, c := range []Target{col(OIDFloat4, "float4"), col(OIDFloat8, "float8"), col(OIDNumeric, "numeric")} {
			want, wantErr := s.parse(t, c.Type, py)
			s.checkRec(t, fmt.Sprintf("%s from float32 %s", c.Type, py), c, rec, c.Type, want, wantErr)
		}
	})
}

// zones whose rules are old and settled: the server's and Go's databases
// agree on them.
var zones = []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham",
	"Asia/Kathmandu", "Europe/London", "America/St_Johns", "Africa/Monrovia"}

func FuzzZonedTimestamp(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 946684800000000, 1711846800000000, 1711846799999999, 1730595600000000, -2524521600000000, -62135596800000001,
		-210866803200000000, 253402300799999999, 9223371331199999999, math.MaxInt64, math.MinInt64} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
	}
	f.Add(int64(1262304000000000), uint8(5))
	f.Add(int64(-1577923200000000), uint8(9))
	f.Add(int64(-210866803200000051), uint8(4)) // an instant before TIMESTAMPTZ's range, a wall-clock time within TIMESTAMP's
	f.Fuzz(func(t *testing.T, us int64, z uint8) {
		zone := zones[int(z)%len(zones)]
		rec := oneColumn(t, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: zone}, func(b array.Builder) { appendValue(t, b, us) })
		tm := time.UnixMicro(us).UTC()
		date, era := isoDate(tm)
		instant := fmt.Sprintf("%s %02d:%02d:%02d.%06d+00%s", date, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1000, era)
		what := fmt.Sprintf("%d (%s) in %s", us, instant, zone)
		want, wantErr := s.expr(t, "SELECT $1::text::timestamptz::text", instant)
		s.checkRec(t, "timestamptz "+what, col(OIDTimestamptz, "timestamptz"), rec, "timestamptz", want, wantErr)
		if wantErr != nil {
			return // no instant to read the wall-clock time of here; it may be in TIMESTAMP's range
		}
		// Upstream's text of an aware datetime: the server drops its offset.
		want, wantErr = s.expr(t, "SELECT ($1::text::timestamptz AT TIME ZONE $2::text)::text", instant, zone)
		s.checkRec(t, "timestamp "+what, col(OIDTimestamp, "timestamp"), rec, "timestamp", want, wantErr)
		want, wantErr = s.expr(t, "SELECT ($1::text::timestamptz AT TIME ZONE $2::text)::date::text", instant, zone)
		s.checkRec(t, "date "+what, col(OIDDate, "date"), rec, "date", want, wantErr)
	})
}
