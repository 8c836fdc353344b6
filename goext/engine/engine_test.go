package engine_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgcopy"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

func TestCreate(t *testing.T) {
	e := newEnv(t)
	tbl := spec.Table{Schema: e.schema, Name: "all_types", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true},
		{Name: "id2", Type: "VARCHAR(16)", PrimaryKey: true},
		{Name: "small", Type: "SMALLINT", Nullable: true},
		{Name: "big", Type: "BIGINT", Nullable: false},
		{Name: "num", Type: "NUMERIC(10, 2)", Nullable: true},
		{Name: "num_any", Type: "NUMERIC", Nullable: true},
		{Name: "real", Type: "REAL", Nullable: true},
		{Name: "dbl", Type: "DOUBLE PRECISION", Nullable: true},
		{Name: "flag", Type: "BOOLEAN", Nullable: true},
		{Name: "txt", Type: "TEXT", Nullable: true, Unique: true},
		{Name: "ch", Type: "CHAR(3)", Nullable: true},
		{Name: "day", Type: "DATE", Nullable: true},
		{Name: "ts", Type: "TIMESTAMP WITHOUT TIME ZONE", Nullable: true},
		{Name: "tstz", Type: "TIMESTAMP WITH TIME ZONE", Nullable: true},
		{Name: "doc", Type: "JSONB", Nullable: true},
		{Name: "js", Type: "JSON", Nullable: true},
		{Name: "raw", Type: "BYTEA", Nullable: true},
	}, Indexes: []spec.Index{{Columns: []string{"big"}}, {Columns: []string{"small", "big"}, Unique: true}}}
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond}
	types := [][]arrow.DataType{{i64, str, i64, i64, str, f64, f64, f64, arrow.FixedWidthTypes.Boolean, str, str,
		arrow.FixedWidthTypes.Date32, tsType, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, str, str, arrow.BinaryTypes.Binary}}

	// No batches: the schema and table are created, nothing else happens.
	src, log, err := e.ingest([]spec.Table{tbl}, spec.Options{}, types)
	if err != nil {
		t.Fatal(err)
	}
	if string(src.stored) != "null" {
		t.Errorf("Start received %s, want null", src.stored)
	}
	if c := e.comment("all_types"); c != nil {
		t.Errorf("comment %q after an ingest without batches", *c)
	}
	if !log.has(`Creating target table ` + e.schema + `.all_types if it doesn't already exist`) {
		t.Errorf("log %q", log.lines)
	}

	r, err := e.check.Query(e.ctx, `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull
		FROM pg_attribute a WHERE a.attrelid = format('%I.%I', $1::text, 'all_types')::regclass AND a.attnum > 0 ORDER BY a.attnum`, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for r.Next() {
		var name, typ string
		var notNull bool
		if err := r.Scan(&name, &typ, &notNull); err != nil {
			t.Fatal(err)
		}
		if notNull {
			typ += " NOT NULL"
		}
		got = append(got, name+" "+typ)
	}
	r.Close()
	want := []string{"id integer NOT NULL", "id2 character varying(16) NOT NULL", "small smallint", "big bigint NOT NULL",
		"num numeric(10,2)", "num_any numeric", "real real", "dbl double precision", "flag boolean", "txt text", "ch character(3)",
		"day date", "ts timestamp without time zone", "tstz timestamp with time zone", "doc jsonb", "js json", "raw bytea"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("columns\n got %q\nwant %q", got, want)
	}
	// Upstream creates a missing table without primary key and indexes.
	if _, defs := e.indexes("all_types"); len(defs) != 0 {
		t.Errorf("indexes %q of the new table", defs)
	}

	// A second ingest rebuilds the table as wanted, and stores every type.
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	_, _, err = e.ingest([]spec.Table{tbl}, spec.Options{}, types, batch{hwm: 1, chunks: []chunk{{0, [][]any{
		{1, "a", 2, 3, "1.5", 0.1, 0.5, 1e300, true, "x", "ab", day, ts, ts, `{"b": [1, 2]}`, `{"b":  1}`, []byte{0, 1, 255}},
		{1, "b", nil, -3, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]string, len(tbl.Columns))
	for i, c := range tbl.Columns {
		cols[i] = c.Name
	}
	rows := e.rows("all_types", cols, "id2")
	wantRows := [][]string{
		{"1", "a", "2", "3", "1.50", "0.1", "0.5", "1e+300", "true", "x", "ab", "2024-02-29", "2024-02-29 13:14:15.123456", "2024-02-29 13:14:15.123456+00", `{"b": [1, 2]}`, `{"b":  1}`, `\x0001ff`},
		{"1", "b", "<nil>", "-3", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>", "<nil>"},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("rows\n got %q\nwant %q", rows, wantRows)
	}
	var indexes []string
	if err := e.check.QueryRow(e.ctx, `SELECT array_agg(regexp_replace(indexdef, '^.* USING ', '') || CASE WHEN indexdef LIKE 'CREATE UNIQUE%' THEN ' unique' ELSE '' END)
		FROM pg_indexes WHERE schemaname = $1 AND tablename = 'all_types'`, e.schema).Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	sort.Strings(indexes)
	wantIx := []string{"btree (big)", "btree (id, id2) unique", "btree (small, big) unique", "btree (txt) unique"}
	if !reflect.DeepEqual(indexes, wantIx) {
		t.Errorf("indexes %q, want %q", indexes, wantIx)
	}
	var pkCols string
	if err := e.check.QueryRow(e.ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = format('%I.all_types', $1::text)::regclass AND contype = 'p'`, e.schema).Scan(&pkCols); err != nil {
		t.Fatal(err)
	}
	if pkCols != "PRIMARY KEY (id, id2)" {
		t.Errorf("primary key %s", pkCols)
	}

	// A third finds the table as wanted and keeps it.
	oid := e.oid("all_types")
	if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, types, batch{hwm: 2}); err != nil {
		t.Fatal(err)
	}
	if e.oid("all_types") != oid {
		t.Errorf("the table was rebuilt though it is as wanted")
	}
}

func TestAppendOverTwoIngests(t *testing.T) {
	e := newEnv(t)
	for _, upsert := range []string{spec.UpsertOff, spec.UpsertIfPrimaryKey} {
		name := "t" + strings.ToLower(strings.Trim(upsert, "_"))
		tables := []spec.Table{kv(e.schema, name, false)} // no primary key: appends either way
		src, _, err := e.ingest(tables, spec.Options{Upsert: upsert}, [][]arrow.DataType{kvTypes},
			batch{hwm: "a", chunks: []chunk{{0, [][]any{{1, "x"}, {1, "x"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if string(src.stored) != "null" {
			t.Errorf("first Start received %s", src.stored)
		}
		src, log, err := e.ingest(tables, spec.Options{Upsert: upsert}, [][]arrow.DataType{kvTypes},
			batch{hwm: "b", chunks: []chunk{{0, [][]any{{2, "y"}}}, {0, [][]any{{1, nil}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if string(src.stored) != `"a"` {
			t.Errorf("second Start received %s, want \"a\"", src.stored)
		}
		got := e.rows(name, []string{"id", "v"}, "id, v")
		want := [][]string{{"1", "x"}, {"1", "x"}, {"1", "<nil>"}, {"2", "y"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: rows %q, want %q", upsert, got, want)
		}
		if h := e.hwm(name); h != `"b"` {
			t.Errorf("high watermark %s", h)
		}
		for _, line := range []string{"Ingesting batch meta-1 with high watermark value b", "Ingesting without upsert",
			"Ingested 2 rows in total", "Ingestion of batch meta-1 with high watermark value b complete"} {
			if !log.has(line) {
				t.Errorf("log lacks %q: %q", line, log.lines)
			}
		}
	}
}

func TestUpsert(t *testing.T) {
	e := newEnv(t)
	tables := []spec.Table{kv(e.schema, "t", true), kv(e.schema, "other", false)}
	types := [][]arrow.DataType{kvTypes, kvTypes}
	_, _, err := e.ingest(tables, spec.Options{}, types, batch{hwm: 1, chunks: []chunk{{0, [][]any{{1, "old1"}, {2, "old2"}, {3, "old3"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, log, err := e.ingest(tables, spec.Options{}, types, batch{hwm: 2, chunks: []chunk{
		{0, [][]any{{1, "first"}, {4, "new4"}, {1, "second"}}},
		{0, [][]any{{4, "new4b"}}},             // same COPY, next chunk
		{1, [][]any{{9, "elsewhere"}}},         // ends the COPY of t
		{0, [][]any{{1, "last"}, {5, "new5"}}}, // a second COPY into the same batch table
		{0, [][]any{{2, nil}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := e.rows("t", []string{"id", "v"}, "id")
	want := [][]string{{"1", "last"}, {"2", "<nil>"}, {"3", "old3"}, {"4", "new4b"}, {"5", "new5"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if got := e.rows("other", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, [][]string{{"9", "elsewhere"}}) {
		t.Errorf("other: %q", got)
	}
	if !log.has("Ingesting with upsert") || !log.has("Copying from batch table to target table complete") {
		t.Errorf("log %q", log.lines)
	}
	e.noTmpTables()
}

func TestUpsertOffDuplicateKey(t *testing.T) {
	e := newEnv(t)
	tables := []spec.Table{kv(e.schema, "t", true), kv(e.schema, "u", true)}
	types := [][]arrow.DataType{kvTypes, kvTypes}
	_, _, err := e.ingest(tables, spec.Options{Upsert: spec.UpsertOff}, types,
		batch{hwm: 1, chunks: []chunk{{0, [][]any{{1, "a"}, {2, "b"}}}}},
		// The chunk of u ends the COPY into t, which fails at its end.
		batch{hwm: 2, chunks: []chunk{{0, [][]any{{3, "c"}}}, {0, [][]any{{3, "again"}}}, {1, [][]any{{1, "u"}}}}},
		batch{hwm: 3, chunks: []chunk{{0, [][]any{{4, "never"}}}}},
	)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("got %v, want the server's unique violation", err)
	}
	if got := e.rows("t", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "a"}, {"2", "b"}}) {
		t.Errorf("rows %q", got)
	}
	if h := e.hwm("t"); h != "1" {
		t.Errorf("high watermark %s, want 1", h)
	}
	// A key already in the table conflicts too.
	_, _, err = e.ingest(tables, spec.Options{Upsert: spec.UpsertOff}, types, batch{hwm: 4, chunks: []chunk{{0, [][]any{{2, "dup"}}}}})
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("got %v, want the server's unique violation", err)
	}
	if h := e.hwm("t"); h != "1" {
		t.Errorf("high watermark %s, want 1", h)
	}
}

func TestHighWatermark(t *testing.T) {
	cases := []struct {
		name        string
		comment     *string // the table's comment before the ingest
		wantStart   string  // what Source.Start receives
		hwm         any     // stored by the batch
		wantComment map[string]any
	}{
		{"no comment", nil, "null", "2024-01-01", map[string]any{"pg-bulk-ingest": map[string]any{"high-watermark": "2024-01-01"}}},
		{"not JSON", ptr("just words"), "null", 5.0, map[string]any{"pg-bulk-ingest": map[string]any{"high-watermark": 5.0}}},
		{"JSON but not an object", ptr(`[1, 2]`), "null", 5.0, map[string]any{"pg-bulk-ingest": map[string]any{"high-watermark": 5.0}}},
		{"JSON null", ptr(`null`), "null", nil, map[string]any{"pg-bulk-ingest": map[string]any{"high-watermark": nil}}},
		{"other keys kept", ptr(`{"owner": "team", "pg-bulk-ingest": {"high-watermark": {"a": [1]}, "x": 1}}`), `{"a": [1]}`,
			map[string]any{"a": []any{2.0}},
			map[string]any{"owner": "team", "pg-bulk-ingest": map[string]any{"high-watermark": map[string]any{"a": []any{2.0}}, "x": 1.0}}},
		{"stored null", ptr(`{"pg-bulk-ingest": {"high-watermark": null}}`), "null", "v",
			map[string]any{"pg-bulk-ingest": map[string]any{"high-watermark": "v"}}},
		{"none stored yet", ptr(`{"k": "it's \"quoted\""}`), "null", "v",
			map[string]any{"k": `it's "quoted"`, "pg-bulk-ingest": map[string]any{"high-watermark": "v"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			tables := []spec.Table{kv(e.schema, "first", false), kv(e.schema, "second", false)}
			e.exec(pgsql.CreateSchema(e.schema))
			for _, tb := range tables {
				e.exec(pgsql.CreateMissingTable(&tb))
			}
			if c.comment != nil {
				e.exec(`COMMENT ON TABLE ` + pgsql.Qualified(e.schema, "first") + ` IS '` + strings.ReplaceAll(*c.comment, "'", "''") + `'`)
			}
			src, _, err := e.ingest(tables, spec.Options{}, [][]arrow.DataType{kvTypes, kvTypes}, batch{hwm: c.hwm, chunks: []chunk{{1, [][]any{{1, "x"}}}}})
			if err != nil {
				t.Fatal(err)
			}
			var start, wantStart any
			if err := json.Unmarshal(src.stored, &start); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal([]byte(c.wantStart), &wantStart) //nolint:errcheck
			if !reflect.DeepEqual(start, wantStart) {
				t.Errorf("Start received %s, want %s", src.stored, c.wantStart)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(*e.comment("first")), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.wantComment) {
				t.Errorf("comment %v, want %v", got, c.wantComment)
			}
			if cm := e.comment("second"); cm != nil {
				t.Errorf("second table's comment %q", *cm)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestFailureMidBatch(t *testing.T) {
	boom := errors.New("the source failed")
	cases := []struct {
		name   string
		upsert string
		failAt int // chunk of batch 2 that fails
	}{
		{"before any row", spec.UpsertIfPrimaryKey, 1},
		{"inside a COPY", spec.UpsertOff, 2},
		{"inside an upsert COPY", spec.UpsertIfPrimaryKey, 2},
		{"after another table's COPY", spec.UpsertIfPrimaryKey, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			tables := []spec.Table{kv(e.schema, "t", true), kv(e.schema, "u", true)}
			src, _, err := e.ingest(tables, spec.Options{Upsert: c.upsert}, [][]arrow.DataType{kvTypes, kvTypes},
				batch{hwm: "one", chunks: []chunk{{0, [][]any{{1, "a"}}}, {1, [][]any{{1, "a"}}}}},
				batch{hwm: "two", failAt: c.failAt, failErr: boom, chunks: []chunk{
					{0, [][]any{{2, "b"}, {1, "changed"}}}, {0, [][]any{{3, "c"}}}, {1, [][]any{{2, "b"}}}, {0, [][]any{{4, "d"}}}}},
				batch{hwm: "three"},
			)
			if !errors.Is(err, boom) {
				t.Fatalf("got %v, want the source's error", err)
			}
			if src.cur != 2 {
				t.Errorf("the engine went on to batch %d", src.cur)
			}
			for _, name := range []string{"t", "u"} {
				if got := e.rows(name, []string{"id", "v"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "a"}}) {
					t.Errorf("%s: rows %q", name, got)
				}
			}
			if h := e.hwm("t"); h != `"one"` {
				t.Errorf("high watermark %s", h)
			}
			e.noTmpTables()
		})
	}
}

func TestBadValue(t *testing.T) {
	e := newEnv(t)
	tbl := spec.Table{Schema: e.schema, Name: "nums", Columns: []spec.Column{
		{Name: "id", Type: "INTEGER", PrimaryKey: true},
		{Name: "small", Type: "SMALLINT", Nullable: true},
	}}
	types := [][]arrow.DataType{{i64, i64}}
	_, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, types,
		batch{hwm: 1, chunks: []chunk{{0, [][]any{{1, 1}}}}},
		batch{hwm: 2, chunks: []chunk{{0, [][]any{{2, 2}, {3, 3}}}, {0, [][]any{{4, 4}, {5, 70000}}}}},
	)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`"nums"`, `column "small"`, "row 3", "value 70000", "out of range"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	var ve *pgcopy.ValueError
	var be *engine.BatchError
	if !errors.As(err, &ve) || ve.Row != 3 || ve.Column != "small" || !errors.As(err, &be) || be.Batch != 2 {
		t.Errorf("error %#v", err)
	}
	if got := e.rows("nums", []string{"id", "small"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "1"}}) {
		t.Errorf("rows %q", got)
	}
	if h := e.hwm("nums"); h != "1" {
		t.Errorf("high watermark %s", h)
	}

	// A value the server refuses (too long for VARCHAR(2)) fails the same way.
	short := spec.Table{Schema: e.schema, Name: "short", Columns: []spec.Column{{Name: "s", Type: "VARCHAR(2)", Nullable: true}}}
	_, _, err = e.ingest([]spec.Table{short}, spec.Options{}, [][]arrow.DataType{{str}}, batch{hwm: 1, chunks: []chunk{{0, [][]any{{"ok"}, {"toolong"}}}}})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22001" {
		t.Fatalf("got %v, want the server's string_data_right_truncation", err)
	}
	// The table was to be created in the failed first batch's transaction.
	var exists bool
	if err := e.check.QueryRow(e.ctx, pgsql.TableExists, e.schema, "short").Scan(&exists); err != nil || exists {
		t.Errorf("table short exists: %v %v", exists, err)
	}
}

func TestMultiTableInterleaved(t *testing.T) {
	e := newEnv(t)
	seq := func(name string) spec.Table {
		return spec.Table{Schema: e.schema, Name: name, Columns: []spec.Column{
			{Name: "n", Type: "BIGINT"}, {Name: "label", Type: "TEXT", Nullable: true}}}
	}
	tables := []spec.Table{seq("a"), seq("b"), kv(e.schema, "c", true)}
	types := [][]arrow.DataType{kvTypes, kvTypes, kvTypes}
	src, _, err := e.ingest(tables, spec.Options{}, types,
		batch{hwm: 1, chunks: []chunk{
			{0, [][]any{{1, "a1"}, {2, "a2"}}},
			{1, [][]any{{1, "b1"}}},
			{0, [][]any{{3, "a3"}}},
			{2, [][]any{{1, "c1"}, {1, "c1b"}}},
			{1, [][]any{{2, "b2"}}},
			{0, [][]any{{4, "a4"}}},
			{0, [][]any{{5, "a5"}}},
			{2, [][]any{{2, "c2"}, {1, "c1c"}}},
		}},
		batch{hwm: 2, chunks: []chunk{{1, [][]any{{3, "b3"}}}}}, // a and c get no rows
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.rows("a", []string{"n", "label"}, "n"); !reflect.DeepEqual(got, [][]string{{"1", "a1"}, {"2", "a2"}, {"3", "a3"}, {"4", "a4"}, {"5", "a5"}}) {
		t.Errorf("a: %q", got)
	}
	if got := e.rows("b", []string{"n", "label"}, "n"); !reflect.DeepEqual(got, [][]string{{"1", "b1"}, {"2", "b2"}, {"3", "b3"}}) {
		t.Errorf("b: %q", got)
	}
	if got := e.rows("c", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "c1c"}, {"2", "c2"}}) {
		t.Errorf("c: %q", got)
	}
	// c, created without its primary key as upstream does, is rebuilt
	// in its first batch, whose rows go to the new ingest table.
	want := []string{"1:0:" + e.schema + ".a", "1:1:" + e.schema + ".b", "1:2:" + e.schema + "._tmp_",
		"2:0:" + e.schema + ".a", "2:1:" + e.schema + ".b", "2:2:" + e.schema + ".c"}
	for i, v := range src.visible {
		if before, _, ok := strings.Cut(v, "._tmp_"); ok {
			src.visible[i] = before + "._tmp_"
		}
	}
	if !reflect.DeepEqual(src.visible, want) {
		t.Errorf("on_before_visible calls %q, want %q", src.visible, want)
	}
	if h := e.hwm("a"); h != "2" {
		t.Errorf("high watermark %s", h)
	}
}

func TestEmptyBatch(t *testing.T) {
	e := newEnv(t)
	tables := []spec.Table{kv(e.schema, "t", true), kv(e.schema, "u", false)}
	types := [][]arrow.DataType{kvTypes, kvTypes}
	src, log, err := e.ingest(tables, spec.Options{}, types,
		batch{hwm: map[string]any{"cursor": "abc"}},
		batch{hwm: nil},
	)
	if err != nil {
		t.Fatal(err)
	}
	if h := e.hwm("t"); h != "null" {
		t.Errorf("high watermark %s after an empty batch with None", h)
	}
	if len(src.visible) != 4 {
		t.Errorf("on_before_visible calls %q", src.visible)
	}
	if !log.has("Ingesting batch meta-1 with high watermark value map[cursor:abc]") || !log.has("Calling on_before_visible callback") {
		t.Errorf("log %q", log.lines)
	}
	src, _, err = e.ingest(tables, spec.Options{}, types, batch{hwm: []any{1, "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(src.stored) != "null" {
		t.Errorf("Start received %s", src.stored)
	}
	if h := e.hwm("t"); h != `[1, "x"]` { // as json.dumps writes it
		t.Errorf("high watermark %s", h)
	}
	if got := e.rows("t", []string{"id"}, "id"); len(got) != 0 {
		t.Errorf("rows %q", got)
	}
}

func TestDeleteBeforeFirstBatch(t *testing.T) {
	e := newEnv(t)
	tables := []spec.Table{kv(e.schema, "t", true), kv(e.schema, "u", false)}
	types := [][]arrow.DataType{kvTypes, kvTypes}
	seed := batch{hwm: 0, chunks: []chunk{{0, [][]any{{1, "old"}}}, {1, [][]any{{1, "old"}}}}}
	cases := []struct {
		name    string
		batches []batch
		wantT   [][]string
		wantU   [][]string
	}{
		{"empty first batch", []batch{{hwm: 1}}, nil, nil},
		{"rows for one table only", []batch{{hwm: 1, chunks: []chunk{{0, [][]any{{2, "new"}}}}}}, [][]string{{"2", "new"}}, nil},
		{"a table's rows in the second batch only", []batch{{hwm: 1, chunks: []chunk{{0, [][]any{{2, "new"}}}}}, {hwm: 2, chunks: []chunk{{1, [][]any{{3, "later"}}}, {0, [][]any{{4, "later"}}}}}},
			[][]string{{"2", "new"}, {"4", "later"}}, [][]string{{"3", "later"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.exec("DROP SCHEMA IF EXISTS " + pgsql.Ident(e.schema) + " CASCADE")
			if _, _, err := e.ingest(tables, spec.Options{}, types, seed); err != nil {
				t.Fatal(err)
			}
			if got := e.rows("t", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, [][]string{{"1", "old"}}) {
				t.Fatalf("seeded t: %q", got)
			}
			oidT, oidU := e.oid("t"), e.oid("u")
			if _, _, err := e.ingest(tables, spec.Options{Delete: spec.DeleteBeforeFirst}, types, c.batches...); err != nil {
				t.Fatal(err)
			}
			if e.oid("t") == oidT || e.oid("u") == oidU {
				t.Errorf("a table was not swapped for a new one")
			}
			e.noTmpTables()
			if got := e.rows("t", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, c.wantT) {
				t.Errorf("t: %q, want %q", got, c.wantT)
			}
			if got := e.rows("u", []string{"id", "v"}, "id"); !reflect.DeepEqual(got, c.wantU) {
				t.Errorf("u: %q, want %q", got, c.wantU)
			}
		})
	}
}

func TestIdentifiers(t *testing.T) {
	e := newEnv(t)
	e.schema = e.schema + ` "s".x %s 🦆`
	t.Cleanup(func() {
		e.exec("DROP SCHEMA IF EXISTS " + pgsql.Ident(e.schema) + " CASCADE")
	})
	names := []string{`id "q"`, "a.b", "with space", "50%", "$1", "🦆", `'`}
	tbl := spec.Table{Schema: e.schema, Name: `t "x" . y %d $1 🦆`, Indexes: []spec.Index{{Columns: []string{"a.b", "50%"}}}}
	for i, n := range names {
		tbl.Columns = append(tbl.Columns, spec.Column{Name: n, Type: "TEXT", Nullable: i > 0, PrimaryKey: i == 0})
	}
	types := [][]arrow.DataType{{str, str, str, str, str, str, str}}
	row := func(k, v string) []any { return []any{k, v, v, v, v, v, v} }
	for round, upsert := range []string{spec.UpsertIfPrimaryKey, spec.UpsertOff} {
		src, _, err := e.ingest([]spec.Table{tbl}, spec.Options{Upsert: upsert}, types,
			batch{hwm: "it's \"%s\" 🦆", chunks: []chunk{{0, [][]any{row("k"+string(rune('0'+round)), "v1"), row("k9", "v"+upsert)}}}})
		if round == 1 {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "23505" {
				t.Fatalf("got %v, want a unique violation", err)
			}
			var got string
			if json.Unmarshal(src.stored, &got) != nil || got != "it's \"%s\" 🦆" {
				t.Errorf("Start received %s", src.stored)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got := e.rows(tbl.Name, names, pgsql.Ident(names[0]))
	want := [][]string{{"k0", "v1", "v1", "v1", "v1", "v1", "v1"}, {"k9", "v__IF_PRIMARY_KEY__", "v__IF_PRIMARY_KEY__", "v__IF_PRIMARY_KEY__", "v__IF_PRIMARY_KEY__", "v__IF_PRIMARY_KEY__", "v__IF_PRIMARY_KEY__"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if h := e.hwm(tbl.Name); h != `"it's \"%s\" \ud83e\udd86"` { // as json.dumps writes it
		t.Errorf("high watermark %s", h)
	}

	// A new column: the rows move to a new table under the same names.
	oid := e.oid(tbl.Name)
	tbl.Columns = append(tbl.Columns, spec.Column{Name: `new "c", %s 🦆`, Type: "TEXT", Nullable: true})
	tbl.Indexes = append(tbl.Indexes, spec.Index{Columns: []string{`new "c", %s 🦆`}}) // else added in place
	if _, _, err := e.ingest([]spec.Table{tbl}, spec.Options{}, [][]arrow.DataType{append(types[0], str)}, batch{hwm: 2}); err != nil {
		t.Fatal(err)
	}
	if got := e.rows(tbl.Name, names, pgsql.Ident(names[0])); e.oid(tbl.Name) == oid || !reflect.DeepEqual(got, want) {
		t.Errorf("after a swap: rows %q, want %q", got, want)
	}
	if h := e.hwm(tbl.Name); h != "2" {
		t.Errorf("high watermark %s after a swap", h)
	}
}

// A Go caller's hand-built job is validated by Ingest itself, before any
// SQL: nothing is created.
func TestIngestRefusesAnInvalidJob(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		table spec.Table
		opts  spec.Options
		want  string
	}{
		{"unknown upsert", kv(e.schema, "t", true), spec.Options{Upsert: "sometimes"}, `upsert must be Upsert.OFF or Upsert.IF_PRIMARY_KEY, not "sometimes"`},
		{"no schema", kv("", "t", true), spec.Options{}, `table "t" has no schema`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, log, err := e.ingest([]spec.Table{c.table}, c.opts, [][]arrow.DataType{{i64, str}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Ingest: %v, want an error containing %q", err, c.want)
			}
			if len(log.lines) != 0 {
				t.Errorf("log %q: the engine went on after refusing the job", log.lines)
			}
			var exists bool
			if err := e.check.QueryRow(e.ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, e.schema).Scan(&exists); err != nil || exists {
				t.Errorf("schema %s exists after a refused job (%v)", e.schema, err)
			}
		})
	}
}
