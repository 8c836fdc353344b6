"""The base table of the ingest_versioned tests, importing only SQLAlchemy:
the switch test's child process, running upstream's package, defines it
from here too."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def base_table(schema: Any) -> sa.Table:
    """A primary key, NOT NULL, NUMERIC, a column index, an unnamed index
    that holds the key column again (which the hash then lists twice) and a
    named one."""
    return sa.Table(
        "mytab",
        sa.MetaData(),
        sa.Column("id", sa.INTEGER, primary_key=True),
        sa.Column("name", sa.VARCHAR(20), nullable=False),
        sa.Column("val", sa.NUMERIC),
        sa.Column("tag", sa.VARCHAR, index=True),
        sa.Index(None, "name", "id"),
        sa.Index("mytab_val_idx", "val"),
        schema=schema,
    )
