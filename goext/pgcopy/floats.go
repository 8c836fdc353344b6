package pgcopy

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
)

const (
	OIDFloat4 = 700
	OIDFloat8 = 701
)

func init() {
	registerOIDs(floatCodec(true), OIDFloat4)
	registerOIDs(floatCodec(false), OIDFloat8)
}

// floatCodec encodes REAL (single) or DOUBLE PRECISION.
func floatCodec(single bool) codec {
	bits := 64
	if single {
		bits = 32
	}
	return codec{
		binary: func(_ Target, a arrow.Array) (field, error) { return floatField(a, single) },
		text: func(_ Target, a arrow.Array) (text, error) {
			if get := floatsFor(a, single); get != nil {
				return floatText(get, bits), nil
			}
			return nil, nil
		},
	}
}

func floatField(a arrow.Array, single bool) (field, error) {
	get := floatsFor(a, single)
	if get == nil {
		return nil, unsupported(a)
	}
	if single {
		return func(dst []byte, i int) ([]byte, error) {
			f, err := get(i)
			if err != nil {
				return dst, err
			}
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, 4), math.Float32bits(float32(f))), nil
		}, nil
	}
	return func(dst []byte, i int) ([]byte, error) {
		f, err := get(i)
		if err != nil {
			return dst, err
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), math.Float64bits(f)), nil
	}, nil
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

// floatText writes Python's repr, with the server's spelling of NaN and
// the infinities; float32 values keep their own shortest digits.
func floatText(get func(i int) (float64, error), bits int) text {
	return func(dst []byte, i int) ([]byte, error) {
		f, err := get(i)
		switch {
		case err != nil:
			return dst, err
		case math.IsNaN(f):
			return append(dst, "NaN"...), nil
		case math.IsInf(f, 1):
			return append(dst, "Infinity"...), nil
		case math.IsInf(f, -1):
			return append(dst, "-Infinity"...), nil
		default:
			return appendShortFloat(dst, f, bits), nil
		}
	}
}

// appendPyFloat appends Python's repr of a finite f: the shortest digits
// that read back as f, in positional notation with at least one decimal
// when the decimal exponent is in [-4, 16), else as d.ddde±XX.
func appendPyFloat(dst []byte, f float64) []byte { return appendShortFloat(dst, f, 64) }

// appendShortFloat is appendPyFloat with the shortest digits that read
// back as the same float of bits 32 or 64.
func appendShortFloat(dst []byte, f float64, bits int) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, bits)
	e := strings.LastIndexByte(string(dst[start:]), 'e')
	exp, _ := strconv.Atoi(string(dst[start+e+1:]))
	if exp < -4 || exp >= 16 {
		return dst
	}
	dst = strconv.AppendFloat(dst[:start], f, 'f', -1, bits)
	if strings.IndexByte(string(dst[start:]), '.') < 0 {
		dst = append(dst, ".0"...)
	}
	return dst
}
