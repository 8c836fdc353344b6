"""A swap (a migration or Delete.BEFORE_FIRST_BATCH) keeps what depends on
the live table: SELECT grants (to roles and PUBLIC), views and materialized
views at any depth, in cycles and in other schemas, with their definitions
and grants; with any identifiers; and logs upstream's lines."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from helpers import (
    TMP_NAME,
    Batches,
    RecordingForceExecute,
    catalog_columns,
    execute,
    has_select,
    index_definitions,
    index_names,
    query,
    qi,
    relation_identity,
    rows_of,
    run_ingest,
    select_grantees,
    tmp_tables,
)

from pg_bulk_ingest import Delete


@pytest.fixture
def make_role(engine: sa.engine.Engine) -> Iterator[Callable[..., str]]:
    """Creates roles with unique names; drops them (and what they own or
    were granted) after the test."""
    made: List[str] = []

    def make(prefix: str = "pbi_role_") -> str:
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        execute(engine, f"CREATE ROLE {qi(name)}")
        made.append(name)
        return name

    yield make
    for name in reversed(made):
        execute(engine, f"REASSIGN OWNED BY {qi(name)} TO CURRENT_USER", f"DROP OWNED BY {qi(name)}", f"DROP ROLE {qi(name)}")


@pytest.fixture
def other_schema(engine: sa.engine.Engine) -> Iterator[str]:
    name = f"test_other_{uuid.uuid4().hex[:10]}"
    yield name
    execute(engine, f"DROP SCHEMA IF EXISTS {qi(name)} CASCADE")


def v1(schema: str, name: str = "t") -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        schema=schema,
    )


def v2(schema: str, name: str = "t") -> sa.Table:
    """v1 with one more column: ingesting with it migrates. Indexed, so that
    it is rebuilt and swapped (unindexed, it is added in place:
    test_add_column.py)."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("value", sa.VARCHAR(16)),
        sa.Column("extra", sa.INTEGER, index=True),
        schema=schema,
    )


def seed(engine: sa.engine.Engine, schema: str) -> sa.Table:
    t = v1(schema)
    run_ingest(engine, t.metadata, Batches((1, None, rows_of(t, [(1, "a"), (2, "b"), (3, "c")]))))
    return t


SWAPS = ["migration", "delete"]


def swap(engine: sa.engine.Engine, schema: str, how: str, **kwargs: Any) -> None:
    """An ingest that swaps a new table in for t: a changed definition adding
    (4, 'd'), or Delete.BEFORE_FIRST_BATCH keeping only (2, 'b') and (4, 'd')."""
    old_oid = relation_identity(engine, schema, "t")[0]
    if how == "migration":
        t = v2(schema)
        run_ingest(engine, t.metadata, Batches((2, None, rows_of(t, [(4, "d", 40)]))), **kwargs)
    else:
        t = v1(schema)
        run_ingest(
            engine, t.metadata, Batches((2, None, rows_of(t, [(2, "b"), (4, "d")]))), delete=Delete.BEFORE_FIRST_BATCH, **kwargs
        )
    assert relation_identity(engine, schema, "t")[0] != old_oid, "no swap happened"
    assert tmp_tables(engine, schema) == []


def view_definitions(engine: sa.engine.Engine, *schemas: str) -> Dict[Tuple[str, str], Tuple[str, str]]:
    """(schema, name) -> (kind, definition) of every view and materialized view in the schemas."""
    found = query(
        engine,
        "SELECT schemaname::text, viewname::text, 'v', definition FROM pg_views WHERE schemaname = ANY(:s) "
        "UNION ALL SELECT schemaname::text, matviewname::text, 'm', definition FROM pg_matviews WHERE schemaname = ANY(:s)",
        s=list(schemas),
    )
    return {(r[0], r[1]): (r[2], r[3]) for r in found}


# --- grants on the table -------------------------------------------------


@pytest.mark.parametrize("how", SWAPS)
def test_select_grants_on_the_table_survive_a_swap(
    engine: sa.engine.Engine, schema: str, make_role: Callable[..., str], how: str
) -> None:
    seed(engine, schema)
    reader, other, nobody = make_role(), make_role(), make_role()
    execute(
        engine,
        f"GRANT SELECT ON {qi(schema, 't')} TO {qi(reader)}, {qi(other)}",
        f"GRANT SELECT ON {qi(schema, 't')} TO PUBLIC",
    )
    grantees_before = select_grantees(engine, schema, "t")
    assert {reader, other, "PUBLIC"} <= set(grantees_before)

    swap(engine, schema, how)

    assert has_select(engine, reader, schema, "t")
    assert has_select(engine, other, schema, "t")
    assert has_select(engine, "public", schema, "t")
    assert select_grantees(engine, schema, "t") == grantees_before
    assert nobody not in select_grantees(engine, schema, "t")


def test_a_role_can_read_the_swapped_table(engine: sa.engine.Engine, schema: str, make_role: Callable[..., str]) -> None:
    seed(engine, schema)
    reader = make_role()
    execute(engine, f"GRANT USAGE ON SCHEMA {qi(schema)} TO {qi(reader)}", f"GRANT SELECT ON {qi(schema, 't')} TO {qi(reader)}")
    swap(engine, schema, "migration")
    with engine.begin() as conn:
        conn.execute(sa.text(f"SET LOCAL ROLE {qi(reader)}"))
        got = [tuple(r) for r in conn.execute(sa.text(f"SELECT id, value, extra FROM {qi(schema, 't')} ORDER BY id"))]
    assert got == [(1, "a", None), (2, "b", None), (3, "c", None), (4, "d", 40)]


def test_public_only_grant_survives_a_swap(engine: sa.engine.Engine, schema: str) -> None:
    seed(engine, schema)
    execute(engine, f"GRANT SELECT ON {qi(schema, 't')} TO PUBLIC")
    swap(engine, schema, "delete")
    assert has_select(engine, "public", schema, "t")
    assert "PUBLIC" in select_grantees(engine, schema, "t")


# --- views ---------------------------------------------------------------


@pytest.mark.parametrize("how", SWAPS)
def test_views_at_every_depth_survive_a_swap(
    engine: sa.engine.Engine, schema: str, other_schema: str, make_role: Callable[..., str], how: str
) -> None:
    seed(engine, schema)
    reader = make_role()
    s, o = qi(schema), qi(other_schema)
    execute(
        engine,
        f"CREATE SCHEMA {o}",
        f"CREATE VIEW {s}.v AS SELECT id, value FROM {s}.t WHERE id > 1",
        f"CREATE VIEW {s}.v_on_v AS SELECT id, upper(value) AS upper_value FROM {s}.v",
        f"CREATE VIEW {s}.v_on_v_on_v AS SELECT count(*) AS n FROM {s}.v_on_v",
        # Several paths to the table, and an aggregate with a join.
        f"CREATE VIEW {s}.joined AS SELECT t.id, v.value, coalesce(t.value, 'none') || '!' AS shout "
        f"FROM {s}.t JOIN {s}.v USING (id) WHERE t.id IN (SELECT id FROM {s}.v_on_v)",
        f"CREATE MATERIALIZED VIEW {s}.mv AS SELECT id, value FROM {s}.t ORDER BY id",
        f"CREATE MATERIALIZED VIEW {s}.mv_on_v AS SELECT max(id) AS top FROM {s}.v_on_v",
        f"CREATE VIEW {s}.v_on_mv AS SELECT top + 1 AS next FROM {s}.mv_on_v",
        f"CREATE VIEW {o}.elsewhere AS SELECT id FROM {s}.t",
        f"CREATE VIEW {o}.elsewhere_on_v AS SELECT e.id FROM {o}.elsewhere e JOIN {s}.v_on_v USING (id)",
        f"CREATE MATERIALIZED VIEW {o}.elsewhere_mv AS SELECT sum(id) AS total FROM {o}.elsewhere_on_v",
    )
    views = ["v", "v_on_v", "v_on_v_on_v", "joined", "mv", "mv_on_v", "v_on_mv"]
    others = ["elsewhere", "elsewhere_on_v", "elsewhere_mv"]
    for name in views:
        execute(engine, f"GRANT SELECT ON {s}.{qi(name)} TO {qi(reader)}")
    for name in others:
        execute(engine, f"GRANT SELECT ON {o}.{qi(name)} TO {qi(reader)}, PUBLIC")
    definitions = view_definitions(engine, schema, other_schema)
    assert len(definitions) == 10
    grantees = {k: select_grantees(engine, *k) for k in definitions}

    swap(engine, schema, how)

    assert view_definitions(engine, schema, other_schema) == definitions
    assert {k: select_grantees(engine, *k) for k in definitions} == grantees
    for name in views:
        assert has_select(engine, reader, schema, name), name
    for name in others:
        assert has_select(engine, reader, other_schema, name), name
        assert has_select(engine, "public", other_schema, name), name
    # The views read the new table; the materialized views were refilled.
    ids = [1, 2, 3, 4] if how == "migration" else [2, 4]
    assert query(engine, f"SELECT id FROM {s}.v ORDER BY 1") == [(i,) for i in ids if i > 1]
    assert query(engine, f"SELECT n FROM {s}.v_on_v_on_v") == [(len([i for i in ids if i > 1]),)]
    assert query(engine, f"SELECT id FROM {s}.mv ORDER BY 1") == [(i,) for i in ids]
    assert query(engine, f"SELECT next FROM {s}.v_on_mv") == [(5,)]
    assert query(engine, f"SELECT total FROM {o}.elsewhere_mv") == [(sum(i for i in ids if i > 1),)]
    assert query(engine, f"SELECT id, shout FROM {s}.joined ORDER BY 1")[-1] == (4, "d!")
    populated = query(
        engine, "SELECT matviewname::text, ispopulated FROM pg_matviews WHERE schemaname = ANY(:s) ORDER BY 1",
        s=[schema, other_schema],
    )
    assert populated == [("elsewhere_mv", True), ("mv", True), ("mv_on_v", True)]


@pytest.mark.parametrize("how", SWAPS)
def test_cycles_of_views_survive_a_swap(engine: sa.engine.Engine, schema: str, how: str) -> None:
    seed(engine, schema)
    s = qi(schema)
    execute(
        engine,
        f"CREATE VIEW {s}.a AS SELECT id, value FROM {s}.t WHERE id > 1",
        f"CREATE VIEW {s}.b AS SELECT id, value FROM {s}.a",
        f"CREATE VIEW {s}.c AS SELECT b.id, b.value FROM {s}.b JOIN {s}.t USING (id)",
        # Close two cycles: a -> b -> a and a -> b -> c -> a.
        f"CREATE OR REPLACE VIEW {s}.a AS SELECT t.id, t.value FROM {s}.t "
        f"WHERE t.id > 1 AND EXISTS (SELECT 1 FROM {s}.b WHERE b.id = t.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {s}.c WHERE c.id = -t.id)",
        f"CREATE VIEW {s}.outside AS SELECT count(*) AS n FROM {s}.c",
    )
    definitions = view_definitions(engine, schema)
    assert len(definitions) == 4
    swap(engine, schema, how)
    assert view_definitions(engine, schema) == definitions


def test_view_grants_made_by_the_views_owner_survive_a_swap(
    engine: sa.engine.Engine, schema: str, make_role: Callable[..., str]
) -> None:
    seed(engine, schema)
    owner, reader = make_role(), make_role()
    s = qi(schema)
    execute(
        engine,
        f"CREATE VIEW {s}.v AS SELECT id, value FROM {s}.t WHERE id > 1",
        f"GRANT USAGE ON SCHEMA {s} TO {qi(owner)}, {qi(reader)}",
        f"GRANT SELECT ON {s}.t TO {qi(owner)}",
        f"ALTER VIEW {s}.v OWNER TO {qi(owner)}",
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f"SET LOCAL ROLE {qi(owner)}"))
        conn.execute(sa.text(f"GRANT SELECT ON {s}.v TO {qi(reader)}"))
        conn.execute(sa.text(f"GRANT SELECT ON {s}.v TO PUBLIC"))
    definitions = view_definitions(engine, schema)

    swap(engine, schema, "migration")

    assert view_definitions(engine, schema) == definitions
    for role in (owner, reader, "public"):
        assert has_select(engine, role, schema, "v"), role
    with engine.begin() as conn:
        conn.execute(sa.text(f"SET LOCAL ROLE {qi(reader)}"))
        got = [tuple(r) for r in conn.execute(sa.text(f"SELECT id, value FROM {s}.v ORDER BY id"))]
    assert got == [(2, "b"), (3, "c"), (4, "d")]


def test_views_are_not_touched_without_a_swap(engine: sa.engine.Engine, schema: str) -> None:
    t = seed(engine, schema)
    s = qi(schema)
    execute(engine, f"CREATE VIEW {s}.v AS SELECT id FROM {s}.t", f"CREATE MATERIALIZED VIEW {s}.mv AS SELECT id FROM {s}.t")
    oids = {n: relation_identity(engine, schema, n) for n in ("t", "v", "mv")}
    run_ingest(engine, t.metadata, Batches((2, None, rows_of(t, [(4, "d")]))))
    assert {n: relation_identity(engine, schema, n) for n in ("t", "v", "mv")} == oids
    # A materialized view is not refreshed by an ingest that does not swap.
    assert query(engine, f"SELECT count(*) FROM {s}.mv") == [(3,)]


# --- identifiers ---------------------------------------------------------

WACKY = 'my.odd "sch%,😀'


@pytest.fixture
def wacky_schema(engine: sa.engine.Engine) -> Iterator[str]:
    name = WACKY + uuid.uuid4().hex[:8]
    yield name
    execute(engine, f"DROP SCHEMA IF EXISTS {qi(name)} CASCADE")


@pytest.mark.parametrize("how", SWAPS)
def test_wacky_identifiers_everywhere(
    engine: sa.engine.Engine, wacky_schema: str, other_schema: str, make_role: Callable[..., str], how: str
) -> None:
    schema = wacky_schema
    name = 'tab.le "x"%,😀'
    cols = ["id", "col.with.dots", "col with spaces", 'col"with"quotes', "col%with%percents", "col,with,commas", "col😀"]

    def make(extra: bool) -> sa.Table:
        return sa.Table(
            name,
            sa.MetaData(),
            sa.Column("id", sa.INTEGER, primary_key=True),
            *(sa.Column(c, sa.VARCHAR(16)) for c in cols[1:]),
            *([sa.Column('new "col".%,😀', sa.INTEGER)] if extra else []),
            sa.Index(None, "col.with.dots", 'col"with"quotes'),
            sa.Index(None, "col%with%percents", postgresql_include=["col,with,commas"]),
            sa.Index(None, "col😀", unique=True),
            schema=schema,
        )

    first = make(False)
    run_ingest(
        engine,
        first.metadata,
        Batches((1, None, rows_of(first, [(i, *(f"{i}-{j}" for j in range(1, 7))) for i in (1, 2, 3)]))),
    )
    role = make_role('role "r".%,😀')
    execute(engine, f"CREATE SCHEMA {qi(other_schema)}")
    t = qi(schema, name)
    views = {
        (schema, 'view.with.dots'): f'SELECT id, "col.with.dots" FROM {t} WHERE id > 1',
        (schema, 'view with spaces'): f'SELECT id, "col with spaces" FROM {t}',
        (schema, 'view"with"quotes'): f'SELECT id, "col""with""quotes" FROM {qi(schema, "view.with.dots")} JOIN {t} USING (id)',
        (schema, 'view%with%percents'): f'SELECT id, "col%with%percents" FROM {t}',
        (other_schema, 'view,with,commas😀'): f'SELECT id, "col,with,commas", "col😀" FROM {t}',
    }
    for (vs, vn), sql in views.items():
        execute(engine, f"CREATE VIEW {qi(vs, vn)} AS {sql}", f"GRANT SELECT ON {qi(vs, vn)} TO {qi(role)}, PUBLIC")
    execute(
        engine,
        f"CREATE MATERIALIZED VIEW {qi(schema, 'mat.view %,😀')} AS SELECT count(*) AS n FROM {qi(schema, 'view with spaces')}",
        f"GRANT SELECT ON {qi(schema, 'mat.view %,😀')} TO {qi(role)}",
        f"GRANT SELECT ON {t} TO {qi(role)}, PUBLIC",
    )
    definitions = view_definitions(engine, schema, other_schema)
    indexes = index_definitions(engine, schema, name)
    seen: List[str] = []

    old_oid = relation_identity(engine, schema, name)[0]
    if how == "migration":
        second = make(True)
        batch = [(second, (4, *(f"4-{j}" for j in range(1, 7)), 44))]
        run_ingest(
            engine, second.metadata, Batches((2, None, batch)),
            on_before_visible=lambda conn, ingest_table, m: seen.append(ingest_table.name),
        )
        expected_ids = [1, 2, 3, 4]
    else:
        second = make(False)
        batch = [(second, (4, *(f"4-{j}" for j in range(1, 7))))]
        run_ingest(
            engine, second.metadata, Batches((2, None, batch)), delete=Delete.BEFORE_FIRST_BATCH,
            on_before_visible=lambda conn, ingest_table, m: seen.append(ingest_table.name),
        )
        expected_ids = [4]

    assert relation_identity(engine, schema, name)[0] != old_oid
    assert len(seen) == 1 and re.match(TMP_NAME, seen[0])
    assert [c[0] for c in catalog_columns(engine, schema, name)] == cols + (['new "col".%,😀'] if how == "migration" else [])
    assert index_definitions(engine, schema, name) == indexes
    assert all(re.match(TMP_NAME, n) for n in index_names(engine, schema, name))
    assert view_definitions(engine, schema, other_schema) == definitions
    for vs, vn in [*views, (schema, "mat.view %,😀"), (schema, name)]:
        assert has_select(engine, role, vs, vn), vn
    for vs, vn in [*views, (schema, name)]:
        assert has_select(engine, "public", vs, vn), vn
    assert query(engine, f"SELECT id FROM {qi(other_schema, 'view,with,commas😀')} ORDER BY 1") == [(i,) for i in expected_ids]
    assert query(engine, f"SELECT n FROM {qi(schema, 'mat.view %,😀')}") == [(len(expected_ids),)]
    assert tmp_tables(engine, schema) == []


# --- logging -------------------------------------------------------------


def info_lines(caplog: Any) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pg_bulk_ingest" and r.levelno == logging.INFO]


def test_swap_logs_upstreams_lines(engine: sa.engine.Engine, schema: str, make_role: Callable[..., str], caplog: Any) -> None:
    seed(engine, schema)
    role = make_role()
    s = qi(schema)
    execute(
        engine,
        f"CREATE VIEW {s}.v AS SELECT id FROM {s}.t",
        f"CREATE MATERIALIZED VIEW {s}.mv AS SELECT id FROM {s}.v",
        f"GRANT SELECT ON {s}.v TO {qi(role)}",
        f"GRANT SELECT ON {s}.t TO {qi(role)}",
    )
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    swap(engine, schema, "migration")
    lines = info_lines(caplog)

    def at(line: str) -> int:
        assert line in lines, (line, lines)
        return lines.index(line)

    def starting(prefix: str) -> int:
        found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        assert found, (prefix, lines)
        return found[0]

    fq = f"{schema}.t"
    # Upstream decides on the ingest table before it logs the batch.
    assert at("Finding existing columns of " + fq) < at("Ingesting via new ingest table") < at(
        "Ingesting batch None with high watermark value 2"
    ), lines
    order = [
        at("Ingesting via new ingest table"),
        at(f"Creating indexes for {fq}"),
        at(f"Copying privileges for {fq}"),
        at("Calling on_before_visible callback"),
        at("Renaming tables if necessary"),
        at(f"Dropping VIEW {schema}.v"),
        at(f"Recreating original view {schema}.v"),
        at(f"Recreating original materialized view {schema}.mv"),
    ]
    assert order == sorted(order), lines
    assert at(f"Dropping MATERIALIZED VIEW {schema}.mv") > at("Renaming tables if necessary")
    grant = starting(f"Granting SELECT on {schema}.v to ")
    assert role in lines[grant]
    assert grant > at(f"Recreating original view {schema}.v")


def test_no_swap_logs_no_swap_lines(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    t = seed(engine, schema)
    execute(engine, f"CREATE VIEW {qi(schema)}.v AS SELECT id FROM {qi(schema)}.t")
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    force = RecordingForceExecute()
    run_ingest(engine, t.metadata, Batches((2, None, rows_of(t, [(4, "d")]))), get_pg_force_execute=force)
    lines = info_lines(caplog)
    assert f"Creating indexes for {schema}.t" in lines
    assert "Renaming tables if necessary" in lines
    for absent in ("Ingesting via new ingest table", "Copying privileges for", "Dropping ", "Recreating ", "Granting SELECT"):
        assert not [line for line in lines if line.startswith(absent)], absent
    assert force.calls == []


def test_target_table_lines_name_the_table_as_upstream(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    seed(engine, schema)
    lines = info_lines(caplog)
    # Upstream passes the Table itself: str(table) is schema.name, unquoted.
    assert f"Creating target table {schema}.t if it doesn't already exist" in lines, lines[:2]
    assert f"Target table {schema}.t created or already existed" in lines, lines[:2]
