package pgcopy

import (
	"bytes"
	"errors"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// TestEncoder frames records' rows: a header before the first, a trailer
// after the last, for binary; text COPY has neither.
func TestEncoder(t *testing.T) {
	ints := oneColumn(t, arrow.PrimitiveTypes.Int64, func(b array.Builder) { appendValue(t, b, int64(7)) })
	strings := oneColumn(t, arrow.BinaryTypes.String, func(b array.Builder) { appendValue(t, b, "a") })
	dates := oneColumn(t, arrow.FixedWidthTypes.Date32, func(b array.Builder) { appendValue(t, b, int64(0)) })
	cols := []Target{{Name: "c", OID: OIDInt8}}
	bin, err := Prepare(cols, ints)
	if err != nil || bin.Format() != Binary {
		t.Fatalf("ints: %v, %v", bin, err)
	}
	txt, err := Prepare(cols, strings) // text the server reads
	if err != nil || txt.Format() != Text {
		t.Fatalf("strings: %v, %v", txt, err)
	}
	if _, err := Prepare(cols, dates); err == nil {
		t.Fatal("dates into an integer column: no error")
	}

	e := NewEncoder(Binary)
	out, err := e.Append(nil, bin)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = e.Append(out, bin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(out, txt); !errors.Is(err, errFormatMix) {
		t.Fatalf("text rows in binary COPY: %v", err)
	}
	out = e.End(out)
	tuple := []byte{0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7}
	want := append(append(append(append([]byte{}, header...), tuple...), tuple...), trailer...)
	if !bytes.Equal(out, want) {
		t.Fatalf("got  %x\nwant %x", out, want)
	}
	if got := e.End(nil); len(got) != 0 {
		t.Fatalf("ended twice: %x", got)
	}
	if _, err := e.Append(nil, bin); !errors.Is(err, errEnded) {
		t.Fatalf("rows after the end: %v", err)
	}
	if got := NewEncoder(Binary).End(nil); !bytes.Equal(got, append(append([]byte{}, header...), trailer...)) {
		t.Fatalf("no rows: %x", got)
	}

	e = NewEncoder(Text)
	out, err = e.Append(nil, txt)
	if out = e.End(out); err != nil || string(out) != "a\n" {
		t.Fatalf("text: %q, %v", out, err)
	}
}
