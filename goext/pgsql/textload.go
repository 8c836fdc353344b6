package pgsql

import "strings"

// ColumnTypes lists the columns of relation $1 (RelationText) with their
// type, quoted and schema-qualified, without its modifier: casting a
// column's text to it, then storing the value in the column (which
// applies the modifier, as an assignment does), gives what a text COPY
// stores, whose server reads the text with the column's modifier.
// Qualified, the name is free of the grammar's special forms ("bit"
// there is bit(1)).
const ColumnTypes = `SELECT a.attname::text, pg_catalog.format('%I.%I', n.nspname, t.typname)
	FROM pg_catalog.pg_attribute a
	JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
	JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
	WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped`

// RelationText is schema.table (a temporary table when schema is "") as
// ColumnTypes takes it.
func RelationText(schema, table string) string { return tableName(schema, table) }

// InsertCast inserts every row of the temporary table from into the
// named columns of schema.table (a temporary table when schema is ""):
// its text column sources[i], cast to types[i], into columns[i].
func InsertCast(schema, table string, columns []string, from string, sources, types []string) string {
	casts := make([]string, len(sources))
	for i, source := range sources {
		casts[i] = Ident(source) + "::" + types[i]
	}
	return "INSERT INTO " + tableName(schema, table) + " (" + IdentList(columns) + ") SELECT " +
		strings.Join(casts, ", ") + " FROM pg_temp." + Ident(from)
}
