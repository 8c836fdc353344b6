package pgsql

// CitusInstalled answers whether the citus extension is installed: read
// once per ingest, so that plain PostgreSQL pays nothing more.
const CitusInstalled = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')`

// CitusTable reads how Citus spreads $1.$2, no row when it does not: its
// type as the citus_tables view names it ('distributed', 'reference',
// 'schema' for a table of a distributed schema, 'local'), its
// distribution column (empty when none) and its partition method ('h' hash,
// 'n' none, 'a' or 'r' the deprecated append and range). It reads the
// catalog, not citus_tables, which asks every worker for the table sizes.
const CitusTable = `SELECT CASE WHEN p.colocationid IN (SELECT s.colocationid FROM pg_catalog.pg_dist_schema s) THEN 'schema'
	WHEN p.partkey IS NOT NULL THEN 'distributed' WHEN p.repmodel = 't' THEN 'reference'
	WHEN p.colocationid = 0 THEN 'local' ELSE 'distributed' END,
	COALESCE(pg_catalog.column_to_column_name(p.logicalrelid, p.partkey), ''), p.partmethod::text
	FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = ` + relation

// CitusSequential makes Citus run the transaction's multi-shard commands
// over one connection per worker: it must precede the first of them. The
// DDL of a rebuild (the views created again, DROP, RENAME) then sees what
// the transaction's earlier commands did; after a parallel one Citus
// refuses it.
const CitusSequential = `SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`

// DistributeLike distributes $1.$2 as $1.$3 is, on column $4 (empty for a
// single-shard table), colocated with it: same shard count, same
// placements, so that it stays colocated with the tables joined to it.
const DistributeLike = `SELECT pg_catalog.create_distributed_table(` + relation + `, NULLIF($4::text, ''),
	colocate_with => pg_catalog.format('%I.%I', $1::text, $3::text))`

// ReferenceTable makes $1.$2 a Citus reference table, copied to every node.
const ReferenceTable = `SELECT pg_catalog.create_reference_table(` + relation + `)`

// CitusLocalTable adds $1.$2 to Citus's metadata as a local table of the
// coordinator.
const CitusLocalTable = `SELECT pg_catalog.citus_add_local_table_to_metadata(` + relation + `)`
