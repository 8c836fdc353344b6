package pgcopy

import (
	"encoding/binary"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

const (
	OIDText    = 25
	OIDBPChar  = 1042
	OIDVarchar = 1043
)

func init() {
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return textField(a, nil) }},
		OIDText, OIDVarchar, OIDBPChar)
}

// textField writes UTF-8 text after a prefix (the jsonb version byte).
func textField(a arrow.Array, prefix []byte) (field, error) {
	if v, ok := a.(*array.String); ok { // the tuple path's text, without a reader's call
		return func(dst []byte, i int) ([]byte, error) { return appendText(dst, prefix, v.Value(i)) }, nil
	}
	get := strs(a)
	if get == nil {
		return nil, unsupported(a)
	}
	return func(dst []byte, i int) ([]byte, error) { return appendText(dst, prefix, get(i)) }, nil
}

func appendText(dst, prefix []byte, s string) ([]byte, error) {
	if k := strings.IndexByte(s, 0); k >= 0 {
		return dst, nulError(k)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(prefix)+len(s)))
	return append(append(dst, prefix...), s...), nil
}
