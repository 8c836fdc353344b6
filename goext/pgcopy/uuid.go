package pgcopy

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

const (
	OIDUUID      = 2950
	OIDUUIDArray = 2951
)

func init() {
	registerOIDs(codec{binary: uuidField, text: uuidText}, OIDUUID)
	// UUID[] is an array (arrays.go) whose items have a UUID's text.
	registerOIDs(codec{text: uuidText}, OIDUUIDArray)
}

// uuids reads a UUID column's values: fixed_size_binary(16), or binary
// of any layout whose values must then be 16 bytes long.
func uuids(a arrow.Array) func(i int) ([]byte, error) {
	if f, ok := a.(*array.FixedSizeBinary); ok && f.DataType().(*arrow.FixedSizeBinaryType).ByteWidth != 16 {
		return nil
	}
	get := byteStrings(a)
	if get == nil {
		return nil
	}
	return func(i int) ([]byte, error) {
		b := get(i)
		if len(b) != 16 {
			return nil, fmt.Errorf("has %d bytes, a UUID has 16", len(b))
		}
		return b, nil
	}
}

func uuidField(_ Target, a arrow.Array) (field, error) {
	get := uuids(a)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) {
		u, err := get(i)
		if err != nil {
			return dst, err
		}
		return append(binary.BigEndian.AppendUint32(dst, 16), u...), nil
	}, nil
}

func uuidText(_ Target, a arrow.Array) (text, error) {
	get := uuids(a)
	if get == nil {
		return nil, nil
	}
	return func(dst []byte, i int) ([]byte, error) {
		u, err := get(i)
		if err != nil {
			return dst, err
		}
		return appendUUID(dst, u), nil
	}, nil
}

// appendUUID writes a UUID as Python's str(uuid.UUID) does.
func appendUUID(dst, u []byte) []byte {
	for k, part := range [][]byte{u[:4], u[4:6], u[6:8], u[8:10], u[10:]} {
		if k > 0 {
			dst = append(dst, '-')
		}
		dst = hex.AppendEncode(dst, part)
	}
	return dst
}
