package pgcopy

// Fuzz tests of the uuid, time, interval and vector encoders, binary and
// text, and of the text COPY escaping, against the server as in
// fuzz_test.go.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
)

// checkBoth checks row 0 of rec for col, binary and as the text encoder
// writes it, against the server's reading of py (the text upstream sends)
// as typ.
func (s *server) checkBoth(t *testing.T, what string, col Target, rec arrow.Record, typ, py string) {
	t.Helper()
	want, parseErr := s.parse(t, typ, py)
	field, encErr := encodeCol(t, col, rec, 0)
	s.check(t, what, col.OID, field, encErr, want, parseErr)
	line, textErr := textOne(t, col, rec, 0)
	if textErr != nil {
		if parseErr == nil {
			t.Fatalf("%s: the text encoder refuses it (%v), the server reads %s", what, textErr, want)
		}
		return
	}
	text := strings.TrimSuffix(line, "\n") // no COPY escapes in these types
	got, err := s.parse(t, typ, text)
	if (err != nil) != (parseErr != nil) || got != want {
		t.Fatalf("%s: written as %q, read as %q (%v); upstream's text reads as %q (%v)", what, text, got, err, want, parseErr)
	}
}

// refusedBoth checks that both encoders refuse row 0 of rec for col.
func refusedBoth(t *testing.T, what string, col Target, rec arrow.Record) {
	t.Helper()
	field, encErr := encodeCol(t, col, rec, 0)
	line, textErr := textOne(t, col, rec, 0)
	if encErr == nil || textErr == nil {
		t.Fatalf("%s: encoded as %x and %q, want refusals", what, field, line)
	}
}

func FuzzUUID(f *testing.F) {
	s := newServer(f)
	for _, seed := range [][2]uint64{{0, 0}, {math.MaxUint64, math.MaxUint64}, {0x0011223344556677, 0x8899aabbccddeeff}} {
		f.Add(seed[0], seed[1])
	}
	col := Target{Name: "c", OID: OIDUUID, Type: "uuid"}
	f.Fuzz(func(t *testing.T, hi, lo uint64) {
		u := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, hi), lo)
		rec := oneColumn(t, uuid16, func(b array.Builder) { appendValue(t, b, u) })
		h := hex.EncodeToString(u) // Python's str(uuid.UUID(bytes=u))
		py := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		s.checkBoth(t, "uuid "+py, col, rec, "uuid", py)
	})
}

// pyClock is Python's str() of a time of day: H:MM:SS for a timedelta
// (hours unpadded) or HH:MM:SS for a time, then .ffffff unless zero.
func pyClock(us int64, padHours bool) string {
	sec := us / 1000000
	h := fmt.Sprint(sec / 3600)
	if padHours {
		h = fmt.Sprintf("%02d", sec/3600)
	}
	out := fmt.Sprintf("%s:%02d:%02d", h, sec/60%60, sec%60)
	if us%1000000 != 0 {
		out += fmt.Sprintf(".%06d", us%1000000)
	}
	return out
}

func FuzzTime(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 1, 999999, 1000000, 3661000001, 86399999999, 86400000000, 86400000001, -1, math.MaxInt64, math.MinInt64} {
		f.Add(seed)
	}
	col := Target{Name: "c", OID: OIDTime, Type: "time without time zone"}
	f.Fuzz(func(t *testing.T, us int64) {
		rec := oneColumn(t, arrow.FixedWidthTypes.Time64us, func(b array.Builder) { appendValue(t, b, us) })
		what := fmt.Sprintf("time %d", us)
		if us < 0 || us > 86400000000 { // no Python time, and past the server's range
			refusedBoth(t, what, col, rec)
			return
		}
		s.checkBoth(t, what, col, rec, "time", pyClock(us, true))
	})
}

// pyTimedelta is Python's str(timedelta(microseconds=us)).
func pyTimedelta(us int64) string {
	const day = 86400000000
	days := us / day
	if us%day < 0 {
		days--
	}
	out := pyClock(us-days*day, false)
	switch days {
	case 0:
		return out
	case 1, -1:
		return fmt.Sprintf("%d day, %s", days, out)
	}
	return fmt.Sprintf("%d days, %s", days, out)
}

func FuzzInterval(f *testing.F) {
	s := newServer(f)
	for _, seed := range []int64{0, 1, -1, 999999, -82800000000, 86400000000, -86400000000, 172800000001, -172800000001,
		999999999 * 86400000000 / 1000000, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		f.Add(seed)
	}
	col := Target{Name: "c", OID: OIDInterval, Type: "interval"}
	f.Fuzz(func(t *testing.T, us int64) {
		rec := oneColumn(t, arrow.FixedWidthTypes.Duration_us, func(b array.Builder) { appendValue(t, b, us) })
		py := pyTimedelta(us)
		s.checkBoth(t, fmt.Sprintf("interval %d (%s)", us, py), col, rec, "interval", py)
	})
}

func FuzzVector(f *testing.F) {
	s := newServer(f)
	pgtest.Extension(f, s.conn, "vector")
	var oid uint32
	if err := s.conn.QueryRow(context.Background(), "SELECT 'vector'::regtype::oid").Scan(&oid); err != nil {
		f.Fatal(err)
	}
	col := Target{Name: "c", OID: oid, Type: "vector", Recv: "vector_recv"}
	for _, seed := range [][3]float64{{0, 1, -1.5}, {0.1, 1 + 0x1p-24, 1 + 0x1p-24 + 0x1p-52}, {3.4028235677973366e38, 3.5e38, 1e-45},
		{7e-46, 1e-50, 5e-324}, {math.NaN(), 1, 2}, {math.Inf(1), 0, 0}, {math.Copysign(0, -1), 16777217, 1e16}} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c float64) {
		items := []any{a, b, c}
		rec := oneColumn(t, arrow.ListOf(arrow.PrimitiveTypes.Float64), func(bl array.Builder) { appendValue(t, bl, items) })
		py := "[" + pyStr(a) + ", " + pyStr(b) + ", " + pyStr(c) + "]" // Python's str(list)
		s.checkBoth(t, "vector "+py, col, rec, "vector", py)
	})
}

// FuzzTextEscape sends a text and an array of texts through a text COPY
// and reads them back.
func FuzzTextEscape(f *testing.F) {
	s := newServer(f)
	ctx := context.Background()
	if _, err := s.conn.Exec(ctx, "CREATE TEMPORARY TABLE fuzz_text (a text, b text[])"); err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][2]string{{"", ""}, {`\`, `"`}, {"a\tb\nc\rd", `\N`}, {`\.`, "NULL"}, {"{a,b}", ` x `}, {"é🦆", "\x01\x7f"}, {"a\x00", "b"}} {
		f.Add(seed[0], seed[1])
	}
	cols := []Target{{Name: "a", OID: OIDText, Type: "text"}, {Name: "b", OID: 1009, Type: "text[]"}}
	f.Fuzz(func(t *testing.T, x, y string) {
		if !utf8.ValidString(x) || !utf8.ValidString(y) {
			return // not a Python str
		}
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		defer sb.Release()
		sb.Append(x)
		lb := array.NewListBuilder(memory.DefaultAllocator, arrow.BinaryTypes.String)
		defer lb.Release()
		appendValue(t, lb, []any{x, nil, y})
		sa, la := sb.NewArray(), lb.NewArray()
		defer sa.Release()
		defer la.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: sa.DataType()}, {Name: "b", Type: la.DataType()}}, nil)
		rec := array.NewRecord(schema, []arrow.Array{sa, la}, 1)
		defer rec.Release()
		rows, err := NewTextRows(cols, rec)
		if err != nil {
			t.Fatal(err)
		}
		line, err := rows.Append(nil, 0)
		if strings.ContainsRune(x+y, 0) {
			if err == nil {
				t.Fatalf("%q, %q: written as %q, want a refusal", x, y, line)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.conn.PgConn().CopyFrom(ctx, bytes.NewReader(line), "COPY fuzz_text (a, b) FROM STDIN"); err != nil {
			t.Fatalf("%q, %q: written as %q, which the server refuses: %v", x, y, line, err)
		}
		var a, b1, b3 string
		var b2Null bool
		var n int
		if err := s.conn.QueryRow(ctx, "DELETE FROM fuzz_text RETURNING a, b[1], b[2] IS NULL, b[3], cardinality(b)").Scan(&a, &b1, &b2Null, &b3, &n); err != nil {
			t.Fatal(err)
		}
		if a != x || b1 != x || !b2Null || b3 != y || n != 3 {
			t.Fatalf("%q, %q: written as %q, read back as %q, {%q, null: %v, %q} (%d items)", x, y, line, a, b1, b2Null, b3, n)
		}
	})
}
