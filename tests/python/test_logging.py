"""Progress goes to the logger at INFO with upstream's messages."""

from __future__ import annotations

import logging
import math
from typing import Any, List

import pytest
import sqlalchemy as sa
from helpers import Batches, int_table, rows_of, run_ingest

from pg_bulk_ingest import Upsert


def upstream_progress(n: int) -> List[str]:
    """The progress lines upstream logs for a COPY of n rows."""
    return [
        f"Ingested {i + 1} rows..."
        for i in range(n)
        if (i + 1) % (10 ** min(max(math.floor(math.log10(i + 1)), 2), 6)) == 0
    ]


def messages(caplog: Any, logger_name: str = "pg_bulk_ingest") -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger_name and r.levelno == logging.INFO]


def test_upstream_progress_cadence() -> None:
    assert upstream_progress(2500) == [f"Ingested {n} rows..." for n in [*range(100, 1000, 100), 1000, 2000]]


def test_batch_messages(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    run_ingest(
        engine,
        metadata,
        Batches(("hwm-1", "meta-1", rows_of(table, [(1, "a"), (2, "b")])), ("hwm-2", "meta-2", rows_of(table, [(3, "c")]))),
    )
    lines = messages(caplog)
    for expected in [
        "Ingesting batch meta-1 with high watermark value hwm-1",
        "Ingesting batch meta-2 with high watermark value hwm-2",
        "Ingested 2 rows in total",
        "Ingested 1 rows in total",
        "Calling on_before_visible callback",
        "Renaming tables if necessary",
        "Ingestion of batch meta-1 with high watermark value hwm-1 complete",
    ]:
        assert expected in lines, expected
    templates = {r.msg for r in caplog.records if r.name == "pg_bulk_ingest"}
    assert "Ingesting batch %s with high watermark value %s" in templates
    assert "Ingested %s rows in total" in templates
    # Per batch: rows in, then the callback, then the rename step.
    first = lines.index("Ingesting batch meta-1 with high watermark value hwm-1")
    assert (
        first
        < lines.index("Ingested 2 rows in total")
        < lines.index("Calling on_before_visible callback")
        < lines.index("Renaming tables if necessary")
        < lines.index("Ingesting batch meta-2 with high watermark value hwm-2")
    )


@pytest.mark.parametrize("upsert", [Upsert.IF_PRIMARY_KEY, Upsert.OFF])
@pytest.mark.parametrize("n", [99, 2500, 25_000])
def test_progress_lines(engine: sa.engine.Engine, schema: str, caplog: Any, upsert: str, n: int) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    caplog.set_level(logging.INFO, logger="pg_bulk_ingest")
    run_ingest(engine, metadata, Batches((1, None, rows_of(table, ((i, "x") for i in range(n))))), upsert=upsert)
    lines = messages(caplog)
    assert [m for m in lines if m.endswith(" rows...")] == upstream_progress(n)
    assert f"Ingested {n} rows in total" in lines


def test_custom_logger_receives_the_messages(engine: sa.engine.Engine, schema: str, caplog: Any) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    custom = logging.getLogger("tests.custom_ingest_logger")
    caplog.set_level(logging.INFO)
    run_ingest(engine, metadata, Batches((1, "m", rows_of(table, ((i, "x") for i in range(250))))), logger=custom)
    lines = messages(caplog, "tests.custom_ingest_logger")
    assert "Ingesting batch m with high watermark value 1" in lines
    assert "Ingested 200 rows..." in lines
    assert "Ingested 250 rows in total" in lines
    assert messages(caplog) == []
