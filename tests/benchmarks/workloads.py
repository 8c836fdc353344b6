"""The benchmark suite's scenarios: their tables, the deterministic rows that
the timed ingest (and the untimed setup before it) sends, and the row
counts expected afterwards.

Imported by the suite (for the scenarios' titles and sizes) and by the
contenders' child processes in both virtual environments, upstream's and
ours: only SQLAlchemy is needed, pyarrow only by the Arrow helpers.
"""

from __future__ import annotations

import datetime
import decimal
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

Item = Tuple[Any, Tuple[Any, ...]]  # (sa.Table, row): what a batch of the tuple API holds

START = datetime.datetime(2024, 1, 1)
SECOND = datetime.timedelta(seconds=1)
MIGRATION_ROWS = 1_000  # the timed batch of S8


@dataclass(frozen=True)
class ScenarioInfo:
    """What the suite needs to know of a scenario before running it."""

    title: str
    scale: float  # its rows: --rows times this
    append_only: bool = False  # whether the COPY-only contenders (psql, ADBC, ...) take part
    streaming: bool = False  # S9: ours only (upstream with --all), RSS compared with S1's
    same_data: bool = False  # a checksum other than the reference's is an error (a compatibility check)
    # S11: S1's job as a whole fresh process (start, imports, input made, ingest, exit), timed from outside
    cold: bool = False


SCENARIOS: Dict[str, ScenarioInfo] = {
    "S1": ScenarioInfo("append, table without a primary key (fresh)", 1, append_only=True),
    "S2": ScenarioInfo("upsert into an empty table with a primary key (fresh)", 1),
    "S3": ScenarioInfo("re-ingest the same rows: all conflict, unchanged", 1),
    "S4": ScenarioInfo("re-ingest with every 10th row's name and amount changed", 1),
    "S5": ScenarioInfo("50-column mixed-type table, primary key (fresh)", 0.2),
    "S6": ScenarioInfo("JSONB documents (~20 keys, nested), primary key (fresh)", 0.2),
    "S7": ScenarioInfo("three tables with primary keys, rows interleaved in one batch", 1),
    "S8": ScenarioInfo(
        f"migration: a nullable column appended to a table of the scenario's rows, by a {MIGRATION_ROWS:,}-row batch", 1
    ),
    "S9": ScenarioInfo("streaming append, no primary key: peak RSS against S1's", 10, streaming=True),
    "S10": ScenarioInfo(
        "versioned: copy-forward of N rows + an N-row batch with every 10th row changed, hash, attach", 1,
        same_data=True,
    ),
    "S11": ScenarioInfo(
        "cold process: start, import, make the input, ingest S1's rows, exit (timed from outside)", 1,
        append_only=True, cold=True,
    ),
}
VERSIONS = ("2024-01-01", "2024-02-01")  # S10's: set up, timed


def scenario_rows(key: str, base_rows: int) -> int:
    """The rows a scenario ingests (set up, for S8) for --rows base_rows."""
    return max(1, int(base_rows * SCENARIOS[key].scale))


@dataclass
class Workload:
    """One scenario made concrete in one schema."""

    metadata: Any  # sa.MetaData of the timed ingest
    items: Callable[[], Iterator[Item]]  # the timed ingest's rows, generated anew at each call
    timed_rows: int
    expected: Dict[str, int]  # table name -> rows after the timed ingest
    setup_metadata: Any = None  # sa.MetaData of the untimed first ingest, if any
    setup_items: Optional[Callable[[], Iterator[Item]]] = None
    tables: List[Any] = field(default_factory=list)  # the timed metadata's tables, in order
    # ingest_versioned's versions (set up, timed) of the metadata's one table, the base table (whose
    # name is then the view's); None: ingest()
    versions: Optional[Tuple[str, str]] = None


# --- rows ---------------------------------------------------------------------------------------


def basic_row(i: int) -> Tuple[Any, ...]:
    """(BIGINT id, VARCHAR(64) name, TIMESTAMP at, NUMERIC amount, BOOLEAN flag)"""
    return (i, f"name-{i}", START + i * SECOND, decimal.Decimal(i).scaleb(-2), i % 2 == 0)


def changed_row(i: int) -> Tuple[Any, ...]:
    """basic_row, with a different name and amount for every 10th row."""
    if i % 10:
        return basic_row(i)
    return (i, f"changed-{i}", START + i * SECOND, decimal.Decimal(i + 1).scaleb(-2), i % 2 == 0)


def basic_items(table: Any, start: int, stop: int, row: Callable[[int], Tuple[Any, ...]] = basic_row) -> Iterator[Item]:
    for i in range(start, stop):
        yield table, row(i)


# SQL that yields basic_row(i) for i in [0, n): the binary COPY file of the psql and server contenders.
BASIC_ROWS_SQL = """
SELECT i::bigint, 'name-' || i, timestamp '2024-01-01' + i * interval '1 second', i::numeric * 0.01, i % 2 = 0
FROM generate_series(0, {n} - 1) AS i
"""


def wide_value_makers() -> List[Tuple[Any, Callable[[int, int], Any]]]:
    """The types of S5's columns after the id, cycled, each with its value of (row, column)."""
    import sqlalchemy as sa

    epoch = datetime.date(2000, 1, 1)
    day = datetime.timedelta(days=1)
    return [
        (sa.INTEGER, lambda i, c: (i * 31 + c) % 2_000_000_000),
        (sa.VARCHAR(32), lambda i, c: f"v{c}-{i}"),
        (sa.TIMESTAMP, lambda i, c: START + (i + c) * SECOND),
        (sa.NUMERIC, lambda i, c: decimal.Decimal(i * c).scaleb(-2)),
        (sa.BOOLEAN, lambda i, c: (i + c) % 3 == 0),
        (sa.DOUBLE_PRECISION, lambda i, c: i / (c + 1)),
        (sa.TEXT, lambda i, c: f"text of column {c} in row {i}"),
        (sa.DATE, lambda i, c: epoch + ((i + c) % 10_000) * day),
        (sa.BIGINT, lambda i, c: i * 1_000 + c),
    ]


WIDE_COLUMNS = 50


def wide_items(table: Any, n: int) -> Iterator[Item]:
    """S5's rows: an id and 49 values of mixed types, one in 17 of them NULL."""
    makers = wide_value_makers()
    columns = [(c, makers[(c - 1) % len(makers)][1]) for c in range(1, WIDE_COLUMNS)]
    for i in range(n):
        yield table, (i, *[None if (i + c) % 17 == 0 else make(i, c) for c, make in columns])


CITIES = ("London", "Paris", "Berlin", "Madrid", "Rome")


def document(i: int) -> Dict[str, Any]:
    """S6's JSONB value: 12 keys at the top, 21 in all, nested."""
    return {
        "id": i,
        "name": f"doc-{i}",
        "active": i % 2 == 0,
        "score": i / 3,
        "tags": ["alpha", "beta", f"t{i % 7}"],
        "address": {
            "street": f"{i} Main Street",
            "city": CITIES[i % len(CITIES)],
            "zip": f"{i % 100_000:05d}",
            "geo": {"lat": 51.5 + (i % 1000) / 1e4, "lon": -0.12 - (i % 1000) / 1e4},
        },
        "counts": [i % 3, i % 5, i % 7],
        "created": (START + i * SECOND).isoformat(),
        "owner": {"id": i % 1000, "email": f"user{i % 1000}@example.com"},
        "version": 3,
        "notes": None,
        "ratio": (i % 100) / 100,
    }


def document_items(table: Any, n: int) -> Iterator[Item]:
    for i in range(n):
        yield table, (i, document(i))


def interleaved_items(tables: List[Any], n: int) -> Iterator[Item]:
    """S7's rows: row i goes to table i % 3."""
    count = len(tables)
    for i in range(n):
        yield tables[i % count], basic_row(i)


# --- tables -------------------------------------------------------------------------------------


def basic_table(metadata: Any, schema: str, name: str, primary_key: bool, extra: Iterable[Any] = ()) -> Any:
    import sqlalchemy as sa

    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BIGINT, primary_key=primary_key, nullable=not primary_key),
        sa.Column("name", sa.VARCHAR(64)),
        sa.Column("at", sa.TIMESTAMP),
        sa.Column("amount", sa.NUMERIC),
        sa.Column("flag", sa.BOOLEAN),
        *extra,
        schema=schema,
    )


def wide_table(metadata: Any, schema: str) -> Any:
    import sqlalchemy as sa

    makers = wide_value_makers()
    columns = [sa.Column(f"c{c:02d}", makers[(c - 1) % len(makers)][0]) for c in range(1, WIDE_COLUMNS)]
    return sa.Table("wide", metadata, sa.Column("id", sa.BIGINT, primary_key=True), *columns, schema=schema)


def document_table(metadata: Any, schema: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.Table(
        "documents", metadata, sa.Column("id", sa.BIGINT, primary_key=True), sa.Column("doc", JSONB), schema=schema
    )


# --- scenarios ----------------------------------------------------------------------------------


def workload(key: str, schema: str, rows: int) -> Workload:
    """Scenario key with rows rows (scenario_rows), its tables in schema."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    if key in ("S1", "S9", "S11"):
        t = basic_table(metadata, schema, "bench", primary_key=False)
        return Workload(metadata, lambda: basic_items(t, 0, rows), rows, {t.name: rows}, tables=[t])
    if key == "S2":
        t = basic_table(metadata, schema, "bench", primary_key=True)
        return Workload(metadata, lambda: basic_items(t, 0, rows), rows, {t.name: rows}, tables=[t])
    if key in ("S3", "S4", "S10"):
        # S10: a secondary index, as versioned datasets have, rebuilt in each new partition
        index = [sa.Index("bench_name", "name")] if key == "S10" else []
        t = basic_table(metadata, schema, "bench", primary_key=True, extra=index)
        row = basic_row if key == "S3" else changed_row
        return Workload(
            metadata, lambda: basic_items(t, 0, rows, row), rows, {t.name: rows},
            setup_metadata=metadata, setup_items=lambda: basic_items(t, 0, rows), tables=[t],
            versions=VERSIONS if key == "S10" else None,
        )
    if key == "S5":
        t = wide_table(metadata, schema)
        return Workload(metadata, lambda: wide_items(t, rows), rows, {t.name: rows}, tables=[t])
    if key == "S6":
        t = document_table(metadata, schema)
        return Workload(metadata, lambda: document_items(t, rows), rows, {t.name: rows}, tables=[t])
    if key == "S7":
        ts = [basic_table(metadata, schema, f"t{k}", primary_key=True) for k in (1, 2, 3)]
        expected = {t.name: len(range(k, rows, len(ts))) for k, t in enumerate(ts)}
        return Workload(metadata, lambda: interleaved_items(ts, rows), rows, expected, tables=ts)
    if key == "S8":
        old_metadata = sa.MetaData()
        old = basic_table(old_metadata, schema, "bench", primary_key=True)
        note = sa.Column("note", sa.VARCHAR(32), nullable=True)
        t = basic_table(metadata, schema, "bench", primary_key=True, extra=[note])

        def new_rows() -> Iterator[Item]:
            for i in range(rows, rows + MIGRATION_ROWS):
                yield t, (*basic_row(i), f"note-{i}")

        return Workload(
            metadata, new_rows, MIGRATION_ROWS, {t.name: rows + MIGRATION_ROWS},
            setup_metadata=old_metadata, setup_items=lambda: basic_items(old, 0, rows), tables=[t],
        )
    raise ValueError(f"unknown scenario {key}")


# --- Arrow --------------------------------------------------------------------------------------


def arrow_type(sa_type: Any) -> Any:
    """The Arrow type that carries a column's values (JSONB as JSON text)."""
    import pyarrow as pa
    import sqlalchemy as sa

    for sa_class, arrow in (
        (sa.BIGINT, pa.int64()),
        (sa.INTEGER, pa.int32()),
        (sa.BOOLEAN, pa.bool_()),
        (sa.DOUBLE_PRECISION, pa.float64()),
        (sa.NUMERIC, pa.decimal128(38, 2)),
        (sa.TIMESTAMP, pa.timestamp("us")),
        (sa.DATE, pa.date32()),
        (sa.JSON, pa.string()),
        (sa.String, pa.string()),
    ):
        if isinstance(sa_type, sa_class):
            return arrow
    raise TypeError(f"no Arrow type for {sa_type!r}")


def arrow_schema(table: Any) -> Any:
    import pyarrow as pa

    return pa.schema([(c.name, arrow_type(c.type)) for c in table.columns])


def to_record_batch(table: Any, rows: List[Tuple[Any, ...]]) -> Any:
    """rows of table as one Arrow record batch, columns named as the table's."""
    import pyarrow as pa
    import sqlalchemy as sa

    arrays = []
    for position, column in enumerate(table.columns):
        values = [row[position] for row in rows]
        if isinstance(column.type, sa.JSON):
            values = [None if v is None else json.dumps(v) for v in values]
        arrays.append(pa.array(values, type=arrow_type(column.type)))
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(table))


ARROW_BATCH_ROWS = 100_000  # rows converted at a time: only these are Python objects at once


def arrow_batches(tables: List[Any], items: Iterable[Item]) -> Iterator[Tuple[Any, Any]]:
    """The items as (sa.Table, pa.RecordBatch) of up to ARROW_BATCH_ROWS rows of one table, each
    made when it is full (the rest at the end)."""
    pending: Dict[Any, List[Tuple[Any, ...]]] = {t: [] for t in tables}
    for table, row in items:
        rows = pending[table]
        rows.append(row)
        if len(rows) == ARROW_BATCH_ROWS:
            yield table, to_record_batch(table, rows)
            pending[table] = []
    for table, rows in pending.items():
        if rows:
            yield table, to_record_batch(table, rows)


def to_arrow_tables(tables: List[Any], items: Iterable[Item]) -> List[Tuple[Any, Any]]:
    """The items as one (sa.Table, pa.Table) per table, in the tables' order: what a user whose data
    is in Arrow already has (a table of record batches of ARROW_BATCH_ROWS rows)."""
    import pyarrow as pa

    batches: Dict[Any, List[Any]] = {t: [] for t in tables}
    for table, batch in arrow_batches(tables, items):
        batches[table].append(batch)
    return [(t, pa.Table.from_batches(batches[t], schema=arrow_schema(t))) for t in tables]
