package pgcopy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
)

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

// Numbers as text that not every server reads alike, or no number at all,
// make the chunk text COPY, where the server reads them itself.
func TestNumericTextLeftToTheServer(t *testing.T) {
	for _, values := range [][]string{{"1", "1_000"}, {"0x1F"}, {"2", "x\"y"}, {"1e999999"}} {
		rec := oneColumn(t, arrow.BinaryTypes.String, func(b array.Builder) { b.(*array.StringBuilder).AppendValues(values, nil) })
		cols := []Target{{Name: "amount", OID: OIDNumeric, Type: "numeric"}}
		if _, err := newBinaryRows(cols, rec); !errors.Is(err, errTextOnly) {
			t.Errorf("%q: newBinaryRows gave %v, want the text path", values, err)
		}
		if _, err := newTextRows(cols, rec); err != nil {
			t.Errorf("%q: newTextRows: %v", values, err)
		}
	}
}

// numericString renders a binary numeric value as PostgreSQL's numeric
// output does, independently of the encoder.
func numericString(t testing.TB, field []byte) string {
	t.Helper()
	if len(field) < 12 || int(binary.BigEndian.Uint32(field)) != len(field)-4 {
		t.Fatalf("bad numeric field %x", field)
	}
	v := field[4:]
	n := int(binary.BigEndian.Uint16(v))
	weight := int(int16(binary.BigEndian.Uint16(v[2:])))
	sign := binary.BigEndian.Uint16(v[4:])
	dscale := int(binary.BigEndian.Uint16(v[6:]))
	if len(v) != 8+2*n {
		t.Fatalf("numeric %x: %d digits in %d bytes", field, n, len(v))
	}
	switch sign {
	case numericNaN:
		return "NaN"
	case numericPosInf:
		return "Infinity"
	case numericNegInf:
		return "-Infinity"
	}
	// value = sum digit[k] * 10000^(weight-k)
	x := new(big.Int)
	for k := 0; k < n; k++ {
		d := binary.BigEndian.Uint16(v[8+2*k:])
		if d > 9999 {
			t.Fatalf("numeric %x: digit %d", field, d)
		}
		x.Mul(x, big.NewInt(10000)).Add(x, big.NewInt(int64(d)))
	}
	if n > 0 && (binary.BigEndian.Uint16(v[8:]) == 0 || binary.BigEndian.Uint16(v[6+2*n:]) == 0) {
		t.Errorf("numeric %x: leading or trailing zero digit group", field)
	}
	// x * 10^(4*(weight-n+1)), shown with dscale decimals
	exp10 := 4 * (weight - n + 1)
	if exp10 >= 0 {
		x.Mul(x, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp10)), nil))
		exp10 = 0
	}
	s := x.String()
	frac := -exp10
	for len(s) <= frac {
		s = "0" + s
	}
	intPart, fracPart := s[:len(s)-frac], s[len(s)-frac:]
	if len(fracPart) > dscale {
		if strings.Trim(fracPart[dscale:], "0") != "" {
			t.Errorf("numeric %x: digits beyond dscale %d", field, dscale)
		}
		fracPart = fracPart[:dscale]
	}
	fracPart += strings.Repeat("0", dscale-len(fracPart))
	out := intPart
	if dscale > 0 {
		out += "." + fracPart
	}
	if sign == numericNeg {
		if n == 0 {
			t.Errorf("numeric %x: negative zero", field)
		}
		out = "-" + out
	}
	return out
}

func TestNumericText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"0.0000", "0.0000"},
		{"-0.000", "0.000"},
		{"1", "1"},
		{"10000", "10000"},
		{"100000000", "100000000"},
		{"12345", "12345"},
		{"-12345.678", "-12345.678"},
		{"1.5", "1.5"},
		{"1.50", "1.50"},
		{"0.1", "0.1"},
		{"0.0001", "0.0001"},
		{"0.00001", "0.00001"},
		{"0.000012345", "0.000012345"},
		{"0.00000001", "0.00000001"},
		{"1e-20", "0.00000000000000000001"},
		{"-1E-8", "-0.00000001"},
		{"1.23e-7", "0.000000123"},
		{"1e3", "1000"},
		{"1E+2", "100"},
		{"1.5e2", "150"},
		{"1.25e1", "12.5"},
		{"0e-7", "0.0000000"},
		{"0E+5", "0"},
		{"12345678901234567890.123456789", "12345678901234567890.123456789"},
		{"99999999.99999999", "99999999.99999999"},
		{".5", "0.5"},
		{"5.", "5"},
		{"  42  ", "42"},
		{"+7", "7"},
		{"00012.3400", "12.3400"},
		{"1e0000001", "10"},
		{"NaN", "NaN"},
		{"nan", "NaN"},
		{"Infinity", "Infinity"},
		{"inf", "Infinity"},
		{"-Infinity", "-Infinity"},
		{"-inf", "-Infinity"},
		{"+iNf", "Infinity"},
		{"1e-16383", "0." + strings.Repeat("0", 16382) + "1"},
		{"1e131071", "1" + strings.Repeat("0", 131071)},
		{"0e1073741823", "0"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, _, err := appendNumericText(nil, nil, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if s := numericString(t, got); s != c.want {
				t.Fatalf("%q encoded as %s (%x), want %s", c.in, s, got, c.want)
			}
		})
	}
	for _, bad := range []string{"", " ", "-", "+", ".", "e5", ".e5", "1e", "1e+", "1.2.3", "1..2", "abc", "1 2", "+NaN", "-nan", "NaN1",
		"infinit", "1_", "_1", "1__0", "1_.5", "1._5", "1e_1", "1e1_", "0x", "0x_", "0x1F_", "0x1__F", "00x1", "0x1.5", "0x1g", "0b2", "0o8",
		"1_000", "1_000.5_5", "1e1_0", "0x1F", "-0x10", "0X_ff", "0o17", "0b101", // PostgreSQL 16 only: the server's to read
		"1e131072", "1e-16384", "0e-16384", "0.0e-16383", "1e1073741824", "0e1073741824", "1e99999999999", "1\u00a0", "１",
		"1" + strings.Repeat("0", 131072)} {
		if got, _, err := appendNumericText(nil, nil, bad); err == nil {
			t.Errorf("%q encoded as %x, want an error", bad, got)
		}
	}
}

func TestNumericDecimal128(t *testing.T) {
	cases := []struct {
		v     decimal128.Num
		scale int32
		want  string
	}{
		{decimal128.FromI64(12345), 2, "123.45"},
		{decimal128.FromI64(-1), 5, "-0.00001"},
		{decimal128.FromI64(0), 3, "0.000"},
		{decimal128.FromI64(10000), 4, "1.0000"},
		{decimal128.FromI64(5), -3, "5000"},
		{decimal128.FromBigInt(new(big.Int).Lsh(big.NewInt(1), 126)), 38, "0.85070591730234615865843651857942052864"},
	}
	for _, c := range cases {
		dt := &arrow.Decimal128Type{Precision: 38, Scale: c.scale}
		rec := oneColumn(t, dt, func(b array.Builder) { b.(*array.Decimal128Builder).Append(c.v) })
		got, err := encodeOne(t, OIDNumeric, rec, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s := numericString(t, got); s != c.want {
			t.Errorf("decimal %s scale %d: got %s, want %s", c.v.BigInt(), c.scale, s, c.want)
		}
	}
}

func TestPyDecimal(t *testing.T) {
	// What CPython's str(Decimal(...)) writes.
	cases := []struct {
		digits string
		scale  int
		want   string
	}{
		{"0", 0, "0"}, {"0", 2, "0.00"}, {"0", 6, "0.000000"}, {"0", 7, "0E-7"}, {"0", -2, "0E+2"}, {"1", 6, "0.000001"},
		{"1", 7, "1E-7"}, {"123", 1, "12.3"}, {"123", 3, "0.123"}, {"123", 5, "0.00123"}, {"-5", 1, "-0.5"}, {"123", -1, "1.23E+3"},
	}
	for _, c := range cases {
		v, _ := new(big.Int).SetString(c.digits, 10)
		if got := string(appendPyDecimal(nil, v, c.scale)); got != c.want {
			t.Errorf("%sE%d: got %s, want %s", c.digits, -c.scale, got, c.want)
		}
	}
}
