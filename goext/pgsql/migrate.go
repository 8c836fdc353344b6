package pgsql

import (
	"strconv"
	"strings"
)

// regclass of $1.$2, for the catalog queries.
const relation = `pg_catalog.format('%I.%I', $1::text, $2::text)::regclass`

// LiveColumns lists the columns of $1.$2 in order: name, type OID, type
// as the server writes it, binary receive function, NOT NULL, in the
// primary key, and unique by a single-column unique constraint.
const LiveColumns = `SELECT a.attname::text, a.atttypid::int8, pg_catalog.format_type(a.atttypid, a.atttypmod), p.proname::text,
	a.attnotnull,
	EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = a.attrelid AND k.contype = 'p' AND a.attnum = ANY (k.conkey)),
	EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = a.attrelid AND k.contype = 'u' AND k.conkey = ARRAY[a.attnum])
	FROM pg_catalog.pg_attribute a
	JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
	LEFT JOIN pg_catalog.pg_proc p ON p.oid = t.typreceive
	WHERE a.attrelid = ` + relation + `
	AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

// LiveIndexes lists the indexes of $1.$2 that no constraint owns: key
// columns and INCLUDE columns as JSON arrays (an expression by its text),
// unique, access method and predicate (” when none).
const LiveIndexes = `SELECT
	pg_catalog.to_json(ARRAY(` + indexColumns + ` k.n <= i.indnkeyatts ORDER BY k.n))::text,
	pg_catalog.to_json(ARRAY(` + indexColumns + ` k.n > i.indnkeyatts ORDER BY k.n))::text,
	i.indisunique, am.amname::text, COALESCE(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '')
	FROM pg_catalog.pg_index i
	JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
	JOIN pg_catalog.pg_am am ON am.oid = ic.relam
	WHERE i.indrelid = ` + relation + `
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)`

const indexColumns = `SELECT COALESCE(a.attname::text, pg_catalog.pg_get_indexdef(i.indexrelid, k.n::int, true))
	FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
	LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
	WHERE`

// CreateTypeProbe creates a temporary table whose columns c1, c2, ...
// have the given types, so that the server reads the types.
func CreateTypeProbe(name string, types []string) string {
	cols := make([]string, len(types))
	for i, t := range types {
		cols[i] = "c" + strconv.Itoa(i+1) + " " + t
	}
	return "CREATE TEMPORARY TABLE " + Ident(name) + " (" + strings.Join(cols, ", ") + ") ON COMMIT DROP"
}

// ProbeTypes reads the types of the temporary table $1 in column order.
const ProbeTypes = `SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
	WHERE a.attrelid = pg_catalog.format('pg_temp.%I', $1::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped
	ORDER BY a.attnum`

// DropTemporary drops a temporary table of this session.
func DropTemporary(name string) string {
	return "DROP TABLE pg_temp." + Ident(name)
}

// CopyColumns copies the named columns of every row of schema.from into
// schema.to; assignment casts convert changed types.
func CopyColumns(schema, from, to string, columns []string) string {
	cols := IdentList(columns)
	return "INSERT INTO " + Qualified(schema, to) + " (" + cols + ") SELECT " + cols + " FROM " + Qualified(schema, from)
}

// Grantees lists who holds SELECT on relation $1 (an OID), quoted by
// the server as GRANT takes them, PUBLIC included. With $2, a relation
// without an ACL counts its owner's default privileges.
const Grantees = `SELECT DISTINCT CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
	FROM pg_catalog.pg_class c
	CROSS JOIN LATERAL pg_catalog.aclexplode(CASE WHEN $2::bool THEN COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner)) ELSE c.relacl END) acl
	LEFT JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
	WHERE c.oid = $1::oid AND acl.privilege_type = 'SELECT'
	ORDER BY 1`

// RelationOID is the OID of $1.$2.
const RelationOID = `SELECT ` + relation + `::oid::int8`

// GrantSelect grants SELECT on rel to the grantees, all already quoted.
func GrantSelect(rel string, grantees []string) string {
	return "GRANT SELECT ON TABLE " + rel + " TO " + strings.Join(grantees, ", ")
}

// DependentViews lists the views and materialized views that depend on
// relation $1 (an OID), directly or through other views; UNION drops the
// rows found already, which ends the recursion on cycles. Per view: OID,
// quoted qualified name, whether materialized, definition, columns as a
// JSON array of [name, type with collation], and the OIDs of the
// relations it reads as a JSON array.
const DependentViews = `WITH RECURSIVE views(oid) AS (
	SELECT r.ev_class FROM pg_catalog.pg_depend d
	JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
	JOIN pg_catalog.pg_class c ON c.oid = r.ev_class AND c.relkind IN ('v', 'm')
	WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = $1::oid
	AND d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.ev_class <> d.refobjid
	UNION
	SELECT r.ev_class FROM views v
	JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = v.oid
	AND d.classid = 'pg_catalog.pg_rewrite'::regclass
	JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
	JOIN pg_catalog.pg_class c ON c.oid = r.ev_class AND c.relkind IN ('v', 'm')
	WHERE r.ev_class <> d.refobjid
)
SELECT c.oid::int8, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind = 'm', pg_catalog.pg_get_viewdef(c.oid),
	(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname,
		pg_catalog.format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attcollation <> t.typcollation
			THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END) ORDER BY a.attnum)
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
		LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
		LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
		WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text,
	(SELECT pg_catalog.json_agg(DISTINCT d.refobjid::int8) FROM pg_catalog.pg_rewrite r
		JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
		AND d.refclassid = 'pg_catalog.pg_class'::regclass
		WHERE r.ev_class = c.oid AND d.refobjid <> c.oid)::text
	FROM views JOIN pg_catalog.pg_class c ON c.oid = views.oid
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	ORDER BY c.oid`

// ViewColumn is a view's column: its name and its type as SQL.
type ViewColumn struct {
	Name, Type string
}

// DropView drops a view (name already quoted) and what depends on it.
func DropView(name string, materialized bool) string {
	return "DROP " + ViewKind(materialized) + " IF EXISTS " + name + " CASCADE"
}

// ViewKind is the SQL keyword of a view or materialized view.
func ViewKind(materialized bool) string {
	if materialized {
		return "MATERIALIZED VIEW"
	}
	return "VIEW"
}

// CreateDummyView creates a view (name already quoted) with the given
// columns and no rows, a stand-in for the real one until it is replaced.
func CreateDummyView(name string, cols []ViewColumn) string {
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = "NULL::" + c.Type + " AS " + Ident(c.Name)
	}
	return "CREATE VIEW " + name + " AS SELECT " + strings.Join(sel, ", ") + " FROM (SELECT 1) AS t LIMIT 0"
}

// CreateView creates or replaces a view (name already quoted) with the
// server's own text of its query.
func CreateView(name string, materialized bool, definition string) string {
	if materialized {
		return "CREATE MATERIALIZED VIEW " + name + " AS " + definition
	}
	return "CREATE OR REPLACE VIEW " + name + " AS " + definition
}

// CountUpTo counts the rows of the temporary table name, stopping at $1.
func CountUpTo(name string) string {
	return "SELECT count(*) FROM (SELECT FROM " + Ident(name) + " LIMIT $1::int8) AS s"
}

// RefreshMaterializedView refreshes a materialized view (name already
// quoted).
func RefreshMaterializedView(name string) string {
	return "REFRESH MATERIALIZED VIEW " + name
}

// OrdinaryTable answers whether $1.$2 is a table that ALTER TABLE changes
// alone, as a rebuild would leave it: not partitioned, not a partition,
// neither parent nor child in an inheritance, not of a composite type.
const OrdinaryTable = `SELECT c.relkind = 'r' AND NOT c.relispartition AND c.reloftype = 0
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)
	FROM pg_catalog.pg_class c WHERE c.oid = ` + relation

// DropLiveTable drops schema.name.
func DropLiveTable(schema, name string) string {
	return "DROP TABLE " + Qualified(schema, name)
}

// RenameTable renames schema.from to to.
func RenameTable(schema, from, to string) string {
	return "ALTER TABLE " + Qualified(schema, from) + " RENAME TO " + Ident(to)
}

// HasRows answers whether schema.table has any row. The subquery selects
// a column: Citus's planner refuses an empty select list on a distributed
// table.
func HasRows(schema, table string) string {
	return "SELECT EXISTS (SELECT 1 FROM " + Qualified(schema, table) + ")"
}

// LockSettings reads the session's lock_timeout, to restore after a
// swap's bounded waits, deadlock_timeout in milliseconds and lock_timeout
// in milliseconds (0: none).
const LockSettings = `SELECT pg_catalog.current_setting('lock_timeout'),
	(SELECT setting::int8 FROM pg_catalog.pg_settings WHERE name = 'deadlock_timeout'),
	(SELECT setting::int8 FROM pg_catalog.pg_settings WHERE name = 'lock_timeout')`

// SetLockTimeout sets lock_timeout to $1 until the transaction ends, or
// the savepoint it was set after is rolled back to.
const SetLockTimeout = `SELECT pg_catalog.set_config('lock_timeout', $1::text, true)`
