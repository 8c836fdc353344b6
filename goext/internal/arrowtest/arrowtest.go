// Package arrowtest builds Arrow arrays from Go values for tests: one
// place that knows how each builder takes a value.
package arrowtest

import (
	"fmt"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/decimal256"
	"github.com/apache/arrow/go/v15/arrow/float16"
)

// Append appends v (nil for NULL) to b. Integers may be int or int64;
// dates and timestamps a time.Time or their raw int64; times and
// durations a time.Duration (microseconds) or their raw int64; lists a
// []any or a []float32.
func Append(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(integer(v))
	case *array.Int32Builder:
		b.Append(int32(integer(v)))
	case *array.Int16Builder:
		b.Append(int16(integer(v)))
	case *array.Int8Builder:
		b.Append(int8(integer(v)))
	case *array.Uint8Builder:
		b.Append(uint8(v.(uint64)))
	case *array.Uint16Builder:
		b.Append(uint16(v.(uint64)))
	case *array.Uint32Builder:
		b.Append(uint32(v.(uint64)))
	case *array.Uint64Builder:
		b.Append(v.(uint64))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.Float32Builder:
		b.Append(v.(float32))
	case *array.Float16Builder:
		b.Append(float16.New(v.(float32)))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.LargeStringBuilder:
		b.Append(v.(string))
	case *array.StringViewBuilder:
		b.Append(v.(string))
	case *array.BinaryViewBuilder:
		b.Append(v.([]byte))
	case *array.BinaryBuilder:
		b.Append(v.([]byte))
	case *array.FixedSizeBinaryBuilder:
		b.Append(v.([]byte))
	case *array.Date32Builder:
		if t, ok := v.(time.Time); ok {
			b.Append(arrow.Date32FromTime(t))
		} else {
			b.Append(arrow.Date32(v.(int64)))
		}
	case *array.Date64Builder:
		b.Append(arrow.Date64(v.(int64)))
	case *array.TimestampBuilder:
		if t, ok := v.(time.Time); ok {
			b.Append(arrow.Timestamp(t.UnixMicro()))
		} else {
			b.Append(arrow.Timestamp(v.(int64)))
		}
	case *array.Time64Builder:
		b.Append(arrow.Time64(micros(v)))
	case *array.Time32Builder:
		b.Append(arrow.Time32(v.(int64)))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(micros(v)))
	case *array.Decimal128Builder:
		b.Append(v.(decimal128.Num))
	case *array.Decimal256Builder:
		b.Append(v.(decimal256.Num))
	case array.ListLikeBuilder:
		return appendList(b, v)
	default:
		return fmt.Errorf("arrowtest: no way to append %T to %T", v, b)
	}
	return nil
}

func appendList(b array.ListLikeBuilder, v any) error {
	items, ok := v.([]any)
	if !ok {
		for _, f := range v.([]float32) {
			items = append(items, f)
		}
	}
	if fb, ok := b.(*array.FixedSizeListBuilder); ok {
		fb.Append(true)
	} else {
		b.(array.VarLenListLikeBuilder).AppendWithSize(true, len(items))
	}
	for _, item := range items {
		if err := Append(b.ValueBuilder(), item); err != nil {
			return err
		}
	}
	return nil
}

func integer(v any) int64 {
	if i, ok := v.(int); ok {
		return int64(i)
	}
	return v.(int64)
}

func micros(v any) int64 {
	if d, ok := v.(time.Duration); ok {
		return d.Microseconds()
	}
	return v.(int64)
}
