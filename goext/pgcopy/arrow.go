package pgcopy

// Readers of Arrow arrays of any layout that several type families'
// readers build on (one family's own readers are in its file): the
// binary and the text encoders of a type read values through the same
// reader, so that a chunk stores the same values in either format.
// (Closures rather than method values, which the compiler does not
// inline Value into.)

import (
	"math"
	"math/big"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// strs reads an Arrow string array of any layout.
func strs(a arrow.Array) func(i int) string {
	switch a := a.(type) {
	case *array.String:
		return func(i int) string { return a.Value(i) }
	case *array.LargeString:
		return func(i int) string { return a.Value(i) }
	case *array.StringView:
		return func(i int) string { return a.Value(i) }
	}
	return nil
}

// byteStrings reads an Arrow binary array of any layout.
func byteStrings(a arrow.Array) func(i int) []byte {
	switch a := a.(type) {
	case *array.Binary:
		return func(i int) []byte { return a.Value(i) }
	case *array.LargeBinary:
		return func(i int) []byte { return a.Value(i) }
	case *array.BinaryView:
		return func(i int) []byte { return a.Value(i) }
	case *array.FixedSizeBinary:
		return func(i int) []byte { return a.Value(i) }
	}
	return nil
}

// ints reads any Arrow integer array as int64; false for a uint64 beyond
// int64, whose bits it returns.
func ints(a arrow.Array) func(i int) (int64, bool) {
	switch a := a.(type) {
	case *array.Int64:
		return func(i int) (int64, bool) { return a.Value(i), true }
	case *array.Int32:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Int16:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Int8:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint8:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint16:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint32:
		return func(i int) (int64, bool) { return int64(a.Value(i)), true }
	case *array.Uint64:
		return func(i int) (int64, bool) { v := a.Value(i); return int64(v), v <= math.MaxInt64 }
	}
	return nil
}

// floats reads an Arrow floating-point array as float64, with the width
// whose shortest digits are a value's own text: 32 for float32 and
// float16 (widened exactly; numpy's str() of a float32 is its shortest
// float32 digits, which upstream sends), 64 for float64.
func floats(a arrow.Array) (func(i int) float64, int) {
	switch a := a.(type) {
	case *array.Float64:
		return a.Value, 64
	case *array.Float32:
		return func(i int) float64 { return float64(a.Value(i)) }, 32
	case *array.Float16:
		return func(i int) float64 { return float64(a.Value(i).Float32()) }, 32
	}
	return nil, 0
}

// decimals reads an Arrow decimal array as unscaled integers, and its scale.
func decimals(a arrow.Array) (func(i int) *big.Int, int) {
	switch a := a.(type) {
	case *array.Decimal128:
		return func(i int) *big.Int { return a.Value(i).BigInt() }, int(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Decimal256:
		return func(i int) *big.Int { return a.Value(i).BigInt() }, int(a.DataType().(*arrow.Decimal256Type).Scale)
	}
	return nil, 0
}
