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

// columnDefs renders the column list of a CREATE TABLE: names, types,
// nullability, and single-column unique constraints when unique is set.
func columnDefs(t *spec.Table, unique bool) string {
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		defs[i] = columnDef(c, unique)
	}
	return strings.Join(defs, ", ")
}

// columnDef renders one column of a CREATE TABLE or ADD COLUMN.
func columnDef(c spec.Column, unique bool) string {
	def := Ident(c.Name) + " " + c.Type
	if !c.Nullable {
		def += " NOT NULL"
	}
	if unique && c.Unique {
		def += " UNIQUE"
	}
	return def
}

// AddColumns appends columns to schema.table, with their nullability.
// Without a default, ADD COLUMN only records a column in the catalog: the
// rows stay as they are, and read NULL in it.
func AddColumns(schema, table string, cols []spec.Column) string {
	adds := make([]string, len(cols))
	for i, c := range cols {
		adds[i] = "ADD COLUMN " + columnDef(c, false)
	}
	return "ALTER TABLE " + Qualified(schema, table) + " " + strings.Join(adds, ", ")
}

// CreateMissingTable creates the wanted table unless it exists, as
// upstream does: columns, nullability and unique only. Its first batch
// then finds the primary key and indexes missing, and rebuilds it.
func CreateMissingTable(t *spec.Table) string {
	return "CREATE TABLE IF NOT EXISTS " + Qualified(t.Schema, t.Name) + " (" + columnDefs(t, true) + ")"
}

// CreateIngestTable creates the new table that a rebuild fills, with its
// primary key and unique constraints when constraints is set, else with
// columns and nullability only: an upsert adds those once its rows are in
// (AddPrimaryKey, AddUnique), as building an index from the sorted rows
// costs several times less than maintaining it row by row.
func CreateIngestTable(t *spec.Table, name string, constraints bool) string {
	defs := columnDefs(t, constraints)
	if pk := t.PrimaryKey(); constraints && len(pk) > 0 {
		defs += ", PRIMARY KEY (" + IdentList(pk) + ")"
	}
	return "CREATE TABLE " + Qualified(t.Schema, name) + " (" + defs + ")"
}

// AddPrimaryKey adds the wanted primary key to schema.table.
func AddPrimaryKey(t *spec.Table, table string) string {
	return "ALTER TABLE " + Qualified(t.Schema, table) + " ADD PRIMARY KEY (" + IdentList(t.PrimaryKey()) + ")"
}

// AddUnique adds a unique constraint on one column of schema.table.
func AddUnique(schema, table, column string) string {
	return "ALTER TABLE " + Qualified(schema, table) + " ADD UNIQUE (" + Ident(column) + ")"
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

// CreateCheckedStaging creates a per-batch staging table as CreateStaging
// does, with the columns' NOT NULL, so that COPY names a row without a
// value where one is needed.
func CreateCheckedStaging(t *spec.Table, name string) string {
	return "CREATE TEMPORARY TABLE " + Ident(name) + " (" + columnDefs(t, false) + ") ON COMMIT DROP"
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
	return "COPY " + tableName(schema, table) + " (" + IdentList(columns) + ") FROM STDIN (FORMAT " + format + ")"
}

// InsertRows appends the rows of query, the caller's VALUES list or
// SELECT as its driver composed it, to the named columns of schema.table
// (a temporary table when schema is ""). The query's values are in its
// text, so it runs with no parameters.
func InsertRows(schema, table string, columns []string, query string) string {
	return "INSERT INTO " + tableName(schema, table) + " (" + IdentList(columns) + ") " + query
}

// tableName quotes schema.table, or table alone when schema is "".
func tableName(schema, table string) string {
	if schema == "" {
		return Ident(table)
	}
	return Qualified(schema, table)
}

// Upsert moves the staging rows into the table, replacing every column
// of rows whose key exists already unless the stored row is identical
// byte for byte (the record image operator *=, which tells 1.0 from 1.00
// and works for types without equality, such as json): an unchanged row
// is not rewritten. With dedupe, only the last row of each key is taken
// (COPY appends, so the highest ctid is the last one sent); without it,
// a key sent twice fails with cardinality_violation (SQLSTATE 21000),
// sparing the sort when keys are unique.
func Upsert(t *spec.Table, table, staging string, dedupe bool) string {
	return "INSERT INTO " + Qualified(t.Schema, table) + " AS t (" + IdentList(t.ColumnNames()) + ") " +
		stagedRows(t, staging, dedupe) + onConflict(t)
}

// UpsertChanged is Upsert, with dedupe, for a batch that mostly sends
// rows the table holds as they are: an anti-join first drops the staged
// rows the table holds unchanged (sameRow; types are the columns' type
// OIDs), so that only new and changed rows reach ON CONFLICT, which locks
// every row it conflicts with (a WAL record each, whatever its WHERE
// decides). The caller leaves the planner merge joins only
// (MergeJoinOnly): the sort that keeps the last row of each key orders
// the staged rows for it, and the table is read in key order by its
// primary key.
func UpsertChanged(t *spec.Table, table, staging string, types []uint32) string {
	cols := IdentList(t.ColumnNames())
	return "INSERT INTO " + Qualified(t.Schema, table) + " AS t (" + cols + ") SELECT " + cols +
		" FROM (" + stagedRows(t, staging, true) + ") AS s WHERE NOT " + heldUnchanged(t, table, types) + onConflict(t)
}

// EstimatedRows reads the estimated row count of table $1 (its quoted
// name): -1 before it was first vacuumed or analysed.
const EstimatedRows = `SELECT reltuples::int8 FROM pg_catalog.pg_class WHERE oid = $1::regclass`

// SampleUnchanged reads, of about $1 percent of the staging table's rows,
// how many were sampled and how many the table holds unchanged: what the
// choice of UpsertChanged weighs.
func SampleUnchanged(t *spec.Table, table, staging string, types []uint32) string {
	return "SELECT count(*), count(*) FILTER (WHERE " + heldUnchanged(t, table, types) + ") FROM " + Ident(staging) +
		" AS s TABLESAMPLE SYSTEM ($1)"
}

// heldUnchanged tells whether schema.table holds the staged row s
// unchanged.
func heldUnchanged(t *spec.Table, table string, types []uint32) string {
	return "EXISTS (SELECT FROM " + Qualified(t.Schema, table) + " AS t WHERE " + sameKey(t) + " AND " + sameRow(t, types) + ")"
}

// byEquality holds the types whose equality tells apart any two values
// that read back differently, with the collation that makes text's
// equality byte equality; not floats (-0 = 0), NUMERIC (1.0 = 1.00),
// intervals (1 day = 24 hours), jsonb (its numbers alike), json (no
// equality) and the like.
var byEquality = map[uint32]string{
	16: "", 17: "", 20: "", 21: "", 23: "", 26: "", // bool, bytea, int8, int2, int4, oid
	25: ` COLLATE pg_catalog."C"`, 1043: ` COLLATE pg_catalog."C"`, // text, varchar
	1082: "", 1083: "", 1114: "", 1184: "", 2950: "", // date, time, timestamp, timestamptz, uuid
}

const numericOID = 1700

// sameRow tells whether the rows t and s, whose columns have the given
// type OIDs, read back the same, as Upsert's *= tells but for less (a
// row value built per row costs more than the comparisons): a column of
// byEquality by IS NOT DISTINCT FROM, a NUMERIC by value and scale,
// which make its stored form, the others by *= on a row of them.
func sameRow(t *spec.Table, types []uint32) string {
	var same, stored, staged []string
	for k, c := range t.ColumnNames() {
		tc, sc := "t."+Ident(c), "s."+Ident(c)
		if collate, ok := byEquality[types[k]]; ok {
			same = append(same, tc+" IS NOT DISTINCT FROM "+sc+collate)
		} else if types[k] == numericOID {
			same = append(same, tc+" IS NOT DISTINCT FROM "+sc+" AND pg_catalog.scale("+tc+") IS NOT DISTINCT FROM pg_catalog.scale("+sc+")")
		} else {
			stored, staged = append(stored, tc), append(staged, sc)
		}
	}
	if len(stored) > 0 {
		same = append(same, "ROW("+strings.Join(stored, ", ")+")::record OPERATOR(pg_catalog.*=) ROW("+strings.Join(staged, ", ")+")::record")
	}
	return strings.Join(same, " AND ")
}

// onConflict replaces the non-key columns of a stored row of the same key
// unless it is identical byte for byte (see Upsert).
func onConflict(t *spec.Table) string {
	var sets []string
	for _, c := range t.Columns {
		if !c.PrimaryKey {
			sets = append(sets, Ident(c.Name)+" = EXCLUDED."+Ident(c.Name))
		}
	}
	action := "DO NOTHING" // every column is in the key: nothing to replace
	if len(sets) > 0 {
		action = "DO UPDATE SET " + strings.Join(sets, ", ") +
			" WHERE NOT (t.*::record OPERATOR(pg_catalog.*=) EXCLUDED.*::record)"
	}
	return " ON CONFLICT (" + IdentList(t.PrimaryKey()) + ") " + action
}

// JoinSettings reads the settings MergeJoinOnly changes, which
// RestoreJoinSettings puts back ($1, $2).
const JoinSettings = `SELECT pg_catalog.current_setting('enable_hashjoin'), pg_catalog.current_setting('enable_nestloop')`

// MergeJoinOnly leaves the planner merge joins only until the transaction
// ends or RestoreJoinSettings runs.
const MergeJoinOnly = `SELECT pg_catalog.set_config('enable_hashjoin', 'off', true), pg_catalog.set_config('enable_nestloop', 'off', true)`

// RestoreJoinSettings puts back the settings JoinSettings read.
const RestoreJoinSettings = `SELECT pg_catalog.set_config('enable_hashjoin', $1, true), pg_catalog.set_config('enable_nestloop', $2, true)`

// stagedRows selects the rows of a staging table, only the last of each
// key with dedupe.
func stagedRows(t *spec.Table, staging string, dedupe bool) string {
	cols := IdentList(t.ColumnNames())
	if !dedupe {
		return "SELECT " + cols + " FROM " + Ident(staging)
	}
	pk := IdentList(t.PrimaryKey())
	return "SELECT DISTINCT ON (" + pk + ") " + cols + " FROM " + Ident(staging) + " ORDER BY " + pk + ", ctid DESC"
}

// DeleteStagedKeys deletes from schema.table, a new ingest table holding
// the old table's rows, those whose key the staging table has: the batch
// replaces them. A subquery, not a join: Citus plans it on its own, where
// it refuses to join a reference table to the (local) staging table.
func DeleteStagedKeys(t *spec.Table, table, staging string) string {
	pk := IdentList(t.PrimaryKey())
	return "DELETE FROM " + Qualified(t.Schema, table) + " WHERE (" + pk + ") IN (SELECT " + pk + " FROM " + Ident(staging) + ")"
}

// sameKey matches the rows of t and s that share a primary key.
func sameKey(t *spec.Table) string {
	var on []string
	for _, k := range t.PrimaryKey() {
		on = append(on, "t."+Ident(k)+" = s."+Ident(k))
	}
	return strings.Join(on, " AND ")
}

// InsertStaged appends the last staged row of each key to schema.table.
func InsertStaged(t *spec.Table, table, staging string) string {
	return insertStaged(t, table, staging, true)
}

// AppendStaged appends every staged row to schema.table, in order.
func AppendStaged(t *spec.Table, table, staging string) string {
	return insertStaged(t, table, staging, false)
}

func insertStaged(t *spec.Table, table, staging string, dedupe bool) string {
	return "INSERT INTO " + Qualified(t.Schema, table) + " (" + IdentList(t.ColumnNames()) + ") " + stagedRows(t, staging, dedupe)
}

// DeleteDuplicateKeys keeps, of the rows of schema.table sharing a key,
// the last one appended: the upsert of a table loaded by COPY alone,
// whose physical order is the order the rows were sent in.
func DeleteDuplicateKeys(t *spec.Table, table string) string {
	pk := IdentList(t.PrimaryKey())
	return "DELETE FROM " + Qualified(t.Schema, table) + " WHERE ctid IN (SELECT ctid FROM (SELECT ctid, " +
		"pg_catalog.row_number() OVER (PARTITION BY " + pk + " ORDER BY ctid DESC) AS n FROM " +
		Qualified(t.Schema, table) + ") AS d WHERE n > 1)"
}

// Savepoint, RollbackTo and Release manage the savepoint that lets a
// cheap attempt fail and be retried the careful way.
const (
	Savepoint  = `SAVEPOINT "pg_bulk_ingest"`
	RollbackTo = `ROLLBACK TO SAVEPOINT "pg_bulk_ingest"`
	Release    = `RELEASE SAVEPOINT "pg_bulk_ingest"`
)

// SchemaExists answers whether schema $1 exists.
const SchemaExists = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`

// LockName takes a transaction-scoped advisory lock on the name $1.
const LockName = `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))`

// TableLockKey is the key by which ingests lock the table $1 (quoted and
// qualified): its hashtext, an int4. Keys of different tables may
// collide: that only makes their ingests wait for each other.
const TableLockKey = `SELECT pg_catalog.hashtext($1::text)`

// TryLockTable takes the transaction-scoped advisory lock that ingests
// into the table of key $1 (TableLockKey) hold during each batch, if no
// other session holds it, and answers whether it did. The two-int4 form
// of the key, (hashtext('pg_bulk_ingest'), key), keeps it apart from the
// one-bigint keys of LockName.
const TryLockTable = `SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('pg_bulk_ingest'), $1::int4)`

// LockTable waits for the lock of TryLockTable and takes it.
const LockTable = `SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pg_bulk_ingest'), $1::int4)`

// CurrentXact is the ID of the current transaction, as text: a bigint
// that a float would round. The txid_ functions, unlike their PostgreSQL
// 13 renames, are in every supported version.
const CurrentXact = `SELECT pg_catalog.txid_current()::text`

// XactStatus is the status of transaction $1 (CurrentXact): 'in progress'
// while it is the current one, else 'committed' or 'aborted'.
const XactStatus = `SELECT pg_catalog.txid_status($1::text::bigint)`

// TableExists answers whether $1.$2 is a table.
const TableExists = `SELECT EXISTS (
	SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))`

// ReadComment reads the comment of $1.$2.
const ReadComment = `SELECT pg_catalog.obj_description(pg_catalog.format('%I.%I', $1::text, $2::text)::regclass, 'pg_class')`

// CommentStatement is the statement that sets the comment of $1.$2 to
// $3, quoted by the server: COMMENT takes no parameters, and a DO block
// would need PL/pgSQL, which hardened servers drop.
const CommentStatement = `SELECT pg_catalog.format('COMMENT ON TABLE %I.%I IS %L', $1::text, $2::text, $3::text)`
