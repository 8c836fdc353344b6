package pgcopy

// The fuzz tests, one or more per type family in the family's test file
// (integers_test.go, uuid_test.go, ...), check the encoders against the
// server itself: a value encoded here must read back, through the type's
// binary receive function (what COPY ... (FORMAT binary) calls), exactly
// as the server reads the text that upstream would have sent for it; and
// where the server refuses that text, the encoder must refuse the value.
// The text encoder's line must read back the same. Their seeds run as
// plain tests under `go test` and need DATABASE_URL. This file holds the
// server side of those checks.

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/internal/pgtest"
)

type server struct {
	conn *pgx.Conn
}

func newServer(f *testing.F) *server {
	return &server{conn: pgtest.Connect(f)}
}

// serverError tells a refusal of the value from a broken connection.
func serverError(t *testing.T, err error) error {
	t.Helper()
	var pe *pgconn.PgError
	if err != nil && !errors.As(err, &pe) {
		t.Fatalf("server: %v", err)
	}
	return err
}

// parse is the server's reading of text as typ, shown as text.
func (s *server) parse(t *testing.T, typ, text string) (string, error) {
	t.Helper()
	var out string
	err := s.conn.QueryRow(context.Background(), "SELECT $1::text::"+typ+"::text", text).Scan(&out)
	return out, serverError(t, err)
}

// recv is the server's reading of a binary field (length and value) of
// type oid, shown as text.
func (s *server) recv(t *testing.T, oid uint32, field []byte) (string, error) {
	t.Helper()
	res := s.conn.PgConn().ExecParams(context.Background(), "SELECT $1::text", [][]byte{field[4:]}, []uint32{oid}, []int16{1}, []int16{0}).Read()
	if res.Err != nil {
		return "", serverError(t, res.Err)
	}
	return string(res.Rows[0][0]), nil
}

// expr is the server's value of a query of one text parameter, as text.
func (s *server) expr(t *testing.T, query string, args ...any) (string, error) {
	t.Helper()
	var out string
	err := s.conn.QueryRow(context.Background(), query, args...).Scan(&out)
	return out, serverError(t, err)
}

// check compares the encoder's outcome (field, encErr) for a value with
// the server's reading of its text (want, parseErr).
func (s *server) check(t *testing.T, what string, oid uint32, field []byte, encErr error, want string, parseErr error) {
	t.Helper()
	if encErr != nil {
		if parseErr == nil {
			t.Fatalf("%s: the encoder refuses it (%v), the server reads %s", what, encErr, want)
		}
		return
	}
	got, recvErr := s.recv(t, oid, field)
	switch {
	case recvErr != nil && parseErr != nil:
		// Both refuse it: a binary value the server's receive function
		// rejects never stores anything.
	case recvErr != nil:
		t.Fatalf("%s: encoded as %x, which the server refuses: %v; its text reads as %s", what, field, recvErr, want)
	case parseErr != nil:
		t.Fatalf("%s: encoded as %x, stored as %s; but the server refuses its text: %v", what, field, got, parseErr)
	case got != want:
		t.Fatalf("%s: encoded as %x, stored as %s; its text reads as %s", what, field, got, want)
	}
}

// checkRec checks row 0 of rec for col, binary and text, against want
// (or a refusal, with wantErr set); typ reads the text line.
func (s *server) checkRec(t *testing.T, what string, col Target, rec arrow.Record, typ, want string, wantErr error) {
	t.Helper()
	field, encErr := encodeCol(t, col, rec, 0)
	s.check(t, what, col.OID, field, encErr, want, wantErr)
	line, textErr := textOne(t, col, rec, 0)
	if textErr != nil {
		if wantErr == nil {
			t.Fatalf("%s: the text encoder refuses it (%v), want %s", what, textErr, want)
		}
		return
	}
	got, err := s.parse(t, typ, line[:len(line)-1])
	if (err != nil) != (wantErr != nil) || got != want {
		t.Fatalf("%s: written as %q, read as %q (%v); want %q (%v)", what, line, got, err, want, wantErr)
	}
}

// checkBoth checks row 0 of rec for col, binary and as the text encoder
// writes it, against the server's reading of py (the text upstream sends)
// as typ.
func (s *server) checkBoth(t *testing.T, what string, col Target, rec arrow.Record, typ, py string) {
	t.Helper()
	want, parseErr := s.parse(t, typ, py)
	s.checkRec(t, what, col, rec, typ, want, parseErr)
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

func encodeValue(t *testing.T, oid uint32, dt arrow.DataType, v any) ([]byte, error) {
	rec := oneColumn(t, dt, func(b array.Builder) { appendValue(t, b, v) })
	return encodeOne(t, oid, rec, 0)
}

// pyStr is Python's str(f), the text upstream sends for a float.
func pyStr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return string(appendPyFloat(nil, f))
}
