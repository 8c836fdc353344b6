package pgcopy

import (
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

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
