package pgcopy

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
)

func FuzzVector(f *testing.F) {
	s := newServer(f)
	pgtest.Extension(f, s.conn, "vector")
	var oid uint32
	if err := s.conn.QueryRow(context.Background(), "SELECT 'vector'::regtype::oid").Scan(&oid); err != nil {
		f.Fatal(err)
	}
	col := Target{Name: "c", OID: oid, Type: "vector", Recv: "vector_recv"}
	for _, seed := range [][3]float64{{0, 1, -1.5}, {0.1, 1 + 0x1p-24, 1 + 0x1p-24 + 0x1p-52}, {3.4028235677973366e38, 3.5e38, 1e-45},
		{7e-46, 1e-50, 5e-324}, {math.NaN(), 1, 2}, {math.Inf(1), 0, 0}, {math.Copysign(0, -1), 16777217, 1e16}} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c float64) {
		items := []any{a, b, c}
		rec := oneColumn(t, arrow.ListOf(arrow.PrimitiveTypes.Float64), func(bl array.Builder) { appendValue(t, bl, items) })
		py := "[" + pyStr(a) + ", " + pyStr(b) + ", " + pyStr(c) + "]" // Python's str(list)
		s.checkBoth(t, "vector "+py, col, rec, "vector", py)
	})
}

func TestVector(t *testing.T) {
	f32 := func(vs ...float32) []byte {
		var b []byte
		b = binary.BigEndian.AppendUint16(b, uint16(len(vs)))
		b = binary.BigEndian.AppendUint16(b, 0)
		for _, v := range vs {
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
		}
		return be(b)
	}
	cases := []struct {
		name    string
		dt      arrow.DataType
		value   any
		want    []byte
		wantErr string
	}{
		{"float32", arrow.ListOf(arrow.PrimitiveTypes.Float32), []any{float32(1.5), float32(-0.25)}, f32(1.5, -0.25), ""},
		{"float64 rounds as str(f)", arrow.ListOf(arrow.PrimitiveTypes.Float64), []any{0.1, 1 + math.Pow(2, -24)}, f32(0.1, 1+0x1p-23), ""},
		{"fixed size list", arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64), []any{1.0, 2.0}, f32(1, 2), ""},
		{"large list", arrow.LargeListOf(arrow.PrimitiveTypes.Float32), []any{}, f32(), ""},
		{"null item", arrow.ListOf(arrow.PrimitiveTypes.Float64), []any{1.0, nil}, nil, "item 1 is null"},
		{"overflow", arrow.ListOf(arrow.PrimitiveTypes.Float64), []any{1e39}, nil, "item 0 is out of range"},
		{"int items", arrow.ListOf(arrow.PrimitiveTypes.Int64), []any{int64(1)}, nil, "cannot be stored"},
		{"not a list", arrow.PrimitiveTypes.Float64, nil, nil, "cannot be stored"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := oneColumn(t, c.dt, func(b array.Builder) { appendValue(t, b, c.value) })
			got, err := encodeCol(t, vectorCol, rec, 0)
			expect(t, got, err, c.want, c.wantErr)
		})
	}
}
