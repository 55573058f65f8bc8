"""Bad requests get an error that names the problem; the server keeps serving the next request."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

import feature_kernels
from tests.serving.conftest import infer_each_at_once, ohlcv_input

pytestmark = pytest.mark.triton


def assert_still_serves(client, module, windows):
    result = client.infer("wig80", [ohlcv_input(module, windows[:1])])
    assert result.as_numpy("MEAN").shape == (1, 30)


def error_of(client, model, inputs) -> str:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, inputs)
    return str(caught.value)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_wrong_shape_dtype_nan_and_oversized_batch(
    protocol, triton_server, real_windows, http_client, grpc_client
):
    module, client = (httpclient, http_client) if protocol == "http" else (grpcclient, grpc_client)
    good = real_windows[:2]

    message = error_of(client, "wig80", [ohlcv_input(module, np.ascontiguousarray(good[:, 1:]))])
    assert "shape" in message and "OHLCV" in message
    assert_still_serves(client, module, real_windows)

    message = error_of(client, "wig80", [ohlcv_input(module, good.astype(np.float64), "FP64")])
    assert "data-type" in message and "FP64" in message and "FP32" in message
    assert_still_serves(client, module, real_windows)

    with_nan = good.copy()
    with_nan[1, 10, 3] = np.nan
    message = error_of(client, "wig80", [ohlcv_input(module, with_nan)])
    assert "windows[1] row 10 (close=nan) is not finite (NaN or inf)" in message
    assert_still_serves(client, module, real_windows)

    too_many = np.repeat(good[:1], triton_server.max_batch_size + 1, axis=0)
    message = error_of(client, "wig80", [ohlcv_input(module, too_many)])
    assert "batch" in message.lower() and str(triton_server.max_batch_size) in message
    assert_still_serves(client, module, real_windows)


def test_features_names_short_windows_and_non_positive_prices(real_windows, grpc_client):
    short = np.ascontiguousarray(real_windows[:1, -(feature_kernels.MIN_WINDOW - 1) :])
    message = error_of(grpc_client, "features", [ohlcv_input(grpcclient, short)])
    assert f"at least {feature_kernels.MIN_WINDOW}" in message
    zero_price = real_windows[:1].copy()
    zero_price[0, 5, 2] = 0.0
    message = error_of(grpc_client, "features", [ohlcv_input(grpcclient, zero_price)])
    assert "windows[0] row 5 (low=0.0) is not a positive price" in message
    assert_still_serves(grpc_client, grpcclient, real_windows)


def test_a_bad_request_fails_alone_when_batched_with_good_ones(real_windows, grpc_client):
    n = 12
    windows = real_windows[:n].copy()
    windows[5, 0, 0] = np.inf
    results = infer_each_at_once(grpc_client, windows[:n])
    assert isinstance(results[5], InferenceServerException)
    assert "windows[0] row 0 (open=inf) is not finite" in str(results[5])
    for i in set(range(n)) - {5}:
        assert not isinstance(results[i], Exception), results[i]
        assert np.isfinite(results[i].as_numpy("MEAN")).all()


def test_inconsistent_bars_fail_alone_with_their_reason(real_windows, grpc_client):
    n = 8
    windows = real_windows[:n].copy()
    windows[2, 7, 1] = windows[2, 7, 2] * 0.5  # high below low
    windows[6, 40, 3] = windows[6, 40, 1] * 2.0  # close above high
    results = infer_each_at_once(grpc_client, windows)
    assert isinstance(results[2], InferenceServerException)
    assert "windows[0] row 7 (high=" in str(results[2]) and ") is below low=" in str(results[2])
    assert isinstance(results[6], InferenceServerException)
    assert "windows[0] row 40 (close=" in str(results[6]) and "is outside [low, high]" in str(results[6])
    for i in set(range(n)) - {2, 6}:
        assert not isinstance(results[i], Exception), results[i]
        assert np.isfinite(results[i].as_numpy("MEAN")).all()
