package pyjson

import (
	"encoding/json"
	"testing"
)

// The wanted texts are what Python 3.11 prints for json.dumps(json.loads(in)).
func TestDumpsAsPython(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"pg-bulk-ingest":{"high-watermark":3}}`, `{"pg-bulk-ingest": {"high-watermark": 3}}`},
		{`{"owner":"team-x","pg-bulk-ingest":{"x":1,"high-watermark":"2015-01-01"},"nested":{"a":[1,2.5,null,true,false]}}`,
			`{"owner": "team-x", "pg-bulk-ingest": {"x": 1, "high-watermark": "2015-01-01"}, "nested": {"a": [1, 2.5, null, true, false]}}`},
		{`{"s":"caf\u00e9 \ud83d\ude00 \"q\" \\ / \n\r\t\b\f \u0001 \u007f \u2028"}`,
			`{"s": "caf\u00e9 \ud83d\ude00 \"q\" \\ / \n\r\t\b\f \u0001 \u007f \u2028"}`},
		{`{"s":"café 😀 ~"}`, `{"s": "caf\u00e9 \ud83d\ude00 ~"}`},
		{`{"b":1,"a":2,"b":3}`, `{"b": 3, "a": 2}`},
		{`[]`, `[]`},
		{`{}`, `{}`},
		{`[1, 2.5, -0.0, 12345678901234567890, 1.5e-07]`, `[1, 2.5, -0.0, 12345678901234567890, 1.5e-07]`},
	} {
		v, err := Parse([]byte(c.in))
		if err != nil {
			t.Fatalf("Parse(%s): %v", c.in, err)
		}
		got, err := Dumps(v)
		if err != nil || got != c.want {
			t.Errorf("Dumps(Parse(%s)) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestSetKeepsPlaceOrAppends(t *testing.T) {
	v, err := Parse([]byte(`{"a":1,"pg-bulk-ingest":{"high-watermark":1,"z":0},"b":2}`))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	ours, _ := o.Get("pg-bulk-ingest")
	ours.(*Object).Set("high-watermark", json.RawMessage(`{"day":"2024-01-02"}`))
	o.Set("c", nil)
	got, err := Dumps(o)
	want := `{"a": 1, "pg-bulk-ingest": {"high-watermark": {"day": "2024-01-02"}, "z": 0}, "b": 2, "c": null}`
	if err != nil || got != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

func TestParseRefusesBadDocuments(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a":1} x`, `[1,]`, `nope`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

// FuzzRoundTrip checks that what Dumps writes reads back as the document
// it came from.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{`{"a":[1,"é",null],"b":{"c":true}}`, `"\u0000\ud83d\ude00"`, `[-1.5e300]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := Parse([]byte(in))
		if err != nil {
			return
		}
		out, err := Dumps(v)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if json.Unmarshal([]byte(in), &a) != nil {
			return // nothing to compare with
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil {
			t.Fatalf("Dumps wrote %q, which does not parse: %v", out, err)
		}
		if ja, _ := json.Marshal(a); string(ja) != mustMarshal(t, b) {
			t.Fatalf("%q became %q", in, out)
		}
	})
}

func mustMarshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
