package pgcopy

import (
	"encoding/binary"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

const OIDBool = 16

func init() {
	registerOIDs(codec{binary: boolField}, OIDBool)
}

func boolField(_ Target, a arrow.Array) (field, error) {
	b, ok := a.(*array.Boolean)
	if !ok {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		v := byte(0)
		if b.Value(i) {
			v = 1
		}
		return append(binary.BigEndian.AppendUint32(dst, 1), v), nil
	}, nil
}
