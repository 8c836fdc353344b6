package engine_test

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgsql"
	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/pgxconn"
)

// upstreamHash computes a table's hash as upstream 0.1.3 does
// (utils.calculate_table_metrics): its own catalog query for the column
// list, then every row's ROW(...)::text read by the client in order and
// hashed as UTF-8.
func (e *env) upstreamHash(table string, ignore ...string) (string, int) {
	e.t.Helper()
	rows, err := e.check.Query(e.ctx, `SELECT pg_attribute.attname::text, COALESCE(pg_index.indisprimary, FALSE)
		FROM pg_catalog.pg_attribute
		JOIN pg_catalog.pg_class ON pg_class.oid = pg_attribute.attrelid
		JOIN pg_catalog.pg_namespace ON pg_namespace.oid = pg_class.relnamespace
		LEFT JOIN pg_index ON (pg_index.indrelid = pg_attribute.attrelid AND pg_attribute.attnum = ANY(pg_index.indkey))
		WHERE pg_attribute.attnum > 0 AND NOT pg_attribute.attisdropped AND pg_namespace.nspname = $1 AND pg_class.relname = $2
		ORDER BY attnum`, e.schema, table)
	if err != nil {
		e.t.Fatal(err)
	}
	var cols, pks []string
	for rows.Next() {
		var name string
		var pk bool
		if err := rows.Scan(&name, &pk); err != nil {
			e.t.Fatal(err)
		}
		if !slices.Contains(ignore, name) {
			cols = append(cols, name)
		}
		if pk {
			pks = append(pks, name)
		}
	}
	if len(pks) == 0 {
		pks = cols[:1]
	}
	rows, err = e.check.Query(e.ctx, "SELECT ROW("+pgsql.IdentList(cols)+")::TEXT FROM "+pgsql.Qualified(e.schema, table)+" ORDER BY "+pgsql.IdentList(pks))
	if err != nil {
		e.t.Fatal(err)
	}
	h := md5.New()
	n := 0
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			e.t.Fatal(err)
		}
		h.Write([]byte(text))
		n++
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func TestHashIsUpstreams(t *testing.T) {
	e := newEnv(t)
	e.exec("CREATE SCHEMA " + pgsql.Ident(e.schema))
	q := func(name string) string { return pgsql.Qualified(e.schema, name) }
	conn := pgxconn.New(e.conn)

	// Upstream's own stored hash of this partition (a live run of 0.1.3):
	// id is in the primary key and in (name, id), so it is hashed twice.
	e.exec(`CREATE TABLE ` + q("mytab__20240101") + ` (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, val NUMERIC, tag VARCHAR, _version VARCHAR NOT NULL)`)
	e.exec(`CREATE INDEX ON ` + q("mytab__20240101") + ` (tag)`)
	e.exec(`CREATE INDEX ON ` + q("mytab__20240101") + ` (name, id)`)
	e.exec(`CREATE INDEX ON ` + q("mytab__20240101") + ` (val)`)
	e.exec(`INSERT INTO ` + q("mytab__20240101") + ` VALUES (1, 'a', 1.5, 'x', '2024-01-01'), (2, 'é''b', NULL, NULL, '2024-01-01')`)
	hash, n, err := engine.TableHash(e.ctx, conn, e.schema, "mytab__20240101", "_version")
	if err != nil || hash != "cbf653105efb6e39b0e6d05b90304693" || n != 2 {
		t.Errorf("mytab: %s %d %v, want upstream's cbf653105efb6e39b0e6d05b90304693 2", hash, n, err)
	}

	// Values whose text needs quoting in a record, of many types, and
	// columns in several indexes; a table without a primary key is
	// ordered by its first column.
	e.exec(`CREATE TABLE ` + q("many") + ` (k TEXT, "Mixed ""q""" INTEGER, n NUMERIC, ts TIMESTAMPTZ, b BYTEA, a TEXT[], j JSONB, f FLOAT8, u TEXT, "_version" TEXT, pcol TEXT)`)
	e.exec(`CREATE UNIQUE INDEX ON ` + q("many") + ` (k)`)
	e.exec(`CREATE INDEX ON ` + q("many") + ` (k, n)`)
	e.exec(`CREATE INDEX ON ` + q("many") + ` USING gin (j)`)
	e.exec(`CREATE INDEX ON ` + q("many") + ` ("Mixed ""q""", k) INCLUDE (u)`)
	e.exec(`INSERT INTO ` + q("many") + ` VALUES
		('a,b', 1, 1.50, '2024-01-01 12:00:00.5+02', '\x00ff', ARRAY['x', NULL, 'y,"z"'], '{"k": [1, "é"]}', 1e-7, 'naïve 🦆', 'v', 'p'),
		('q"uote''s', NULL, -0.000001, NULL, '', '{}', 'null', 'NaN', E'back\\slash\nline', NULL, NULL),
		('(paren) ', -2147483648, 123456789012345678901234567890.123, 'infinity', NULL, NULL, NULL, '-Infinity', '', '', '')`)
	for _, c := range []struct {
		table  string
		ignore []string
	}{{"many", []string{"_version"}}, {"many", []string{"_version", "pcol"}}, {"mytab__20240101", []string{"_version"}}} {
		want, wantN := e.upstreamHash(c.table, c.ignore...)
		got, gotN, err := engine.TableHash(e.ctx, conn, e.schema, c.table, c.ignore...)
		if err != nil || got != want || gotN != int64(wantN) {
			t.Errorf("%s less %v: %s %d %v, upstream's way %s %d", c.table, c.ignore, got, gotN, err, want, wantN)
		}
	}

	e.exec(`CREATE TABLE ` + q("empty") + ` (id INTEGER PRIMARY KEY, v TEXT)`)
	if hash, n, err := engine.TableHash(e.ctx, conn, e.schema, "empty"); err != nil || hash != "" || n != 0 {
		t.Errorf("empty: %q %d %v", hash, n, err)
	}
}

func TestIsoformat(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 12, 1, 23, 0, 8, 520782999, time.UTC), "2026-12-01T23:00:08.520782+00:00"},
		{time.Date(2026, 12, 1, 23, 0, 8, 999, time.UTC), "2026-12-01T23:00:08+00:00"},
		{time.Date(2026, 12, 2, 1, 0, 8, 1000, time.FixedZone("x", 2*3600)), "2026-12-01T23:00:08.000001+00:00"},
	} {
		if got := engine.Isoformat(c.t); got != c.want {
			t.Errorf("%v: %s, want %s", c.t, got, c.want)
		}
	}
}
