package pgcopy

import (
	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

func init() {
	// Arrays, whose OIDs are their item types': lists go as text.
	registerRecv("array_recv", codec{binary: func(_ Target, a arrow.Array) (field, error) {
		if _, ok := a.(array.ListLike); !ok {
			return nil, unsupported(a)
		}
		return nil, textOnly("no binary encoder for this type")
	}})
}

// arrayText writes a one-dimensional array literal as upstream does:
// every item quoted, NULL items bare; nested lists are sub-arrays.
func arrayText(col Target, a array.ListLike) (text, error) {
	_, nested := a.ListValues().(array.ListLike)
	return listText(col, a, '{', '}', !nested)
}

// listText writes a list between left and right, items separated by
// commas, NULL items bare and others quoted as array items if quote.
func listText(col Target, a array.ListLike, left, right byte, quote bool) (text, error) {
	items := a.ListValues()
	item, err := valueText(col, items)
	if err != nil {
		return nil, err
	}
	var scratch []byte
	return func(dst []byte, i int) ([]byte, error) {
		start, end := a.ValueOffsets(i)
		dst = append(dst, left)
		for k := int(start); k < int(end); k++ {
			if k > int(start) {
				dst = append(dst, ',')
			}
			var err error
			switch {
			case items.IsNull(k):
				dst = append(dst, "NULL"...)
			case quote:
				if scratch, err = item(scratch[:0], k); err == nil {
					dst = appendArrayQuoted(dst, scratch)
				}
			default:
				dst, err = item(dst, k)
			}
			if err == errNull {
				dst, err = append(dst, "NULL"...), nil
			}
			if err != nil {
				return dst, err
			}
		}
		return append(dst, right), nil
	}, nil
}

// appendArrayQuoted appends s quoted as an array item.
func appendArrayQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
