"""on_before_visible ending the batch's transaction itself: whatever it
does, the stored high watermark describes exactly the committed rows, so
that a rerun from it ingests each row once."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List

import pytest
import sqlalchemy as sa
from helpers import int_table, query, run_ingest, stored_high_watermark, tmp_tables

from pg_bulk_ingest import HighWatermark, IngestError


class Boom(Exception):
    pass


def _commit(conn: Any, audit: str) -> None:
    conn.commit()


def _rollback(conn: Any, audit: str) -> None:
    conn.rollback()


def _nested(conn: Any, audit: str) -> None:
    with conn.begin_nested():
        conn.execute(sa.text(f"INSERT INTO {audit} VALUES ('nested')"))


def _commit_then_audit(conn: Any, audit: str) -> None:
    conn.commit()
    conn.execute(sa.text(f"INSERT INTO {audit} VALUES ('after commit')"))  # autobegins a transaction


# What each callback leaves of batch 1 once batch 2 fails: batch 1 and its
# audit rows, or (rollback) nothing, with an error.
CALLBACKS: Dict[str, Callable[[Any, str], None]] = {
    "commit": _commit,
    "rollback": _rollback,
    "nested": _nested,
    "commit_then_audit": _commit_then_audit,
}


def _table(metadata: sa.MetaData, schema: str, migrated: bool) -> sa.Table:
    # No primary key: a batch ingested twice would show as duplicates.
    extra = [sa.Column("extra", sa.INTEGER, nullable=True)] if migrated else []
    return int_table(metadata, schema, pk=(), extra=extra)


def _batches(table: sa.Table, fail_at: int) -> Callable[[Any], Iterator[Any]]:
    """Batches 1 and 2 after the stored high watermark, rows 10*k and
    10*k+1 each; batch fail_at raises Boom halfway through its rows."""

    def rows(k: int) -> Iterator[Any]:
        yield table, (10 * k, "a") + (None,) * (len(table.columns) - 2)
        if k == fail_at:
            raise Boom(f"batch {k}")
        yield table, (10 * k + 1, "b") + (None,) * (len(table.columns) - 2)

    def batches(high_watermark: Any) -> Iterator[Any]:
        for k in (1, 2):
            if high_watermark is None or k > high_watermark:
                yield k, f"batch-{k}", rows(k)

    return batches


def _ids_up_to(hwm: int) -> List[int]:
    return sorted(i for k in range(0, hwm + 1) for i in (10 * k, 10 * k + 1))


def _ids(engine: sa.engine.Engine, schema: str) -> List[int]:
    """The ids in the table, whichever definition it has now."""
    return sorted(r[0] for r in query(engine, f'SELECT id FROM "{schema}".t'))


def _batch_0_and_audit_table(engine: sa.engine.Engine, schema: str) -> str:
    """Commits batch 0 with the table's old definition, and creates the
    audit table a callback writes to; returns the audit table's name."""
    metadata0 = sa.MetaData()
    table0 = _table(metadata0, schema, migrated=False)
    run_ingest(engine, metadata0, lambda _: iter([(0, "batch-0", [(table0, (0, "a")), (table0, (1, "b"))])]))
    audit = f'"{schema}".audit'
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {audit} (note text)"))
    return audit


@pytest.mark.parametrize("migrated", [False, True], ids=["no_swap", "swap"])
@pytest.mark.parametrize("action", list(CALLBACKS))
def test_the_stored_high_watermark_describes_the_committed_rows(
    engine: sa.engine.Engine, schema: str, action: str, migrated: bool
) -> None:
    # Batch 0 committed by an earlier ingest, with the old definition when
    # this ingest migrates the table (swapping a new one in in batch 1).
    audit = _batch_0_and_audit_table(engine, schema)

    metadata = sa.MetaData()
    table = _table(metadata, schema, migrated)
    seen: List[str] = []

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        seen.append(batch_metadata)
        if batch_metadata == "batch-1":
            CALLBACKS[action](conn, audit)

    if action == "rollback":
        with pytest.raises(IngestError) as raised:
            run_ingest(
                engine, metadata, _batches(table, fail_at=2), high_watermark=HighWatermark.LATEST,
                on_before_visible=on_before_visible,
            )
        message = str(raised.value)
        assert "batch 1" in message and "on_before_visible rolled back" in message
        assert "high watermark" in message
        committed = 0
    else:
        with pytest.raises(Boom):
            run_ingest(
                engine, metadata, _batches(table, fail_at=2), high_watermark=HighWatermark.LATEST,
                on_before_visible=on_before_visible,
            )
        committed = 1
    assert seen == ["batch-1"]

    assert stored_high_watermark(engine, schema, "t") == committed
    assert _ids(engine, schema) == _ids_up_to(committed)
    if action != "rollback":
        expected_audit = {"nested": ["nested"], "commit_then_audit": ["after commit"]}.get(action, [])
        assert [r[0] for r in query(engine, f"SELECT note FROM {audit}")] == expected_audit

    # A rerun from the stored high watermark completes the rows, each once.
    run_ingest(engine, metadata, _batches(table, fail_at=0), high_watermark=HighWatermark.LATEST)
    assert stored_high_watermark(engine, schema, "t") == 2
    assert _ids(engine, schema) == _ids_up_to(2)
    if migrated:
        assert [c["name"] for c in sa.inspect(engine).get_columns("t", schema=schema)] == ["id", "value", "extra"]


@pytest.mark.parametrize("action", ["commit", "commit_then_audit"])
def test_a_committing_callback_leaves_the_ingest_going(engine: sa.engine.Engine, schema: str, action: str) -> None:
    """Without a later failure, every batch commits with its watermark, and
    no ingest table is left behind."""
    audit = _batch_0_and_audit_table(engine, schema)
    metadata = sa.MetaData()
    table = _table(metadata, schema, migrated=True)

    def on_before_visible(conn: Any, ingest_table: sa.Table, batch_metadata: Any) -> None:
        CALLBACKS[action](conn, audit)

    run_ingest(
        engine, metadata, _batches(table, fail_at=0), high_watermark=HighWatermark.LATEST,
        on_before_visible=on_before_visible,
    )
    assert stored_high_watermark(engine, schema, "t") == 2
    assert _ids(engine, schema) == _ids_up_to(2)
    assert tmp_tables(engine, schema) == []
