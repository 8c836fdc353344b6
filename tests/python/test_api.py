"""The public names, the constants' strings, ingest's signature and the
checking of options before any SQL runs."""

from __future__ import annotations

import contextlib
import inspect
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import Batches, rows_of, schema_exists, table_exists, int_table

import pg_bulk_ingest
from pg_bulk_ingest import Delete, HighWatermark, Upsert, Visibility, ingest, to_file_like_obj


def test_public_names_import() -> None:
    from pg_bulk_ingest import Delete, HighWatermark, Upsert, Visibility, ingest, to_file_like_obj  # noqa: F401

    assert callable(ingest)
    assert issubclass(pg_bulk_ingest.IngestError, Exception)


def test_to_file_like_obj_is_the_to_file_like_obj_package_function() -> None:
    import to_file_like_obj as package

    assert to_file_like_obj is package.to_file_like_obj
    f = to_file_like_obj((b"ab", b"cd"), bytes)
    assert f.read(3) == b"abc"
    assert f.read() == b"d"


@pytest.mark.parametrize(
    "value, expected",
    [
        (HighWatermark.LATEST, "__LATEST__"),
        (HighWatermark.EARLIEST, "__EARLIEST__"),
        (Visibility.AFTER_EACH_BATCH, "__AFTER_EACH_BATCH__"),
        (Upsert.OFF, "__OFF__"),
        (Upsert.IF_PRIMARY_KEY, "__IF_PRIMARY_KEY__"),
        (Delete.OFF, "__OFF__"),
        (Delete.BEFORE_FIRST_BATCH, "__BEFORE_FIRST_BATCH__"),
    ],
)
def test_constants_are_plain_strings(value: Any, expected: str) -> None:
    assert type(value) is str
    assert value == expected


def test_signature_names_order_and_defaults() -> None:
    params = inspect.signature(ingest).parameters
    assert list(params) == [
        "conn",
        "metadata",
        "batches",
        "high_watermark",
        "visibility",
        "upsert",
        "delete",
        "get_pg_force_execute",
        "on_before_visible",
        "logger",
        "max_rows_per_table_buffer",
    ]
    for name in ("conn", "metadata", "batches"):
        assert params[name].default is inspect.Parameter.empty
    assert params["high_watermark"].default == "__LATEST__"
    assert params["visibility"].default == "__AFTER_EACH_BATCH__"
    assert params["upsert"].default == "__IF_PRIMARY_KEY__"
    assert params["delete"].default == "__OFF__"
    assert params["logger"].default is logging.getLogger("pg_bulk_ingest")
    assert params["max_rows_per_table_buffer"].default == 10000
    for p in params.values():
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_default_on_before_visible_is_a_no_op_callable() -> None:
    default = inspect.signature(ingest).parameters["on_before_visible"].default
    assert list(inspect.signature(default).parameters) == ["conn", "ingest_table", "batch_metadata"]
    assert default(object(), object(), object()) is None


def test_default_get_pg_force_execute_gives_a_context_manager(engine: sa.engine.Engine) -> None:
    default = inspect.signature(ingest).parameters["get_pg_force_execute"].default
    assert list(inspect.signature(default).parameters) == ["conn", "logger"]
    with engine.connect() as conn:
        with conn.begin():
            cm = default(conn, logging.getLogger("test"))
            assert isinstance(cm, contextlib.AbstractContextManager) or (
                hasattr(cm, "__enter__") and hasattr(cm, "__exit__")
            )
            with cm:
                assert conn.execute(sa.text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize(
    "option, value",
    [
        ("upsert", "__IF_PRIMARY__"),
        ("upsert", "IF_PRIMARY_KEY"),
        ("upsert", None),
        ("delete", "__BEFORE_FIRST__"),
        ("delete", "OFF"),
        ("visibility", "__AFTER_EACH__"),
        ("visibility", "__OFF__"),
        ("max_rows_per_table_buffer", 0),
        ("max_rows_per_table_buffer", -5),
    ],
)
def test_unknown_option_raises_value_error_before_any_sql(
    engine: sa.engine.Engine, schema: str, option: str, value: Any
) -> None:
    metadata = sa.MetaData()
    table = int_table(metadata, schema)
    batches = Batches((1, None, rows_of(table, [(1, "a")])))
    with engine.connect() as conn:
        with pytest.raises(ValueError) as info:
            ingest(conn, metadata, batches, **{option: value})
        assert repr(value) in str(info.value)
        assert option in str(info.value)
        # The connection is untouched: no transaction was left open.
        assert not conn.in_transaction()
    assert batches.calls == []
    assert not schema_exists(engine, schema)
    assert not table_exists(engine, schema, "t")
