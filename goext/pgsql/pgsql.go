// Package pgsql writes the SQL text of an ingest. Identifiers are always
// quoted here; values never enter the text: they travel as $n parameters.
package pgsql

import (
	"strings"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"
)

// Ident quotes one identifier the way quote_ident does for any input.
func Ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// Qualified quotes schema.name.
func Qualified(schema, name string) string {
	return Ident(schema) + "." + Ident(name)
}

// IdentList quotes and comma-joins names.
func IdentList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = Ident(n)
	}
	return strings.Join(quoted, ", ")
}

// CreateSchema creates a schema unless it exists.
func CreateSchema(schema string) string {
	return "CREATE SCHEMA IF NOT EXISTS " + Ident(schema)
}

// columnDefs renders the column list of a CREATE TABLE.
func columnDefs(t *spec.Table, withPrimaryKey bool) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Ident(c.Name))
		b.WriteString(" ")
		b.WriteString(c.Type)
		if !c.Nullable {
			b.WriteString(" NOT NULL")
		}
		if c.Unique {
			b.WriteString(" UNIQUE")
		}
	}
	if pk := t.PrimaryKey(); withPrimaryKey && len(pk) > 0 {
		b.WriteString(", PRIMARY KEY (" + IdentList(pk) + ")")
	}
	return b.String()
}

// CreateTable creates the wanted table (columns, nullability, unique and
// primary key) under the given name unless it exists.
func CreateTable(t *spec.Table, name string) string {
	return "CREATE TABLE IF NOT EXISTS " + Qualified(t.Schema, name) + " (" + columnDefs(t, true) + ")"
}

// CreateMissingTable creates the wanted table unless it exists, as
// upstream does: columns, nullability and unique only. Its first batch
// then finds the primary key and indexes missing, and rebuilds it.
func CreateMissingTable(t *spec.Table) string {
	return "CREATE TABLE IF NOT EXISTS " + Qualified(t.Schema, t.Name) + " (" + columnDefs(t, false) + ")"
}

// CreateStaging creates a per-batch staging table with the wanted columns
// only: no constraints, so duplicates of the key can land in it. It is
// temporary: only this session reads it, and it never reaches the WAL.
func CreateStaging(t *spec.Table, name string) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = Ident(c.Name) + " " + c.Type
	}
	return "CREATE TEMPORARY TABLE " + Ident(name) + " (" + strings.Join(cols, ", ") + ") ON COMMIT DROP"
}

// CreateIndex creates one declared index under a fresh name.
func CreateIndex(schema, table, name string, ix spec.Index) string {
	var b strings.Builder
	b.WriteString("CREATE ")
	if ix.Unique {
		b.WriteString("UNIQUE ")
	}
	b.WriteString("INDEX " + Ident(name) + " ON " + Qualified(schema, table))
	if ix.Using != "" {
		b.WriteString(" USING " + Ident(strings.ToLower(ix.Using)))
	}
	b.WriteString(" (" + IdentList(ix.Columns) + ")")
	if len(ix.Include) > 0 {
		b.WriteString(" INCLUDE (" + IdentList(ix.Include) + ")")
	}
	return b.String()
}

// CopyBinary starts a binary COPY of the named columns into schema.table;
// an empty schema names a temporary table.
func CopyBinary(schema, table string, columns []string) string {
	return copyFrom(schema, table, columns, "binary")
}

// CopyText is CopyBinary in text format.
func CopyText(schema, table string, columns []string) string {
	return copyFrom(schema, table, columns, "text")
}

func copyFrom(schema, table string, columns []string, format string) string {
	target := Ident(table)
	if schema != "" {
		target = Qualified(schema, table)
	}
	return "COPY " + target + " (" + IdentList(columns) + ") FROM STDIN (FORMAT " + format + ")"
}

// Upsert moves the staging rows into the table, keeping the last row of
// each key (COPY appends, so the highest ctid is the last one sent) and
// replacing every column of rows whose key already exists.
func Upsert(t *spec.Table, table, staging string) string {
	cols := IdentList(t.ColumnNames())
	pk := IdentList(t.PrimaryKey())
	sets := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		sets[i] = Ident(c.Name) + " = EXCLUDED." + Ident(c.Name)
	}
	return "INSERT INTO " + Qualified(t.Schema, table) + " (" + cols + ")" +
		" SELECT DISTINCT ON (" + pk + ") " + cols + " FROM " + Ident(staging) +
		" ORDER BY " + pk + ", ctid DESC" +
		" ON CONFLICT (" + pk + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

// DropTable drops a table of this session.
func DropTable(name string) string {
	return "DROP TABLE " + Ident(name)
}

// SchemaExists answers whether schema $1 exists.
const SchemaExists = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`

// LockName takes a transaction-scoped advisory lock on the name $1.
const LockName = `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))`

// TableExists answers whether $1.$2 is a table.
const TableExists = `SELECT EXISTS (
	SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))`

// ReadComment reads the comment of $1.$2.
const ReadComment = `SELECT pg_catalog.obj_description(pg_catalog.format('%I.%I', $1::text, $2::text)::regclass, 'pg_class')`

// WriteComment sets the comment of $1.$2 to $3. COMMENT takes no
// parameters, so the server's own format() quotes all three.
const WriteComment = `SELECT pg_catalog.set_config('pg_bulk_ingest.schema', $1::text, true),
	pg_catalog.set_config('pg_bulk_ingest.table', $2::text, true),
	pg_catalog.set_config('pg_bulk_ingest.comment', $3::text, true)`

// ApplyComment runs the COMMENT prepared by WriteComment.
const ApplyComment = `DO $pbi$ BEGIN EXECUTE pg_catalog.format('COMMENT ON TABLE %I.%I IS %L',
	pg_catalog.current_setting('pg_bulk_ingest.schema'),
	pg_catalog.current_setting('pg_bulk_ingest.table'),
	pg_catalog.current_setting('pg_bulk_ingest.comment')); END $pbi$`
