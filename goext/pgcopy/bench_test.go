package pgcopy

import (
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// benchRecord is rows of the common column types, as the tuple path
// sends them.
func benchRecord(b *testing.B, rows int) ([]Target, arrow.Record) {
	cols := []Target{
		{Name: "i", OID: OIDInt8}, {Name: "f", OID: OIDFloat8}, {Name: "s", OID: OIDText},
		{Name: "n", OID: OIDNumeric}, {Name: "ts", OID: OIDTimestamp}, {Name: "d", OID: OIDDate},
		{Name: "u", OID: OIDUUID},
	}
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String,
		&arrow.Decimal128Type{Precision: 20, Scale: 4}, &arrow.TimestampType{Unit: arrow.Microsecond},
		arrow.FixedWidthTypes.Date32, &arrow.FixedSizeBinaryType{ByteWidth: 16},
	}
	fields := make([]arrow.Field, len(types))
	for k, t := range types {
		fields[k] = arrow.Field{Name: cols[k].Name, Type: t, Nullable: true}
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer rb.Release()
	u := make([]byte, 16)
	for i := 0; i < rows; i++ {
		rb.Field(0).(*array.Int64Builder).Append(int64(i) * 7919)
		rb.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
		rb.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("row %d", i))
		rb.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 12345))
		rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1000003))
		rb.Field(5).(*array.Date32Builder).Append(arrow.Date32(i % 40000))
		u[0], u[15] = byte(i), byte(i>>8)
		rb.Field(6).(*array.FixedSizeBinaryBuilder).Append(u)
	}
	rec := rb.NewRecord()
	b.Cleanup(rec.Release)
	return cols, rec
}

func BenchmarkBinaryRows(b *testing.B) {
	cols, rec := benchRecord(b, 100000)
	benchRows(b, cols, rec, Binary)
}

// BenchmarkTextRows encodes the same values as text: a naive timestamp
// into a TIMESTAMP WITH TIME ZONE is read in the session's TimeZone, so
// the record goes as text COPY, where its text is a TIMESTAMP's.
func BenchmarkTextRows(b *testing.B) {
	cols, rec := benchRecord(b, 100000)
	cols[4].OID = OIDTimestamptz
	benchRows(b, cols, rec, Text)
}

// benchRows prepares and encodes rec's rows, as a chunk is.
func benchRows(b *testing.B, cols []Target, rec arrow.Record, format Format) {
	b.ResetTimer()
	var buf []byte
	for n := 0; n < b.N; n++ {
		r, err := Prepare(cols, rec)
		if err != nil {
			b.Fatal(err)
		}
		if r.Format() != format {
			b.Fatalf("prepared as format %d, want %d", r.Format(), format)
		}
		enc := NewEncoder(format)
		if buf, err = enc.Append(buf[:0], r); err != nil {
			b.Fatal(err)
		}
		buf = enc.End(buf)
	}
	b.SetBytes(int64(len(buf)))
}
