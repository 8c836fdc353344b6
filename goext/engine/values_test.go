package engine_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

var date32 = arrow.FixedWidthTypes.Date32

// TestTextPath stores text for columns without a binary encoder for it,
// as the server reads that text.
func TestTextPath(t *testing.T) {
	e := newEnv(t)
	e.exec(pgsql.CreateSchema(e.schema))
	mood, pos := pgsql.Qualified(e.schema, "mood"), pgsql.Qualified(e.schema, "pos")
	e.exec("CREATE TYPE " + mood + " AS ENUM ('sad', 'happy')")
	e.exec("CREATE DOMAIN " + pos + " AS integer CHECK (VALUE > 0)")
	cols := []struct{ name, typ, a, b string }{
		{"d", "DATE", "2024-02-29", "4 July 1776"},
		{"ts", "TIMESTAMP", "2024-02-29 13:14:15.5", "epoch"},
		{"tz", "TIMESTAMPTZ", "2024-01-01 12:00:00+01:00", "2024-01-01 12:00:00"},
		{"b", "BOOLEAN", "yes", "f"},
		{"u", "UUID", "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", "a0eebc999c0b4ef8bb6d6bb9bd380a12"},
		{"ip", "INET", "192.168.0.1/24", "::1"},
		{"iv", "INTERVAL", "-1 day, 1:00:00", "1 day, 0:00:00.000001"},
		{"e", mood, "happy", "sad"},
		{"dm", pos, "42", "1"},
		{"m", "MONEY", "$1,000.50", "12.3"},
		{"n", "INTEGER", "7", " -3 "},
		{"arr", "INTEGER[]", `{"1",NULL,"3"}`, "{}"},
		{"t", "TEXT", "tab\there\nnew line \\ backslash", `\N`},
	}
	if _, err := e.check.Exec(e.ctx, "SELECT '<a/>'::xml"); err == nil {
		cols = append(cols, struct{ name, typ, a, b string }{"x", "XML", "<a>x &amp; y</a>", "text"})
	} else {
		t.Logf("no XML column: %v", err)
	}
	tbl := spec.Table{Schema: e.schema, Name: "text_path", Columns: []spec.Column{{Name: "id", Type: "INTEGER"}}}
	types := []arrow.DataType{i64}
	rowA, rowB, rowNull := []any{1}, []any{2}, []any{3}
	names := []string{"id"}
	for _, c := range cols {
		tbl.Columns = append(tbl.Columns, spec.Column{Name: c.name, Type: c.typ, Nullable: true})
		types = append(types, str)
		rowA, rowB, rowNull = append(rowA, c.a), append(rowB, c.b), append(rowNull, nil)
		names = append(names, c.name)
	}
	_, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types},
		batch{hwm: 1, chunks: []chunk{{0, [][]any{rowA, rowB, rowNull}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1"}, {"2"}, {"3"}}
	for _, c := range cols {
		for r, text := range []string{c.a, c.b} {
			var v string
			if err := e.check.QueryRow(e.ctx, "SELECT $1::text::"+c.typ+"::text", text).Scan(&v); err != nil {
				t.Fatalf("%s %q: %v", c.typ, text, err)
			}
			want[r] = append(want[r], v)
		}
		want[2] = append(want[2], "<nil>")
	}
	if got := e.rows("text_path", names, "id"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n got %q\nwant %q", got, want)
	}
}

// TestNewBinaryEncoders stores uuid, time, interval and vector values
// from their natural Arrow types.
func TestNewBinaryEncoders(t *testing.T) {
	e := newEnv(t)
	pgtest.Extension(t, e.check, "vector")
	tbl := spec.Table{Schema: e.schema, Name: "bin", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER"}, {Name: "u", Type: "UUID", Nullable: true}, {Name: "tm", Type: "TIME", Nullable: true},
		{Name: "iv", Type: "INTERVAL", Nullable: true}, {Name: "vec", Type: "VECTOR(3)", Nullable: true},
	}}
	types := []arrow.DataType{i64, &arrow.FixedSizeBinaryType{ByteWidth: 16}, arrow.FixedWidthTypes.Time64us,
		arrow.FixedWidthTypes.Duration_us, arrow.ListOf(arrow.PrimitiveTypes.Float32)}
	u := []byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	_, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{types}, batch{hwm: 1, chunks: []chunk{{0, [][]any{
		{1, u, 13*time.Hour + 14*time.Minute + 15123456*time.Microsecond, -23 * time.Hour, []float32{1, 0.5, -2}},
		{2, nil, nil, nil, nil},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "13:14:15.123456", "-1 days +01:00:00", "[1,0.5,-2]"},
		{"2", "<nil>", "<nil>", "<nil>", "<nil>"}}
	if got := e.rows("bin", []string{"id", "u", "tm", "iv", "vec"}, "id"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n got %q\nwant %q", got, want)
	}
}

// TestMixedFormats switches between binary and text COPYs of one table
// within a batch, keeping the rows' order.
func TestMixedFormats(t *testing.T) {
	e := newEnv(t)
	seq := spec.Table{Schema: e.schema, Name: "seq", Columns: []spec.Column{
		{Name: "id", Type: "BIGINT"}, {Name: "d", Type: "DATE", Nullable: true}, {Name: "v", Type: "TEXT", Nullable: true}}}
	keyed := spec.Table{Schema: e.schema, Name: "keyed", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true}, {Name: "d", Type: "DATE", Nullable: true}}}
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	bin, txt := []arrow.DataType{i64, date32, str}, []arrow.DataType{i64, str, str}
	_, _, err := e.ingest([]spec.Table{seq, keyed}, spec.Options{}, [][]arrow.DataType{bin, {i64, date32}},
		batch{hwm: 1, chunkTypes: map[int][]arrow.DataType{1: txt, 4: txt, 5: txt, 7: {i64, str}, 9: {i64, str}}, chunks: []chunk{
			{0, [][]any{{1, day, "a"}, {2, nil, "b"}}},
			{0, [][]any{{3, "2024-01-03", "c\td"}, {4, nil, nil}}},
			{0, [][]any{{5, day, "e"}}},
			{1, [][]any{{1, day}}},
			{0, [][]any{{6, "infinity", "f"}}},
			{0, [][]any{{7, "2024-01-07", "g"}}},
			{0, [][]any{{8, day, "h"}}},
			{1, [][]any{{1, "2024-02-01"}, {2, "2024-02-02"}}},
			{1, [][]any{{2, day}}},
			{1, [][]any{{1, "2024-03-01"}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "2024-01-02", "a"}, {"2", "<nil>", "b"}, {"3", "2024-01-03", "c\td"}, {"4", "<nil>", "<nil>"},
		{"5", "2024-01-02", "e"}, {"6", "infinity", "f"}, {"7", "2024-01-07", "g"}, {"8", "2024-01-02", "h"}}
	if got := e.rows("seq", []string{"id", "d", "v"}, "ctid"); !reflect.DeepEqual(got, want) {
		t.Errorf("seq in insertion order\n got %q\nwant %q", got, want)
	}
	// The upsert keeps each key's last row, whatever its COPY's format.
	if got := e.rows("keyed", []string{"id", "d"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "2024-03-01"}, {"2", "2024-01-02"}}) {
		t.Errorf("keyed: %q", got)
	}
}

// TestServerRejects maps the server's refusal of a row back to the row,
// column and value sent.
func TestServerRejects(t *testing.T) {
	e := newEnv(t)
	tbl := spec.Table{Schema: e.schema, Name: "r", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true}, {Name: "v", Type: "VARCHAR(4)", Nullable: true}, {Name: "d", Type: "DATE", Nullable: true}}}
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	bin, txt := []arrow.DataType{i64, str, date32}, []arrow.DataType{i64, str, str}
	cases := []struct {
		name    string
		upsert  string
		types   map[int][]arrow.DataType
		chunks  []chunk
		code    string
		row     int
		column  string
		value   string
		message []string
	}{
		{"text COPY after a binary one", spec.UpsertIfPrimaryKey, map[int][]arrow.DataType{1: txt, 2: txt},
			[]chunk{{0, [][]any{{1, "ok", day}, {2, "fine", nil}}}, {0, [][]any{{3, "abc", "2024-01-01"}}}, {0, [][]any{{4, "xy", "not a date"}}}},
			"22007", 3, "d", `"not a date"`, []string{`table "` + e.schema + `"."r"`, `column "d" (date)`, "row 3", `value "not a date"`, "invalid input syntax for type date"}},
		{"binary COPY after a text one", spec.UpsertOff, map[int][]arrow.DataType{0: txt},
			[]chunk{{0, [][]any{{1, "ok", "2024-01-01"}, {2, "fine", nil}}}, {0, [][]any{{3, "abc", day}, {4, "toolong", nil}}}},
			"22001", 3, "v", `"toolong"`, []string{`column "v" (character varying(4))`, "row 3", `value "toolong"`, "value too long"}},
		{"duplicate key", spec.UpsertOff, nil,
			[]chunk{{0, [][]any{{1, "a", nil}, {2, "b", nil}, {1, "c", nil}}}},
			"23505", 2, "", "", []string{"row 2: ", "duplicate key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := e.ingest([]spec.Table{tbl}, spec.Options{Upsert: c.upsert}, [][]arrow.DataType{bin},
				batch{hwm: 1, chunkTypes: c.types, chunks: c.chunks})
			var pe *pgconn.PgError
			var ve *pgcopy.ValueError
			var be *engine.BatchError
			if !errors.As(err, &pe) || pe.Code != c.code || !errors.As(err, &ve) || !errors.As(err, &be) {
				t.Fatalf("got %v, want the server's %s located", err, c.code)
			}
			if ve.Row != c.row || ve.Column != c.column || ve.Value != c.value || be.Batch != 1 {
				t.Errorf("batch %d, row %d, column %q, value %s; want row %d, column %q, value %s", be.Batch, ve.Row, ve.Column, ve.Value, c.row, c.column, c.value)
			}
			for _, want := range c.message {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q lacks %q", err, want)
				}
			}
		})
	}
}
