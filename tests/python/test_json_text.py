"""JSON and JSONB values go as json.dumps's text, which the library writes
itself where it can (goext/capi/dumps.c) and leaves to json.dumps where it
cannot: a JSON column stores json.dumps's text byte for byte, a JSONB
column the server's reading of it, and json.dumps's errors stay its own."""

from __future__ import annotations

import collections
import enum
import json
from typing import Any, List

import pytest
import sqlalchemy as sa
from helpers import Batches, query, run_ingest
from sqlalchemy.dialects import postgresql


class Colour(enum.IntEnum):
    RED = 1


class Tag(str):
    pass


class Ratio(float):
    pass


Point = collections.namedtuple("Point", "x y")

# Every character but NUL (which JSONB refuses) and the surrogates, in
# strings of a few hundred: ASCII's control characters, the two- three-
# and four-byte UTF-8 sequences, the escapes json.dumps writes.
CHARACTERS = [
    "".join(map(chr, range(start, min(start + 300, stop))))
    for first, stop in ((1, 0xD800), (0xE000, 0x110000))
    for start in range(first, stop, 300 if stop <= 0xD800 else 4099)
]

VALUES: List[Any] = [
    {"id": 1, "name": "doc-1", "active": True, "score": 1 / 3, "tags": ["a", "b"], "geo": {"lat": 51.5, "lon": -0.12},
     "notes": None, "empty": {}, "list": [], "nested": [[1, [2, [3]]], {"a": {"b": {"c": None}}}]},
    [0.1, 1 / 3, 2.5, -0.0, 0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 123456789.123, 1e22, -1.5e-300],
    [0, -1, 7, 2**31, 2**63 - 1, -(2**63), 2**63, -(2**64), 10**30],
    [True, False, None, "", " ", '"quoted"', "back\\slash", "tab\tnew\nline\rform\fbell\bend", "\x7f\x1f"],
    CHARACTERS[:40],
    CHARACTERS[40:],
    {"é": "ü", "€uro": "😀", "\U0010ffff": ["\u2028\u2029"]},
    "a string alone",
    "",
    42,
    -2**70,
    1.5,
    True,
    False,
    [],
    {},
    # Values the library leaves to json.dumps: subclasses, keys that are
    # not str, tuples and named tuples (lists to JSON), deep nesting.
    {"colour": Colour.RED, "tag": Tag("t"), "ratio": Ratio(0.5), "ordered": collections.OrderedDict(b=1, a=2)},
    {1: "int key", 2.5: "float key", True: "bool key", None: "None key"},
    (1, (2, 3), Point(4, 5)),
    Colour.RED,
    Tag("a str subclass"),
    collections.OrderedDict(z=1, y=[Ratio(2.0)]),
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
]


def ingest_values(engine: sa.engine.Engine, schema: str, type_: Any, values: List[Any]) -> sa.Table:
    """Ingests the values as column v of rows (i, value), a NULL between
    each two."""
    metadata = sa.MetaData()
    table = sa.Table(
        "t", metadata, sa.Column("id", sa.INTEGER, primary_key=True), sa.Column("v", type_), schema=schema
    )
    rows = []
    for i, value in enumerate(values):
        rows += [(table, (2 * i, value)), (table, (2 * i + 1, None))]
    run_ingest(engine, metadata, Batches(("hwm", None, rows)))
    return table


def test_json_stores_json_dumps_text(engine: sa.engine.Engine, schema: str) -> None:
    values = VALUES + ["nul \x00 in JSON's text"]
    ingest_values(engine, schema, postgresql.JSON, values)
    stored = query(engine, f'SELECT id, v::text FROM "{schema}".t ORDER BY id')
    assert stored == [(i, None if i % 2 else json.dumps(values[i // 2])) for i in range(2 * len(values))]


def test_jsonb_stores_the_server_reading_of_json_dumps_text(engine: sa.engine.Engine, schema: str) -> None:
    ingest_values(engine, schema, postgresql.JSONB, VALUES)
    differ = []
    for i, value in enumerate(VALUES):
        same = query(
            engine, f'SELECT v = CAST(:text AS jsonb) FROM "{schema}".t WHERE id = :id', text=json.dumps(value), id=2 * i
        )
        if same != [(True,)]:
            differ.append(i)
    assert differ == []
    assert query(engine, f'SELECT count(*) FROM "{schema}".t WHERE v IS NULL') == [(len(VALUES),)]


@pytest.mark.parametrize("type_", [postgresql.JSON, postgresql.JSONB], ids=["json", "jsonb"])
def test_json_dumps_errors_are_its_own(engine: sa.engine.Engine, schema: str, type_: Any) -> None:
    circular: List[Any] = [1]
    circular.append({"again": circular})
    with pytest.raises(ValueError, match="Circular reference detected"):
        ingest_values(engine, schema, type_, [{"fine": 1}, circular])
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        ingest_values(engine, schema, type_, [{"fine": 1}, {"set": {1}}])
