package pgcopy

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

const (
	OIDInt8 = 20
	OIDInt2 = 21
	OIDInt4 = 23
)

func init() {
	registerOIDs(intCodec(2), OIDInt2)
	registerOIDs(intCodec(4), OIDInt4)
	registerOIDs(intCodec(8), OIDInt8)
}

// intCodec encodes an integer type of size bytes.
func intCodec(size int) codec {
	return codec{
		binary: func(_ Target, a arrow.Array) (field, error) { return intField(a, size) },
		text: func(_ Target, a arrow.Array) (text, error) {
			get := integers(a, size)
			if get == nil {
				return nil, nil
			}
			return func(dst []byte, i int) ([]byte, error) {
				v, err := get(i)
				return strconv.AppendInt(dst, v, 10), err
			}, nil
		},
	}
}

func intField(a arrow.Array, size int) (field, error) {
	if v, ok := a.(*array.Int64); ok { // the tuple path's integers, without a reader's call
		hi := int64(math.MaxInt64 >> (64 - 8*size))
		return func(dst []byte, i int) ([]byte, error) {
			if v := v.Value(i); v >= -hi-1 && v <= hi {
				return appendInt(dst, size, v), nil
			}
			_, err := integers(a, size)(i) // the error
			return dst, err
		}, nil
	}
	get := integers(a, size)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		v, err := get(i)
		if err != nil {
			return dst, err
		}
		return appendInt(dst, size, v), nil
	}, nil
}

// appendInt appends v as an integer field of size bytes.
func appendInt(dst []byte, size int, v int64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	switch size {
	case 2:
		return binary.BigEndian.AppendUint16(dst, uint16(v))
	case 4:
		return binary.BigEndian.AppendUint32(dst, uint32(v))
	}
	return binary.BigEndian.AppendUint64(dst, uint64(v))
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
