"""What the example tests share: the landing files of two runs, and the checks
a user makes after each run (rows in the table, the stored high watermark, the
progress lines in the log)."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Dict, Iterable, List, Optional

import sqlalchemy as sa

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"

FILE_A = "events-20240601T1000.jsonl"  # ids 1-2500, "view"
FILE_B = "events-20240601T1100.jsonl"  # ids 2451-2600, "click": 50 updates, 100 new
FILE_C = "events-20240601T1200.jsonl"  # ids 2601-2700, "purchase": dropped before the second run


def write_events(landing_dir: pathlib.Path, name: str, ids: Iterable[int], kind: str) -> None:
    landing_dir.mkdir(parents=True, exist_ok=True)
    with open(landing_dir / name, "w", encoding="utf-8") as f:
        for i in ids:
            event = {"id": i, "occurred_at": f"2024-06-01T10:{i % 60:02d}:00+00:00", "kind": kind, "payload": {"n": i}}
            f.write(json.dumps(event) + "\n")


def land_first_files(landing_dir: pathlib.Path) -> None:
    write_events(landing_dir, FILE_A, range(1, 2501), "view")
    write_events(landing_dir, FILE_B, range(2451, 2601), "click")


def land_second_files(landing_dir: pathlib.Path) -> None:
    """A new file, and an old one rewritten: a second run that read the old
    one again would leave "rewritten" rows behind."""
    write_events(landing_dir, FILE_A, range(1, 2501), "rewritten")
    write_events(landing_dir, FILE_C, range(2601, 2701), "purchase")


def kinds(engine: sa.engine.Engine, schema: str) -> Dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT kind, count(*) FROM "{schema}".events GROUP BY kind'))
        return {kind: n for kind, n in rows}


def stored_high_watermark(engine: sa.engine.Engine, schema: str) -> Optional[str]:
    with engine.connect() as conn:
        comment = conn.execute(
            sa.text("SELECT obj_description(to_regclass(:t), 'pg_class')"), {"t": f'"{schema}".events'}
        ).scalar_one()
    value: Optional[str] = json.loads(comment)["pg-bulk-ingest"]["high-watermark"]
    return value


def has_line(lines: List[str], message: str, logger: str = "") -> bool:
    return any(message in line and logger in line for line in lines)


def check_first_run(engine: sa.engine.Engine, schema: str, lines: List[str], logger: str = "") -> None:
    """Both files in; every id once; the upsert kept B's kind for the 50 ids
    both files have; the progress lines of the 2500-row batch in the log."""
    assert kinds(engine, schema) == {"view": 2450, "click": 150}
    assert stored_high_watermark(engine, schema) == FILE_B
    for message in [
        f"High-watermark of {schema}.events is None",
        f"Ingesting batch {FILE_A} with high watermark value {FILE_A}",
        "Ingested 100 rows...",
        "Ingested 1000 rows...",
        "Ingested 2000 rows...",
        "Ingested 2500 rows in total",
        f"Ingestion of batch {FILE_A} with high watermark value {FILE_A} complete",
        f"Ingesting batch {FILE_B} with high watermark value {FILE_B}",
        "Ingested 150 rows in total",
        f"Ingestion of batch {FILE_B} with high watermark value {FILE_B} complete",
    ]:
        assert has_line(lines, message, logger), f"{message!r} (logger {logger!r}) not in the log:\n" + "\n".join(lines)


def check_second_run(engine: sa.engine.Engine, schema: str, lines: List[str], logger: str = "") -> None:
    """The run started from the stored high watermark: only the new file went in."""
    assert kinds(engine, schema) == {"view": 2450, "click": 150, "purchase": 100}
    assert stored_high_watermark(engine, schema) == FILE_C
    for message in [
        f"High-watermark of {schema}.events is {FILE_B}",
        f"Ingesting batch {FILE_C} with high watermark value {FILE_C}",
        "Ingested 100 rows in total",
        f"Ingestion of batch {FILE_C} with high watermark value {FILE_C} complete",
    ]:
        assert has_line(lines, message, logger), f"{message!r} (logger {logger!r}) not in the log:\n" + "\n".join(lines)
    for old in (FILE_A, FILE_B):
        assert not has_line(lines, f"Ingesting batch {old}"), f"the second run ingested {old} again"


def sqlalchemy_url(database_url: str) -> sa.engine.URL:
    """DATABASE_URL with a driver this environment has (psycopg2 first)."""
    import importlib.util

    url = sa.engine.make_url(database_url)
    if "+" in url.drivername:
        return url
    for driver in ("psycopg2", "psycopg"):
        if importlib.util.find_spec(driver) is not None:
            return url.set(drivername=f"postgresql+{driver}")
    raise RuntimeError("neither psycopg2 nor psycopg is installed")


def child_env(**extra: str) -> Dict[str, str]:
    """This process's environment for an example run as a program, plus extra."""
    env = dict(os.environ)
    env.update(extra)
    return env
