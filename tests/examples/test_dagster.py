"""docs/examples/dagster_asset.py, materialized twice with dagster.materialize
and the resources of the example's own Definitions (the warehouse URL read
from WAREHOUSE_URL through dg.EnvVar): the second run starts from the high
watermark the first one stored, and ingests only the file that landed since.
The progress lines are read back from the run's event log, where Dagster's UI
shows them.

tests/run.py runs this file in .venvs/dagster (Dagster, psycopg 3, this
package's wheel); elsewhere it skips."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType
from typing import Iterator, List

import pytest
import sqlalchemy as sa

dg = pytest.importorskip(
    "dagster", reason="Dagster is not installed in this environment (tests/run.py runs this file in .venvs/dagster)"
)

from example_support import (  # noqa: E402
    EXAMPLES,
    FILE_B,
    FILE_C,
    check_first_run,
    check_second_run,
    land_first_files,
    land_second_files,
    sqlalchemy_url,
)


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("dagster_asset", EXAMPLES / "dagster_asset.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dagster_asset"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["dagster_asset"]


def materialize(example: ModuleType, instance: "dg.DagsterInstance", landing_dir: pathlib.Path, schema: str) -> List[str]:
    """One run of the asset; the messages of its event log."""
    result = dg.materialize(
        [example.events],
        resources=example.defs.resources,
        run_config=dg.RunConfig(
            ops={"warehouse__events": example.EventsConfig(landing_dir=str(landing_dir), target_schema=schema)}
        ),
        instance=instance,
    )
    assert result.success
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


def test_asset_ingests_new_files_and_carries_on_from_the_high_watermark(
    example: ModuleType,
    database_url: str,
    engine: sa.engine.Engine,
    schema: str,
    landing_dir: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The example's URL scheme picks the driver: psycopg 3 where it is installed.
    url = sqlalchemy_url(database_url)
    if importlib.util.find_spec("psycopg") is not None:
        url = url.set(drivername="postgresql+psycopg")
    monkeypatch.setenv("WAREHOUSE_URL", url.render_as_string(hide_password=False))
    dg.Definitions.validate_loadable(example.defs)

    with dg.DagsterInstance.ephemeral() as instance:
        land_first_files(landing_dir)
        check_first_run(engine, schema, materialize(example, instance, landing_dir, schema))
        land_second_files(landing_dir)
        check_second_run(engine, schema, materialize(example, instance, landing_dir, schema))

        # What the asset's page in the UI shows of the last materialization.
        materialization = instance.get_latest_materialization_event(dg.AssetKey(["warehouse", "events"]))
        assert materialization is not None and materialization.asset_materialization is not None
        metadata = materialization.asset_materialization.metadata
        assert metadata["new_files"].value == [FILE_C]
        assert metadata["high_watermark"].value == FILE_C
        assert metadata["rows_in_table"].value == 2700
        assert FILE_B not in metadata["new_files"].value
