package pgcopy

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

func FuzzInet(f *testing.F) {
	s := newServer(f)
	for _, seed := range []string{"192.168.0.1", "192.168.0.1/24", "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32", "::1",
		"::", "2001:db8::1/64", "2001:db8::/32", "::ffff:1.2.3.4", "::ffff:1.2.3.4/120", "::1.2.3.4", "FE80::1", "fe80::1%eth0",
		"10", "10/8", "192.168", "300.1.1.1", "1.2.3.4/33", "1.2.3.4/08", "01.2.3.4", " 1.2.3.4", "1.2.3.4/", "/24", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
			return // not a Python str the server could receive
		}
		for _, c := range []Target{col(OIDInet, "inet"), col(OIDCIDR, "cidr")} {
			field, encErr := appendInet(nil, text, c.OID == OIDCIDR)
			if encErr != nil {
				continue // sent as text: the server reads it, or refuses it, itself
			}
			want, parseErr := s.parse(t, c.Type, text)
			s.check(t, fmt.Sprintf("%s %q", c.Type, text), c.OID, field, encErr, want, parseErr)
		}
	})
}

// TestInetLeftToTheServer sends text the encoder does not read exactly as
// the server does, and values other than text, as text COPY.
func TestInetLeftToTheServer(t *testing.T) {
	for _, c := range []struct {
		col  Target
		dt   arrow.DataType
		v    any
		text string
	}{
		{col(OIDInet, "inet"), arrow.BinaryTypes.String, "10/8", "10/8\n"},
		{col(OIDCIDR, "cidr"), arrow.BinaryTypes.String, "10.0.0.1/8", "10.0.0.1/8\n"},
		{col(OIDCIDR, "cidr"), arrow.BinaryTypes.String, "10.0.0.0", "10.0.0.0\n"},
		{col(OIDInet, "inet"), arrow.PrimitiveTypes.Int64, int64(1), "1\n"},
	} {
		rec := oneColumn(t, c.dt, func(b array.Builder) { appendValue(t, b, c.v) })
		rows, err := Prepare([]Target{c.col}, rec)
		if err != nil || rows.Format() != Text {
			t.Fatalf("%s %v: %v, %v", c.col.Type, c.v, rows, err)
		}
		if line, err := textOne(t, c.col, rec, 0); err != nil || line != c.text {
			t.Fatalf("%s %v: %q, %v", c.col.Type, c.v, line, err)
		}
	}
}
