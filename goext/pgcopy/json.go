package pgcopy

import "github.com/apache/arrow/go/v15/arrow"

const (
	OIDJSON  = 114
	OIDJSONB = 3802
)

func init() {
	// JSON is text to the server; JSONB is text after a version byte.
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return textField(a, nil) }}, OIDJSON)
	registerOIDs(codec{binary: func(_ Target, a arrow.Array) (field, error) { return textField(a, []byte{1}) }}, OIDJSONB)
}
