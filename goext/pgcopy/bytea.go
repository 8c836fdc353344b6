package pgcopy

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/apache/arrow/go/v15/arrow"
)

const OIDBytea = 17

func init() {
	registerOIDs(codec{binary: byteaField, text: byteaText}, OIDBytea)
}

// byteaField writes bytes, and text as its UTF-8 bytes.
func byteaField(_ Target, a arrow.Array) (field, error) {
	if get := byteStrings(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			b := get(i)
			return append(binary.BigEndian.AppendUint32(dst, uint32(len(b))), b...), nil
		}, nil
	}
	if get := strs(a); get != nil {
		return func(dst []byte, i int) ([]byte, error) {
			s := get(i)
			return append(binary.BigEndian.AppendUint32(dst, uint32(len(s))), s...), nil
		}, nil
	}
	return nil, unsupported(a)
}

// byteaText writes text as the hex input of its UTF-8 bytes; bytes have
// that text of their own (bytesText).
func byteaText(_ Target, a arrow.Array) (text, error) {
	get := strs(a)
	if get == nil {
		return nil, nil
	}
	return func(dst []byte, i int) ([]byte, error) {
		return hex.AppendEncode(append(dst, `\x`...), []byte(get(i))), nil
	}, nil
}

// bytesText writes bytea's hex input, as upstream's '\x' + v.hex().
func bytesText(get func(i int) []byte) text {
	return func(dst []byte, i int) ([]byte, error) {
		return hex.AppendEncode(append(dst, `\x`...), get(i)), nil
	}
}
