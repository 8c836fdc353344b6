"""Against a Citus cluster (the citus_url fixture: CITUS_DATABASE_URL, or a
local coordinator and two workers that tests/citus_cluster.py builds and
starts), skipped with the reason when there is none."""

from __future__ import annotations

from typing import Any, Callable, Sequence, Set, Tuple

import pytest
import sqlalchemy as sa
from helpers import execute, qi, query, rows_of, run_ingest

from pg_bulk_ingest import Delete


@pytest.fixture(scope="session")
def database_url(citus_url: str) -> str:
    """This module's engine and schema fixtures (conftest.py) are the
    Citus coordinator's."""
    return citus_url


def test_cluster_distributes(engine: sa.engine.Engine, schema: str) -> None:
    table = f'"{schema}"."t"'
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f"CREATE TABLE {table} (id bigint PRIMARY KEY, v text)"))
        conn.execute(sa.text("SELECT create_distributed_table(:t, 'id')"), {"t": table})
        conn.execute(sa.text(f"INSERT INTO {table} SELECT i, i::text FROM generate_series(1, 1000) i"))
    with engine.connect() as conn:
        method = conn.execute(sa.text("SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = CAST(:t AS regclass)"),
                              {"t": table}).scalar()
        shard_ports = set(conn.execute(sa.text("SELECT nodeport FROM citus_shards WHERE table_name = CAST(:t AS regclass)"),
                                       {"t": table}).scalars())
        worker_ports = set(conn.execute(sa.text("SELECT nodeport FROM pg_dist_node WHERE groupid <> 0")).scalars())
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
    assert method == "h"
    assert len(worker_ports) >= 2
    assert shard_ports == worker_ports
    assert count == 1000


# --- the ingest keeps Citus's distribution through every rebuild ---------
# Each test reads back, after each ingest, the rows, the table's Citus type
# and colocation group and the nodes holding its shards.


def placement(engine: sa.engine.Engine, schema: str, name: str) -> Tuple[str, str, int, Set[int]]:
    """(Citus type, distribution column, colocation group, ports of the
    nodes holding its shards) of schema.name."""
    table = qi(schema, name)
    kind, column, colocation = query(
        engine, "SELECT citus_table_type, distribution_column, colocation_id FROM citus_tables "
        "WHERE table_name = CAST(:t AS regclass)", t=table)[0]
    ports = {r[0] for r in query(engine, "SELECT nodeport FROM citus_shards WHERE table_name = CAST(:t AS regclass)", t=table)}
    return kind, column, colocation, ports


def worker_ports(engine: sa.engine.Engine) -> Set[int]:
    return {r[0] for r in query(engine, "SELECT nodeport FROM pg_dist_node WHERE groupid <> 0")}


def kv(schema: str, *extra: sa.Column, name: str = "t", unique_v: bool = False) -> sa.Table:
    return sa.Table(name, sa.MetaData(), sa.Column("id", sa.INTEGER, primary_key=True),
                    sa.Column("v", sa.TEXT, unique=unique_v), *extra, schema=schema)


def batch(table: sa.Table, hwm: int, ids: Sequence[int]) -> Callable[[Any], Any]:
    extra = len(table.columns) - 2
    return lambda _: [(hwm, None, rows_of(table, [(i, f"v{i}", *[f"x{i}"] * extra) for i in ids]))]


def distributed_pair(engine: sa.engine.Engine, schema: str) -> None:
    """schema.t (id, v) distributed on id, and schema.c colocated with it."""
    execute(engine, f"CREATE SCHEMA {qi(schema)}",
            f"CREATE TABLE {qi(schema, 't')} (id integer PRIMARY KEY, v text)",
            f"SELECT create_distributed_table('{qi(schema, 't')}', 'id')",
            f"CREATE TABLE {qi(schema, 'c')} (id integer, w text)",
            f"SELECT create_distributed_table('{qi(schema, 'c')}', 'id', colocate_with => '{qi(schema, 't')}')",
            f"INSERT INTO {qi(schema, 'c')} VALUES (1, 'w1'), (2, 'w2')")


def assert_colocated(engine: sa.engine.Engine, schema: str) -> None:
    kind, column, colocation, ports = placement(engine, schema, "t")
    assert (kind, column) == ("distributed", "id")
    assert colocation == placement(engine, schema, "c")[2]
    assert ports == worker_ports(engine) and len(ports) >= 2


def test_upsert_batches_into_distributed_table(engine: sa.engine.Engine, schema: str) -> None:
    distributed_pair(engine, schema)
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2, 3]))
    run_ingest(engine, t.metadata, batch(t, 2, [3, 4]))
    assert query(engine, f"SELECT id, v FROM {qi(schema, 't')} ORDER BY id") == [
        (1, "v1"), (2, "v2"), (3, "v3"), (4, "v4")]
    assert_colocated(engine, schema)


@pytest.mark.parametrize("views", ["none", "views"])
def test_migration_keeps_distribution(engine: sa.engine.Engine, schema: str, views: str) -> None:
    distributed_pair(engine, schema)
    if views == "views":
        execute(engine,
                f"CREATE VIEW {qi(schema, 'plain')} AS SELECT id, v FROM {qi(schema, 't')}",
                f"CREATE VIEW {qi(schema, 'j')} AS SELECT t.id, t.v, c.w FROM {qi(schema, 't')} t "
                f"JOIN {qi(schema, 'c')} c USING (id)")
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2, 3]))
    t = kv(schema, sa.Column("x", sa.TEXT, index=True))  # unindexed: added in place
    run_ingest(engine, t.metadata, batch(t, 2, [3, 4]))
    assert query(engine, f"SELECT id, v, x FROM {qi(schema, 't')} ORDER BY id") == [
        (1, "v1", None), (2, "v2", None), (3, "v3", "x3"), (4, "v4", "x4")]
    assert_colocated(engine, schema)
    if views == "views":
        assert query(engine, f"SELECT id, v, w FROM {qi(schema, 'j')} ORDER BY id") == [
            (1, "v1", "w1"), (2, "v2", "w2")]
        assert query(engine, f"SELECT count(*) FROM {qi(schema, 'plain')}") == [(4,)]
        # The views are Citus's distributed objects again, on every node.
        assert query(engine, "SELECT count(*) FROM pg_dist_object WHERE objid IN "
                     f"(CAST(:p AS regclass), CAST(:j AS regclass))",
                     p=qi(schema, "plain"), j=qi(schema, "j")) == [(2,)]


def test_delete_before_first_batch_keeps_distribution(engine: sa.engine.Engine, schema: str) -> None:
    distributed_pair(engine, schema)
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2, 3]))
    run_ingest(engine, t.metadata, batch(t, 2, [7]), delete=Delete.BEFORE_FIRST_BATCH)
    assert query(engine, f"SELECT id, v FROM {qi(schema, 't')}") == [(7, "v7")]
    assert_colocated(engine, schema)


def test_reference_table_migrated(engine: sa.engine.Engine, schema: str) -> None:
    execute(engine, f"CREATE SCHEMA {qi(schema)}",
            f"CREATE TABLE {qi(schema, 't')} (id integer PRIMARY KEY, v text)",
            f"SELECT create_reference_table('{qi(schema, 't')}')")
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2]))
    t = kv(schema, sa.Column("x", sa.TEXT, index=True))  # unindexed: added in place
    run_ingest(engine, t.metadata, batch(t, 2, [2, 3]))
    assert query(engine, f"SELECT id, x FROM {qi(schema, 't')} ORDER BY id") == [
        (1, None), (2, "x2"), (3, "x3")]
    kind, _, _, ports = placement(engine, schema, "t")
    assert kind == "reference"
    assert worker_ports(engine) <= ports


def test_schema_sharded_table_migrated(engine: sa.engine.Engine, schema: str) -> None:
    execute(engine, f"CREATE SCHEMA {qi(schema)}",
            f"SELECT citus_schema_distribute('{qi(schema)}')")
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2]))
    before = placement(engine, schema, "t")
    t = kv(schema, sa.Column("x", sa.TEXT, index=True))  # unindexed: added in place
    run_ingest(engine, t.metadata, batch(t, 2, [2, 3]))
    assert query(engine, f"SELECT id, x FROM {qi(schema, 't')} ORDER BY id") == [
        (1, None), (2, "x2"), (3, "x3")]
    assert before[0] == "schema"
    assert placement(engine, schema, "t") == before
    assert before[2] == query(engine, "SELECT colocationid FROM pg_dist_schema WHERE schemaid = CAST(:s AS regnamespace)",
                              s=qi(schema))[0][0]


def test_unsupported_shape_refused(engine: sa.engine.Engine, schema: str) -> None:
    """A wanted primary key that leaves the distribution column out."""
    execute(engine, f"CREATE SCHEMA {qi(schema)}",
            f"CREATE TABLE {qi(schema, 't')} (tenant integer, id integer, v text, PRIMARY KEY (tenant, id))",
            f"SELECT create_distributed_table('{qi(schema, 't')}', 'tenant')",
            f"INSERT INTO {qi(schema, 't')} VALUES (1, 1, 'old')")
    before = placement(engine, schema, "t")
    t = kv(schema, sa.Column("tenant", sa.INTEGER, nullable=False))
    with pytest.raises(Exception, match=r'distributed by Citus on column "tenant".*primary key \("id"\).*add the column'):
        run_ingest(engine, t.metadata, batch(t, 1, [1]))
    assert placement(engine, schema, "t") == before
    assert query(engine, f"SELECT tenant, id, v FROM {qi(schema, 't')}") == [(1, 1, "old")]
    assert query(engine, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = :s AND c.relname LIKE '\\_tmp\\_%'", s=schema) == [(0,)]


def test_migration_committed_by_on_before_visible(engine: sa.engine.Engine, schema: str) -> None:
    """The swap then runs in a transaction of its own, sequential too: the
    view on the table comes back."""
    distributed_pair(engine, schema)
    execute(engine, f"CREATE VIEW {qi(schema, 'j')} AS SELECT t.id, c.w FROM {qi(schema, 't')} t "
            f"JOIN {qi(schema, 'c')} c USING (id)")
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2]))
    t = kv(schema, sa.Column("x", sa.TEXT))
    run_ingest(engine, t.metadata, batch(t, 2, [3]), on_before_visible=lambda conn, _table, _meta: conn.commit())
    assert query(engine, f"SELECT id, w FROM {qi(schema, 'j')} ORDER BY id") == [(1, "w1"), (2, "w2")]
    assert query(engine, f"SELECT count(x) FROM {qi(schema, 't')}") == [(1,)]
    assert_colocated(engine, schema)


def test_rebuild_upsert_keeps_the_last_row_of_a_key(engine: sa.engine.Engine, schema: str) -> None:
    """A key sent twice into a rebuilt distributed table: Citus refuses the
    ctid-based delete of the earlier rows, so the rows are staged."""
    distributed_pair(engine, schema)
    t = kv(schema)
    run_ingest(engine, t.metadata, lambda _: [(1, None, rows_of(t, [(7, "a"), (7, "b"), (8, "c")]))],
               delete=Delete.BEFORE_FIRST_BATCH)
    assert query(engine, f"SELECT id, v FROM {qi(schema, 't')} ORDER BY id") == [(7, "b"), (8, "c")]
    assert_colocated(engine, schema)


def test_migration_keeps_grants(engine: sa.engine.Engine, schema: str) -> None:
    role = f"r_{schema}"
    distributed_pair(engine, schema)
    execute(engine, f"CREATE ROLE {qi(role)} LOGIN", f"GRANT USAGE ON SCHEMA {qi(schema)} TO {qi(role)}",
            f"GRANT SELECT ON {qi(schema, 't')} TO {qi(role)}")
    try:
        t = kv(schema, sa.Column("x", sa.TEXT, index=True))  # unindexed: added in place
        run_ingest(engine, t.metadata, batch(t, 1, [1, 2]))
        assert_colocated(engine, schema)
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL ROLE {qi(role)}"))
            assert conn.execute(sa.text(f"SELECT count(*) FROM {qi(schema, 't')}")).scalar() == 2
    finally:
        execute(engine, f"DROP OWNED BY {qi(role)}", f"DROP ROLE {qi(role)}")


@pytest.mark.parametrize("kind", ["distributed", "reference"])
def test_column_appended_in_place_keeps_distribution(engine: sa.engine.Engine, schema: str, kind: str) -> None:
    """A nullable column appended goes onto every shard by ADD COLUMN: the
    table keeps its OID and its placement, the view joining it to a
    colocated table works on."""
    if kind == "distributed":
        distributed_pair(engine, schema)
        execute(engine, f"CREATE VIEW {qi(schema, 'j')} AS SELECT t.id, t.v, c.w FROM {qi(schema, 't')} t "
                f"JOIN {qi(schema, 'c')} c USING (id)")
    else:
        execute(engine, f"CREATE SCHEMA {qi(schema)}",
                f"CREATE TABLE {qi(schema, 't')} (id integer PRIMARY KEY, v text)",
                f"SELECT create_reference_table('{qi(schema, 't')}')")
    t = kv(schema)
    run_ingest(engine, t.metadata, batch(t, 1, [1, 2, 3]))
    oid = query(engine, "SELECT CAST(CAST(:t AS regclass) AS oid)", t=qi(schema, "t"))
    before = placement(engine, schema, "t")
    t = kv(schema, sa.Column("x", sa.TEXT))
    run_ingest(engine, t.metadata, batch(t, 2, [3, 4]))
    assert query(engine, "SELECT CAST(CAST(:t AS regclass) AS oid)", t=qi(schema, "t")) == oid
    assert placement(engine, schema, "t") == before
    assert query(engine, f"SELECT id, v, x FROM {qi(schema, 't')} ORDER BY id") == [
        (1, "v1", None), (2, "v2", None), (3, "v3", "x3"), (4, "v4", "x4")]
    if kind == "distributed":
        assert_colocated(engine, schema)
        assert query(engine, f"SELECT id, w FROM {qi(schema, 'j')} ORDER BY id") == [(1, "w1"), (2, "w2")]
