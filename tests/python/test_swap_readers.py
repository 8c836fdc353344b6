"""Swaps under readers that lock several relations of the table, in either
order: two views in one statement, two views in one transaction, a view
joined to the table, the table joined to another ingested table's view.
No ingest and no reader fails, and no reader sees part of a batch. The
same patterns, with more readers and swaps, and upstream beside ours, are
in tests/benchmarks/swap_readers.py, which prints the readers' waits."""

from __future__ import annotations

import os
import sys

import pytest
import sqlalchemy as sa

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from swap_readers import PATTERNS, run_pattern  # noqa: E402

READERS = 20
SWAPS = 3
THINK = 0.05  # seconds at most between a reader's reads


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_swaps_under_readers_of_several_relations(engine: sa.engine.Engine, schema: str, pattern: str) -> None:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    result = run_pattern(url, engine.url.get_driver_name(), pattern, READERS, SWAPS, THINK, schema=schema)
    assert result.ingest_errors == []
    assert result.reader_errors == []
    assert result.wrong_counts == []
    assert result.ingests == SWAPS * len(PATTERNS[pattern].tables)
    assert result.statements > READERS  # the readers did read, during the swaps too
    assert result.waits_ms
