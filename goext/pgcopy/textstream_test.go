package pgcopy

import (
	"bytes"
	"errors"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// TestTextStream reads back a stream of two records: each value's text
// unescaped, nulls null, in columns c1, c2, and one schema for both.
func TestTextStream(t *testing.T) {
	cols := []Target{col(OIDInt4, "integer"), textCol}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	record := func(ids []int32, ss []string, valid []bool) *Record {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		b.Field(0).(*array.Int32Builder).AppendValues(ids, valid)
		b.Field(1).(*array.StringBuilder).AppendValues(ss, valid)
		rec, err := PrepareText(cols, b.NewRecord())
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	s := NewTextStream(len(cols))
	var out []byte
	var err error
	for _, rec := range []*Record{
		record([]int32{1, 0}, []string{"tab\tnew\nline\\", ""}, []bool{true, false}),
		record([]int32{-7}, []string{""}, nil),
	} {
		if out, err = s.Append(out, rec); err != nil {
			t.Fatal(err)
		}
	}
	out = s.End(out)
	if again := s.End(out); len(again) != len(out) {
		t.Errorf("ending again appended %d bytes", len(again)-len(out))
	}
	r, err := ipc.NewReader(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if got := r.Schema().String(); got != "schema:\n  fields: 2\n    - c1: type=utf8, nullable\n    - c2: type=utf8, nullable" {
		t.Errorf("schema %s", got)
	}
	var got []string
	for r.Next() {
		for c := 0; c < 2; c++ {
			a := r.Record().Column(c).(*array.String)
			for i := 0; i < a.Len(); i++ {
				got = append(got, ValueText(a, i))
			}
		}
	}
	want := []string{`"1"`, "NULL", `"tab\tnew\nline\\"`, "NULL", `"-7"`, `""`}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// TestTextStreamRefusesNUL: PostgreSQL text holds no NUL, as in text COPY.
func TestTextStreamRefusesNUL(t *testing.T) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	b.AppendValues([]string{"ok", "a\x00b"}, nil)
	a := b.NewArray()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	rec, err := PrepareText([]Target{textCol}, array.NewRecord(schema, []arrow.Array{a}, 2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewTextStream(1).Append(nil, rec)
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Row != 1 || ve.Column != "c" {
		t.Errorf("got %v", err)
	}
}
