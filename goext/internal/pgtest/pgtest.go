// Package pgtest gives the Go tests a connection to the real PostgreSQL
// server named by DATABASE_URL and throwaway schemas on it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SkipReason is why a test that needs the server is skipped.
const SkipReason = "DATABASE_URL not set: run python tests/run.py, which starts PostgreSQL"

// URL returns DATABASE_URL or skips tb.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		tb.Skip(SkipReason)
	}
	return url
}

// Connect opens a connection closed at the end of tb; it skips tb when
// DATABASE_URL is unset.
func Connect(tb testing.TB) *pgx.Conn {
	tb.Helper()
	url := URL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connecting to DATABASE_URL: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Name returns a fresh name starting with prefix.
func Name(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// Schema names a fresh schema (prefix plus random hex), not created, that
// is dropped with everything in it at the end of tb, on a connection of
// its own so that a test's failed transaction cannot stop it.
func Schema(tb testing.TB, prefix string) string {
	tb.Helper()
	url := URL(tb)
	name := Name(prefix)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("dropping schema %q: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %q: %v", name, err)
		}
	})
	return name
}

// Extension creates extension name unless it exists, skipping tb when the
// server does not have it. Test binaries run at once; a lock keeps their
// CREATE EXTENSIONs apart.
func Extension(tb testing.TB, conn *pgx.Conn, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var available bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)", name).Scan(&available); err != nil {
		tb.Fatal(err)
	}
	if !available {
		tb.Skipf("the server lacks the %s extension", name)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('pgtest extension'))"); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}
