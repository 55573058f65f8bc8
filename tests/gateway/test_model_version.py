"""After a new export is loaded into Triton, the gateway reports (and keys its cache by) the new version."""

from __future__ import annotations

import pytest

from export.exporter import export_run
from gateway.triton_client import TritonForecaster
from tests.fixtures.triton import start_triton

pytestmark = pytest.mark.triton


async def test_a_reloaded_model_version_is_picked_up(tiny_run, tmp_path):
    settings = tiny_run.settings()
    repository = tmp_path / "repo"
    export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    server = start_triton(repository, tmp_path / "home")
    forecaster = TritonForecaster(server.grpc_address, default_window=tiny_run.window, info_max_age_s=0.0)
    try:
        before = (await forecaster.model_info()).model_version
        export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
        server.reload()
        after = (await forecaster.model_info()).model_version
    finally:
        await forecaster.close()
        server.stop()
    assert before.endswith("/v1") and after.endswith("/v2"), (before, after)
