package pgcopy

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

func init() {
	registerRecv("vector_recv", codec{binary: vectorField, text: vectorText}) // pgvector, whose OID varies
}

// vectorField encodes pgvector's vector from a list of floats: int16
// dimensions, int16 unused, then float4 values, each rounded as the
// extension's strtof reads str(f).
func vectorField(_ Target, a arrow.Array) (field, error) {
	list, ok := a.(array.ListLike)
	if !ok {
		return nil, unsupported(a)
	}
	items := list.ListValues()
	get, _ := floats(items)
	if get == nil {
		return nil, unsupported(a)
	}
	var text []byte
	return func(dst []byte, i int) ([]byte, error) {
		start, end := list.ValueOffsets(i)
		n := int(end - start)
		if n > math.MaxInt16 {
			return dst, fmt.Errorf("has %d dimensions, more than a vector holds", n)
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(4+4*n))
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
		dst = binary.BigEndian.AppendUint16(dst, 0)
		for k := int(start); k < int(end); k++ {
			if items.IsNull(k) {
				return dst, fmt.Errorf("item %d is null, which a vector cannot hold", k-int(start))
			}
			f, ok := pyFloat32(&text, get(k)) // exact for float32 and float16 items
			if !ok {
				return dst, fmt.Errorf("item %d is out of range for a vector", k-int(start))
			}
			dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(f))
		}
		return dst, nil
	}, nil
}

// vectorText writes a vector as str(list) writes it, which is pgvector's
// input.
func vectorText(col Target, a arrow.Array) (text, error) {
	if list, ok := a.(array.ListLike); ok {
		return listText(col, list, '[', ']', false)
	}
	return nil, nil
}
