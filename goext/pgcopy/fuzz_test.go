package pgcopy

// The fuzz tests check the binary encoders against the server itself: a
// value encoded here must read back, through the type's binary receive
// function (what COPY ... (FORMAT binary) calls), exactly as the server
// reads the text that upstream would have sent for it; and where the
// server refuses that text, the encoder must refuse the value. Their seeds
// run as plain tests under `go test` and need DATABASE_URL.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
)

type server struct {
	conn *pgx.Conn
}

func newServer(f *testing.F) *server {
	return &server{conn: pgtest.Connect(f)}
}

// serverError tells a refusal of the value from a broken connection.
func serverError(t *testing.T, err error) error {
	t.Helper()
	var pe *pgconn.PgError
	if err != nil && !errors.As(err, &pe) {
		t.Fatalf("server: %v", err)
	}
	return err
}

// parse is the server's reading of text as typ, shown as text.
func (s *server) parse(t *testing.T, typ, text string) (string, error) {
	t.Helper()
	var out string
	err := s.conn.QueryRow(context.Background(), "SELECT $1::text::"+typ+"::text", text).Scan(&out)
	return out, serverError(t, err)
}

// recv is the server's reading of a binary field (length and value) of
// type oid, shown as text.
func (s *server) recv(t *testing.T, oid uint32, field []byte) (string, error) {
	t.Helper()
	res := s.conn.PgConn().ExecParams(context.Background(), "SELECT $1::text", [][]byte{field[4:]}, []uint32{oid}, []int16{1}, []int16{0}).Read()
	if res.Err != nil {
		return "", serverError(t, res.Err)
	}
	return string(res.Rows[0][0]), nil
}

// check compares the encoder's outcome (field, encErr) for a value with
// the server's reading of its text (want, parseErr).
func (s *server) check(t *testing.T, what string, oid uint32, field []byte, encErr error, want string, parseErr error) {
	t.Helper()
	if encErr != nil {
		if parseErr == nil {
			t.Fatalf("%s: the encoder refuses it (%v), the server reads %s", what, encErr, want)
		}
		return
	}
	got, recvErr := s.recv(t, oid, field)
	switch {
	case recvErr != nil && parseErr != nil:
		// Both refuse it: a binary value the server's receive function
		// rejects never stores anything.
	case recvErr != nil:
		t.Fatalf("%s: encoded as %x, which the server refuses: %v; its text reads as %s", what, field, recvErr, want)
	case parseErr != nil:
		t.Fatalf("%s: encoded as %x, stored as %s; but the server refuses its text: %v", what, field, got, parseErr)
	case got != want:
		t.Fatalf("%s: encoded as %x, stored as %s; its text reads as %s", what, field, got, want)
	}
}

func encodeValue(t *testing.T, oid uint32, dt arrow.DataType, v any) ([]byte, error) {
	rec := oneColumn(t, dt, func(b array.Builder) { appendValue(t, b, v) })
	return encodeOne(t, oid, rec, 0)
}

// pyStr is Python's str(f), the text upstream sends for a float.
func pyStr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return string(appendPyFloat(nil, f))
}

var numericSeeds = []string{
	"0", "-0", "0.0000", "0.00001", "1e-20", "12345678901234567890.123456789", "1.0000", "10000", "100000000", "1.00000000",
	"99999999.99999999", "0.1", "1.5e3", "1.23456789e-5", "1e+100", "1e131071", "1e131072", "1e-16383", "1e-16384",
	"0e-16383", "0e1073741823", "1e1073741824", "NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "-inf", "+inf",
	"1_000", "1__000", "0x1F", "0b_101", "-0o17", " 12 ", "\t-3.5\n", ".5", "5.", "1e0000001", "1e1_0", "abc", "",
	"0.000100", "123.4500e2", "-1E-8",
}

func FuzzNumericText(f *testing.F) {
	s := newServer(f)
	for _, seed := range numericSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
			return // not a Python str the server could receive
		}
		field, _, encErr := appendNumericText(nil, nil, text)
		if encErr != nil {
			return // sent as text: the server reads it, or refuses it, itself
		}
		numericString(t, field) // well formed
		want, parseErr := s.parse(t, "numeric", text)
		s.check(t, fmt.Sprintf("numeric %q", text), OIDNumeric, field, encErr, want, parseErr)
	})
}

func FuzzNumericFloat(f *testing.F) {
	s := newServer(f)
	for _, seed := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 100, 1234500, 1e15, 1e16, 9999999999999998, 1e-4, 1e-5,
		0.00012345, 1e22, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, math.NaN(), math.Inf(1), math.Inf(-1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		field, encErr := encodeValue(t, OIDNumeric, arrow.PrimitiveTypes.Float64, v)
		want, parseErr := s.parse(t, "numeric", pyStr(v))
		s.check(t, fmt.Sprintf("numeric from float %s", pyStr(v)), OIDNumeric, field, encErr, want, parseErr)
	})
}

func FuzzNumericInt(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 1, -1, 9999, 10000, -10000, 100000000, 123456789, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v int64) {
		field, encErr := encodeValue(t, OIDNumeric, arrow.PrimitiveTypes.Int64, v)
		want, parseErr := s.parse(t, "numeric", strconv.FormatInt(v, 10))
		s.check(t, fmt.Sprintf("numeric from int %d", v), OIDNumeric, field, encErr, want, parseErr)
	})
}

func FuzzNumericDecimal128(f *testing.F) {
	s := newServer(f)
	f.Add(int64(0), uint64(12345), int8(2))
	f.Add(int64(-1), uint64(math.MaxUint64), int8(5)) // -1
	f.Add(int64(0), uint64(0), int8(38))
	f.Add(int64(0), uint64(10000), int8(4))
	f.Add(int64(0), uint64(7), int8(-3))
	f.Add(int64(math.MaxInt64), uint64(math.MaxUint64), int8(0))
	f.Add(int64(math.MinInt64), uint64(0), int8(10))
	f.Fuzz(func(t *testing.T, hi int64, lo uint64, scale int8) {
		num := decimal128.New(hi, lo)
		field, encErr := func() ([]byte, error) {
			dt := &arrow.Decimal128Type{Precision: 38, Scale: int32(scale)}
			rec := oneColumn(t, dt, func(b array.Builder) { b.(*array.Decimal128Builder).Append(num) })
			return encodeOne(t, OIDNumeric, rec, 0)
		}()
		// str(Decimal) of such a value: its digits and exponent.
		text := num.BigInt().String() + "E" + strconv.Itoa(-int(scale))
		want, parseErr := s.parse(t, "numeric", text)
		s.check(t, "numeric from decimal "+text, OIDNumeric, field, encErr, want, parseErr)
	})
}

func FuzzInt(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, -1, 32767, 32768, -32768, -32769, 70000, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxInt64, math.MinInt64} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v int64) {
		for _, c := range []struct {
			typ string
			oid uint32
		}{{"int2", OIDInt2}, {"int4", OIDInt4}, {"int8", OIDInt8}} {
			field, encErr := encodeValue(t, c.oid, arrow.PrimitiveTypes.Int64, v)
			want, parseErr := s.parse(t, c.typ, strconv.FormatInt(v, 10))
			s.check(t, fmt.Sprintf("%s %d", c.typ, v), c.oid, field, encErr, want, parseErr)
		}
	})
}

func FuzzFloat(f *testing.F) {
	s := newServer(f)
	for _, seed := range []float64{0, math.Copysign(0, -1), 1.5, 0.1, 1 + 0x1p-24, 1 + 0x1p-24 + 0x1p-52, 1 + 0x1p-24 - 0x1p-52, 3.4028234663852886e38, 3.4028235677973366e38,
		3.5e38, 1e-45, 1.401298464324817e-45, 7e-46, 1e-50, 1e300, 5e-324, math.NaN(), math.Inf(1), math.Inf(-1), 16777217, 1e16} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		for _, c := range []struct {
			typ string
			oid uint32
		}{{"float4", OIDFloat4}, {"float8", OIDFloat8}} {
			field, encErr := encodeValue(t, c.oid, arrow.PrimitiveTypes.Float64, v)
			want, parseErr := s.parse(t, c.typ, pyStr(v))
			s.check(t, fmt.Sprintf("%s %s", c.typ, pyStr(v)), c.oid, field, encErr, want, parseErr)
		}
	})
}

func FuzzFloatFromInt(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 16777217, 1<<40 + 1<<16 + 1, 1<<53 + 1, math.MaxInt64, math.MinInt64} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v int64) {
		for _, c := range []struct {
			typ string
			oid uint32
		}{{"float4", OIDFloat4}, {"float8", OIDFloat8}} {
			field, encErr := encodeValue(t, c.oid, arrow.PrimitiveTypes.Int64, v)
			want, parseErr := s.parse(t, c.typ, strconv.FormatInt(v, 10))
			s.check(t, fmt.Sprintf("%s from int %d", c.typ, v), c.oid, field, encErr, want, parseErr)
		}
	})
}

// isoDate writes y-m-d as the server reads it, and the era to write last.
func isoDate(tm time.Time) (string, string) {
	y := tm.Year()
	era := ""
	if y <= 0 {
		y, era = 1-y, " BC"
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, tm.Month(), tm.Day()), era
}

func FuzzDate(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int32{0, 10957, -1, -719162, 2932896, -2440588, -2440589, 2147483647, -2147483648, -2147483648 + 10957, 2147483647 - 1 - 2451545} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, days int32) {
		field, encErr := encodeValue(t, OIDDate, arrow.FixedWidthTypes.Date32, int64(days))
		date, era := isoDate(time.Unix(int64(days)*86400, 0).UTC())
		text := date + era
		want, parseErr := s.parse(t, "date", text)
		s.check(t, fmt.Sprintf("date %d (%s)", days, text), OIDDate, field, encErr, want, parseErr)
	})
}

func FuzzTimestamp(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 946684800000000, -1, 1, 253402300799999999, -62135596800000000, -62135596800000001, -210866803200000000,
		-210866803200000001, 9224318016000000000 - 946684800000000 - 1, math.MaxInt64, math.MinInt64, math.MinInt64 + 946684800000000} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, us int64) {
		for _, c := range []struct {
			typ string
			oid uint32
			tz  string // a timestamp with time zone is an instant; one without is read in the session's TimeZone
		}{{"timestamp", OIDTimestamp, ""}, {"timestamp", OIDTimestamp, "UTC"}, {"timestamptz", OIDTimestamptz, "UTC"}} {
			field, encErr := encodeValue(t, c.oid, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: c.tz}, us)
			tm := time.UnixMicro(us).UTC()
			date, era := isoDate(tm)
			text := fmt.Sprintf("%s %02d:%02d:%02d.%06d+00%s", date, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1000, era)
			want, parseErr := s.parse(t, c.typ, text)
			s.check(t, fmt.Sprintf("%s %d (%s)", c.typ, us, text), c.oid, field, encErr, want, parseErr)
		}
	})
}
