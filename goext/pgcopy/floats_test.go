package pgcopy

import (
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// floatTypes are the column types the float fuzz targets store into.
var floatTypes = []struct {
	typ string
	oid uint32
}{{"float4", OIDFloat4}, {"float8", OIDFloat8}}

func FuzzFloat(f *testing.F) {
	s := newServer(f)
	for _, seed := range []float64{0, math.Copysign(0, -1), 1.5, 0.1, 1 + 0x1p-24, 1 + 0x1p-24 + 0x1p-52, 1 + 0x1p-24 - 0x1p-52, 3.4028234663852886e38, 3.4028235677973366e38,
		3.5e38, 1e-45, 1.401298464324817e-45, 7e-46, 1e-50, 1e300, 5e-324, math.NaN(), math.Inf(1), math.Inf(-1), 16777217, 1e16} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		for _, c := range floatTypes {
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
		for _, c := range floatTypes {
			field, encErr := encodeValue(t, c.oid, arrow.PrimitiveTypes.Int64, v)
			want, parseErr := s.parse(t, c.typ, strconv.FormatInt(v, 10))
			s.check(t, fmt.Sprintf("%s from int %d", c.typ, v), c.oid, field, encErr, want, parseErr)
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

// TestPyFloat checks appendPyFloat against what CPython's str(float) wrote.
func TestPyFloat(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1234500.0, "1234500.0"}, {1e16, "1e+16"}, {9999999999999998.0, "9999999999999998.0"}, {1e-5, "1e-05"},
		{0.0001, "0.0001"}, {math.Copysign(0, -1), "-0.0"}, {0, "0.0"}, {1e22, "1e+22"}, {1.5e300, "1.5e+300"},
		{5e-324, "5e-324"}, {0.1, "0.1"}, {123456789.123, "123456789.123"}, {-2.5, "-2.5"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.00012345, "0.00012345"}, {1.2345e-05, "1.2345e-05"}, {123456789012345678, "1.2345678901234568e+17"},
	}
	for _, c := range cases {
		if got := string(appendPyFloat(nil, c.f)); got != c.want {
			t.Errorf("appendPyFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}
