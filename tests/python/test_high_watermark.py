"""The high watermark: what `batches` is called with, and what is stored in
the first table's comment."""

from __future__ import annotations

import json
from typing import Any, Iterator, List

import pytest
import sqlalchemy as sa
from helpers import Batches, comment, int_table, query, read_rows, rows_of, run_ingest, set_comment, table_exists

from pg_bulk_ingest import HighWatermark

JSON_VALUES = [
    "2024-01-02T03:04:05",
    "",
    0,
    12345678901234,
    1.5,
    True,
    {"a": [1, 2, {"b": None}], "c": "d"},
    [1, "two", None, 3.5],
    [],
    {},
]


def test_latest_passes_none_first_then_the_stored_value(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    first = Batches((1, None, rows_of(table, [(1, "a")])), ("second", None, rows_of(table, [(2, "b")])))
    run_ingest(engine, metadata, first, high_watermark=HighWatermark.LATEST)
    assert first.calls == [None]
    again = Batches()
    run_ingest(engine, metadata, again)  # LATEST is the default
    assert again.calls == ["second"]


def test_earliest_passes_none_even_when_a_value_is_stored(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches(("stored", None, rows_of(table, [(1, "a")]))))
    batches = Batches(("new", None, rows_of(table, [(2, "b")])))
    run_ingest(engine, metadata, batches, high_watermark=HighWatermark.EARLIEST)
    assert batches.calls == [None]
    assert json.loads(comment(engine, schema, "t") or "") == {"pg-bulk-ingest": {"high-watermark": "new"}}


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_explicit_high_watermark_is_passed_as_is(engine: sa.engine.Engine, schema: str, value: Any) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches(("stored", None, rows_of(table, [(1, "a")]))))
    batches = Batches()
    run_ingest(engine, metadata, batches, high_watermark=value)
    assert batches.calls == [value]
    assert batches.calls[0] is value


@pytest.mark.parametrize("value", JSON_VALUES + [None], ids=repr)
def test_stored_as_json_in_the_first_tables_comment_and_read_back(
    engine: sa.engine.Engine, schema: str, value: Any
) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches((value, None, rows_of(table, [(1, "a")]))))
    assert json.loads(comment(engine, schema, "t") or "") == {"pg-bulk-ingest": {"high-watermark": value}}
    batches = Batches()
    run_ingest(engine, metadata, batches)
    assert batches.calls == [value]
    assert type(batches.calls[0]) is type(value)


def test_callable_high_watermark_is_called_after_the_rows_are_consumed(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    events: List[str] = []

    def rows(b: int) -> Iterator[Any]:
        for i in range(3):
            events.append(f"row {b}.{i}")
            yield table, (b * 10 + i, "x")
        events.append(f"rows {b} done")

    def hwm(b: int) -> Any:
        def get() -> Any:
            events.append(f"hwm {b}")
            return {"batch": b}

        return get

    def batches(high_watermark: Any) -> Iterator[Any]:
        for b in (1, 2):
            yield hwm(b), None, rows(b)

    def on_before_visible(conn: Any, ingest_table: Any, batch_metadata: Any) -> None:
        events.append("on_before_visible")

    run_ingest(engine, metadata, batches, on_before_visible=on_before_visible)
    for b in (1, 2):
        assert events.index(f"rows {b} done") < events.index(f"hwm {b}")
        assert events.count(f"hwm {b}") == 1
    assert events.index("hwm 1") < events.index("row 2.0")
    assert json.loads(comment(engine, schema, "t") or "") == {"pg-bulk-ingest": {"high-watermark": {"batch": 2}}}
    assert len(read_rows(engine, table)) == 6


def test_callable_high_watermark_result_is_stored_each_batch(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    seen: List[Any] = []

    def on_before_visible(conn: Any, ingest_table: Any, batch_metadata: Any) -> None:
        # From a second session: what the previous batch committed (the
        # table itself is created in the first batch's transaction).
        seen.append(json.loads(comment(engine, schema, "t") or "null") if table_exists(engine, schema, "t") else "-")

    run_ingest(
        engine,
        metadata,
        Batches(
            (lambda: "one", None, rows_of(table, [(1, "a")])),
            (lambda: ["two"], None, rows_of(table, [(2, "b")])),
        ),
        on_before_visible=on_before_visible,
    )
    assert seen == ["-", {"pg-bulk-ingest": {"high-watermark": "one"}}]
    assert json.loads(comment(engine, schema, "t") or "") == {"pg-bulk-ingest": {"high-watermark": ["two"]}}


def test_other_keys_of_an_existing_json_comment_are_kept(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches())
    set_comment(engine, schema, "t", json.dumps({"owner": "team-x", "nested": {"a": [1]}}))
    batches = Batches((5, None, rows_of(table, [(1, "a")])))
    run_ingest(engine, metadata, batches)
    assert batches.calls == [None]
    assert json.loads(comment(engine, schema, "t") or "") == {
        "owner": "team-x",
        "nested": {"a": [1]},
        "pg-bulk-ingest": {"high-watermark": 5},
    }
    run_ingest(engine, metadata, Batches((6, None, rows_of(table, [(2, "b")]))))
    assert json.loads(comment(engine, schema, "t") or "") == {
        "owner": "team-x",
        "nested": {"a": [1]},
        "pg-bulk-ingest": {"high-watermark": 6},
    }


@pytest.mark.parametrize(
    "existing",
    ["not json at all", "{broken", "", '"a json string"', "[1, 2]", "42", "null", "true"],
    ids=repr,
)
def test_a_comment_that_is_not_a_json_object_counts_as_none(
    engine: sa.engine.Engine, schema: str, existing: str
) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(engine, metadata, Batches())
    set_comment(engine, schema, "t", existing)
    batches = Batches(("new", None, rows_of(table, [(1, "a")])))
    run_ingest(engine, metadata, batches)
    assert batches.calls == [None]
    assert json.loads(comment(engine, schema, "t") or "") == {"pg-bulk-ingest": {"high-watermark": "new"}}
    assert read_rows(engine, table) == [(1, "a")]


def test_written_every_batch_even_when_none(engine: sa.engine.Engine, schema: str) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    run_ingest(
        engine,
        metadata,
        Batches(("a", None, rows_of(table, [(1, "a")])), (None, None, rows_of(table, [(2, "b")]))),
    )
    assert json.loads(comment(engine, schema, "t") or "") == {"pg-bulk-ingest": {"high-watermark": None}}
    batches = Batches()
    run_ingest(engine, metadata, batches)
    assert batches.calls == [None]


def test_high_watermark_is_committed_with_each_batch(engine: sa.engine.Engine, schema: str) -> None:
    """After batch n commits, a second session sees batch n's rows and
    watermark together."""
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    seen: List[Any] = []

    def batches(high_watermark: Any) -> Iterator[Any]:
        # The table is created in the first batch's transaction.
        seen.append(table_exists(engine, schema, "t"))
        yield 1, None, rows_of(table, [(1, "1")])
        for b in range(2, 4):
            # Runs when batch b-1 is committed and batch b not started.
            seen.append((query(engine, f'SELECT count(*) FROM "{schema}".t')[0][0], comment(engine, schema, "t")))
            yield b, None, rows_of(table, [(b, str(b))])

    run_ingest(engine, metadata, batches)
    assert seen[0] is False
    assert [s[0] for s in seen[1:]] == [1, 2]
    assert [json.loads(s[1]) for s in seen[1:]] == [
        {"pg-bulk-ingest": {"high-watermark": 1}},
        {"pg-bulk-ingest": {"high-watermark": 2}},
    ]
