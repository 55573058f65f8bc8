"""After a new export is loaded into Triton, the gateway serves (and labels, and keys its forecasts by)
the new version within 5 s, and never serves one version's forecast under the other's label."""

from __future__ import annotations

import math
import time

import httpx
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from export.exporter import export_run
from export.onnx_export import cpu_session
from feature_kernels import compute_features
from gateway.forecasting.triton_client import TritonClient
from market_data.bars import CLOSE
from market_data.stores import open_store
from market_data.stores.sync import run_sync
from serving.contract import NETWORK_INPUT
from serving.model_control import load_in_order
from tests.fixtures.triton import start_triton

pytestmark = pytest.mark.triton
SWITCH_WITHIN_S = 5.0
HORIZON = 3


async def test_a_forecast_is_labelled_with_the_version_that_computed_it(tiny_run, tmp_path):
    """A gateway whose model info is stale still labels each forecast with the version that answered."""
    from export.parity_inputs import stored_windows
    from tests.serving.conftest import in_process

    settings = tiny_run.settings()
    repository = tmp_path / "repo"
    export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    server = start_triton(repository, tmp_path / "home")
    triton = TritonClient(server.address.grpc, default_window=tiny_run.window)
    windows = stored_windows(None, tiny_run.home, tiny_run.window)[:2]
    try:
        stale = await triton.model_info()  # what a gateway holds until its watcher sees the switch
        first = await triton.forecast(windows, stale)
        export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
        load_in_order(server.address, server.admin_key, version=2)  # wig80 version 1 is unloaded
        second = await triton.forecast(windows, stale)
    finally:
        await triton.close()
        server.stop()
    assert (first.info.version, second.info.version) == ("1", "2")
    assert second.info.model_version.endswith("/v2")
    for forecast, version in ((first, 1), (second, 2)):
        np.testing.assert_allclose(forecast.mean, in_process(repository, windows, version)["MEAN"], atol=1e-5)


def shift_mean(onnx_path, shift: float) -> None:
    """Another network of the same shape: the same graph with `shift` added to its MEAN output."""
    model = onnx.load(onnx_path)
    for node in model.graph.node:
        node.output[:] = ["MEAN_unshifted" if name == "MEAN" else name for name in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(shift, dtype=np.float32), "mean_shift"))
    model.graph.node.append(helper.make_node("Add", ["MEAN_unshifted", "mean_shift"], ["MEAN"]))
    onnx.checker.check_model(model)
    onnx.save(model, onnx_path)


async def last_bars(home, symbol: str, n: int):
    async with open_store(None, home) as store:
        return await store.last_bars(symbol, n)


def expected_price(repository, version: int, window: np.ndarray, horizon: int = HORIZON) -> float:
    """predicted_price of `window` by network `version`, computed in process."""
    features = compute_features(window[np.newaxis].astype(np.float32))
    mean, _ = cpu_session(repository / "wig80" / str(version) / "model.onnx").run(
        ["MEAN", "STD"], {NETWORK_INPUT: features})
    return float(window[-1, CLOSE]) * math.exp(float(mean[0, horizon - 1]))


def test_gateway_switches_within_5_s_and_labels_each_forecast_with_its_maker(
    tiny_run, start_gateway, bars_home, stored_symbols, tmp_path
):
    settings = tiny_run.settings()
    repository = tmp_path / "repo"
    export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    server = start_triton(repository, tmp_path / "triton-home")
    symbol = stored_symbols[0]
    try:
        gateway = start_gateway(TRITON_URL=server.address.grpc)
        body = {"symbol": symbol, "prediction_horizon": HORIZON}
        seen = [httpx.post(f"{gateway.url}/analyze", json=body, timeout=30.0).json()]
        export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
        for model in ("mgdl", "wig80"):
            shift_mean(repository / model / "2" / "model.onnx", 0.01)
        load_in_order(server.address, server.admin_key)
        reloaded = time.monotonic()
        while not seen[-1]["model_version"].endswith("/v2") and time.monotonic() - reloaded < SWITCH_WITHIN_S + 2:
            seen.append(httpx.post(f"{gateway.url}/analyze", json=body, timeout=30.0).json())
        switched_after = time.monotonic() - reloaded
    finally:
        server.stop()
    assert seen[-1]["model_version"].endswith("/v2") and switched_after <= SWITCH_WITHIN_S, switched_after
    window = run_sync(last_bars(bars_home, symbol, tiny_run.window)).ohlcv
    prices = {version: expected_price(repository, version, window) for version in (1, 2)}
    assert not math.isclose(prices[1], prices[2], rel_tol=1e-3)  # the two versions are told apart
    for answer in seen:
        version = int(answer["model_version"].rsplit("/v", 1)[1])
        assert answer["predicted_price"] == pytest.approx(prices[version], rel=1e-5), answer["model_version"]
