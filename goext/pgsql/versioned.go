package pgsql

import "github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/spec"

// The statements of ingest_versioned (engine/versioned.go).

// PartitionState answers whether $1.$2 is a table, and whether it is
// attached to a parent.
const PartitionState = `SELECT c.oid IS NOT NULL, EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)
	FROM (SELECT 1) AS one LEFT JOIN (pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace)
	ON n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`

// ViewSource finds the table that the view $1.$2 reads, by the view's
// dependencies (information_schema.view_table_usage, upstream's way, sees
// only what the current role owns): a row when the view exists, with the
// table's schema and name, NULL when it reads no table.
const ViewSource = `SELECT s.nspname, s.relname
	FROM pg_catalog.pg_class v
	JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
	LEFT JOIN LATERAL (SELECT sn.nspname::text, s.relname::text
		FROM pg_catalog.pg_rewrite r
		JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
		AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> v.oid
		JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind IN ('r', 'p')
		JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
		WHERE r.ev_class = v.oid
		ORDER BY s.oid LIMIT 1) s ON true
	WHERE vn.nspname = $1 AND v.relname = $2 AND v.relkind = 'v'`

// LegacyTable is the OID of $1.$2 if it is a table: before the view of
// that name is created, such a table is renamed (LegacyName).
const LegacyTable = `SELECT c.oid::int8 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`

// LegacyName is upstream's new name of a table in the view's place.
func LegacyName(base string) string { return base + "_legacy" }

// DropCascade drops schema.name and what depends on it.
func DropCascade(schema, name string) string {
	return "DROP TABLE " + Qualified(schema, name) + " CASCADE"
}

// CopyForward fills schema.part, whose last column is column, with the
// rows of from (schema and name), column set to $1.
func CopyForward(t *spec.Table, from [2]string, column string) string {
	var cols []string
	for _, c := range t.Columns {
		if c.Name != column {
			cols = append(cols, c.Name)
		}
	}
	list := IdentList(cols)
	return "INSERT INTO " + Qualified(t.Schema, t.Name) + " (" + list + ", " + Ident(column) + ") SELECT " + list +
		", $1::text FROM " + Qualified(from[0], from[1])
}

// CopyForwardMissing is CopyForward of the rows whose primary key
// schema.part lacks: those of the source that its first batch leaves as
// they were.
func CopyForwardMissing(t *spec.Table, from [2]string, column string) string {
	return CopyForward(t, from, column) + " AS s WHERE NOT EXISTS (SELECT FROM " + Qualified(t.Schema, t.Name) + " AS t WHERE " + sameKey(t) + ")"
}

// CreateRoot creates the partitioned table root, unless it exists, with
// the partition's columns and NOT NULL: no keys, no indexes.
func CreateRoot(t *spec.Table, root, column string) string {
	return "CREATE TABLE IF NOT EXISTS " + Qualified(t.Schema, root) + " (" + columnDefs(t, false) +
		") PARTITION BY LIST (" + Ident(column) + ")"
}

// AttachStatement is the statement attaching $1.$3 to $1.$2 for the
// version $4, quoted by the server (DDL takes no parameters).
const AttachStatement = `SELECT pg_catalog.format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES IN (%L)', $1::text, $2::text, $1::text, $3::text, $4::text)`

// VersionView creates or replaces the view schema.base on the partition.
func VersionView(schema, base, part string) string {
	return CreateView(Qualified(schema, base), false, "SELECT * FROM "+Qualified(schema, part))
}

// HashColumns lists the columns of $1.$2 as upstream's hash reads them:
// in attnum order, one row per index that holds the column (one when
// none), with whether that index is the primary key. Upstream's list,
// duplicates included, must be kept so that both compute one hash.
const HashColumns = `SELECT a.attname::text, COALESCE(i.indisprimary, false)
	FROM pg_catalog.pg_attribute a
	LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND a.attnum = ANY (i.indkey)
	WHERE a.attrelid = ` + relation + ` AND a.attnum > 0 AND NOT a.attisdropped
	ORDER BY a.attnum`

// Hash is the MD5 (32 hex digits) of the concatenated text of
// ROW(columns) of every row of schema.table in order, as UTF-8 whatever
// the server's encoding, and the row count; no row gives NULL and 0. The
// server builds the text as one value, so it cannot exceed 1 GB.
func Hash(schema, table string, columns, order []string) string {
	return "SELECT pg_catalog.md5(pg_catalog.convert_to(pg_catalog.string_agg(ROW(" + IdentList(columns) + ")::text, '' ORDER BY " +
		IdentList(order) + "), 'UTF8')), count(*)::int8 FROM " + Qualified(schema, table)
}
