package pgcopy

// Readers of Arrow arrays as the values of a column type, whatever the
// array's layout. The binary and the text encoders read values through the
// same reader, so that a chunk stores the same values in either format.

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// errTextOnly marks an Arrow type that a column takes only through text
// COPY, whose text the server reads as it reads upstream's.
var errTextOnly = errors.New("the server reads these values from their text")

func textOnly(reason string) error { return fmt.Errorf("%s: %w", reason, errTextOnly) }

// errNull is a text encoder's answer for a null it finds itself: a null of
// a dictionary's values, or a row of an array of Arrow type null.
var errNull = errors.New("null")

// strs reads an Arrow string array of any layout. (Closures rather than
// method values, which the compiler does not inline Value into.)
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

// intSize is the size in bytes of an integer column type, 0 for others.
func intSize(oid uint32) int {
	switch oid {
	case OIDInt2:
		return 2
	case OIDInt4:
		return 4
	case OIDInt8:
		return 8
	}
	return 0
}

// integers reads a for an integer column of size bytes: Arrow integers,
// and floats and decimals truncated toward zero, as Python's int() does
// (upstream sends str(int(v))). A value out of the column's range, or
// NaN, is an error.
func integers(a arrow.Array, size int) func(i int) (int64, error) {
	hi := int64(math.MaxInt64 >> (64 - 8*size))
	errRange := fmt.Errorf("out of range for a %d-byte integer", size)
	check := func(v int64, ok bool) (int64, error) {
		if !ok || v < -hi-1 || v > hi {
			return 0, errRange
		}
		return v, nil
	}
	if get := ints(a); get != nil {
		return func(i int) (int64, error) {
			v, ok := get(i)
			if !ok || v < -hi-1 || v > hi { // check's, inline: the common case
				return 0, errRange
			}
			return v, nil
		}
	}
	if get, _ := floats(a); get != nil {
		return func(i int) (int64, error) {
			f := math.Trunc(get(i))
			if math.IsNaN(f) {
				return 0, fmt.Errorf("NaN is not an integer")
			}
			return check(int64(f), f >= -0x1p63 && f < 0x1p63)
		}
	}
	if get, scale := decimals(a); get != nil {
		pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(scale))), nil)
		var v big.Int
		return func(i int) (int64, error) {
			if scale >= 0 {
				v.Quo(get(i), pow) // toward zero
			} else {
				v.Mul(get(i), pow)
			}
			return check(v.Int64(), v.IsInt64())
		}
	}
	return nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// floatsFor reads a for a REAL (single) or DOUBLE PRECISION column: the
// value the server reads from upstream's text of each value, which for a
// REAL is a float32 held in the float64. Integers round once; float32s
// are their shortest digits; decimals are read from their text. A value
// beyond the type's range, or a nonzero one that would round to zero, is
// an error, as the server refuses it.
func floatsFor(a arrow.Array, single bool) func(i int) (float64, error) {
	bits, errRange := 64, fmt.Errorf("out of range for DOUBLE PRECISION")
	if single {
		bits, errRange = 32, fmt.Errorf("out of range for REAL")
	}
	var text []byte
	if get := ints(a); get != nil {
		return func(i int) (float64, error) {
			v, ok := get(i)
			switch {
			case !ok: // a uint64 beyond int64
				if single {
					return float64(float32(uint64(v))), nil
				}
				return float64(uint64(v)), nil
			case single:
				return float64(float32(v)), nil // one rounding, as the server's reading of str(v)
			}
			return float64(v), nil
		}
	}
	if get, own := floats(a); get != nil {
		return func(i int) (float64, error) {
			f := get(i)
			switch {
			case own == bits || math.IsNaN(f) || math.IsInf(f, 0):
				return f, nil
			case single: // a float64 into REAL
				f32, ok := pyFloat32(&text, f)
				if !ok || f32 == 0 && f != 0 { // the server refuses overflow and underflow to zero
					return 0, errRange
				}
				return float64(f32), nil
			}
			// A float32 into DOUBLE PRECISION: its own shortest digits.
			text = appendShortFloat(text[:0], f, own)
			return parseFloat(text, bits, f != 0, errRange)
		}
	}
	if get, scale := decimals(a); get != nil {
		return func(i int) (float64, error) {
			v := get(i)
			text = appendPyDecimal(text[:0], v, scale)
			return parseFloat(text, bits, v.Sign() != 0, errRange)
		}
	}
	return nil
}

// parseFloat reads text as the server's float4in or float8in does,
// refusing overflow and a nonzero value's underflow to zero.
func parseFloat(text []byte, bits int, nonzero bool, errRange error) (float64, error) {
	f, _ := strconv.ParseFloat(string(text), bits)
	if math.IsInf(f, 0) || (f == 0 && nonzero) {
		return 0, errRange
	}
	return f, nil
}

// pyFloat32 rounds f to float32 as a strtof reads str(f), the text
// upstream sends: rounding f itself would round twice, and differ next to
// the midpoints between float32s. It fails on overflow; text keeps the
// digits between calls.
func pyFloat32(text *[]byte, f float64) (float32, bool) {
	f32 := float32(f)
	if float64(f32) == f || math.IsNaN(f) {
		return f32, true
	}
	*text = appendPyFloat((*text)[:0], f)
	v, _ := strconv.ParseFloat(string(*text), 32)
	return float32(v), !math.IsInf(v, 0)
}
