"""After a new export is loaded into Triton, the gateway reports (and keys its cache by) the new version."""

from __future__ import annotations

import numpy as np
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


async def test_a_forecast_is_labelled_with_the_version_that_computed_it(tiny_run, tmp_path):
    """A gateway whose model info is stale still labels each forecast with the version that answered."""
    from export.parity_inputs import stored_windows
    from tests.serving.conftest import in_process

    settings = tiny_run.settings()
    repository = tmp_path / "repo"
    export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    server = start_triton(repository, tmp_path / "home")
    forecaster = TritonForecaster(server.grpc_address, default_window=tiny_run.window, info_max_age_s=3600.0)
    windows = stored_windows(None, tiny_run.home, tiny_run.window)[:2]
    try:
        first = await forecaster.forecast(windows)
        export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
        server.reload(version=2)  # wig80 version 1 is unloaded; the forecaster still believes in it
        second = await forecaster.forecast(windows)
    finally:
        await forecaster.close()
        server.stop()
    assert (first.info.version, second.info.version) == ("1", "2")
    assert second.info.model_version.endswith("/v2")
    for forecast, version in ((first, 1), (second, 2)):
        np.testing.assert_allclose(forecast.mean, in_process(repository, windows, version)["MEAN"], atol=1e-5)
