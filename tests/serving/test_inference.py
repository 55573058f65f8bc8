"""The wig80 ensemble over HTTP and gRPC gives what the in-process pipeline gives, batched or not."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

import feature_kernels
from tests.serving.conftest import in_process, infer_each_at_once, ohlcv_input

pytestmark = pytest.mark.triton
OUTPUTS = ("MEAN", "STD", "FEATURES", "BAND_SHARES")
TOLERANCE = 1e-5


def assert_matches_in_process(result, repository, windows):
    expected = in_process(repository, windows)
    band_columns = [feature_kernels.FEATURE_NAMES.index(n) for n in feature_kernels.BAND_SHARE_NAMES]
    expected["BAND_SHARES"] = expected["FEATURES"][:, band_columns]
    for name in OUTPUTS:
        got = result.as_numpy(name)
        assert got.shape == expected[name].shape, name
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=TOLERANCE, err_msg=name)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_wig80_equals_in_process_pipeline(protocol, triton_server, real_windows, http_client, grpc_client):
    module, client = (httpclient, http_client) if protocol == "http" else (grpcclient, grpc_client)
    windows = real_windows[:8]
    result = client.infer("wig80", [ohlcv_input(module, windows)])
    assert_matches_in_process(result, triton_server.repository, windows)
    assert (result.as_numpy("STD") > 0).all()


@pytest.mark.parametrize("requested", [("MEAN", "STD"), ("MEAN",), ("FEATURES",), ("BAND_SHARES", "STD")])
def test_any_subset_of_outputs_can_be_requested(requested, triton_server, real_windows, grpc_client):
    windows = real_windows[:2]
    outputs = [grpcclient.InferRequestedOutput(name) for name in requested]
    result = grpc_client.infer("wig80", [ohlcv_input(grpcclient, windows)], outputs=outputs)
    expected = in_process(triton_server.repository, windows)
    for name in requested:
        if name in expected:
            np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=0, atol=TOLERANCE)
        else:
            assert result.as_numpy(name).shape == (2, 3)


def test_features_model_takes_any_window_length_from_min_window(triton_server, real_windows, grpc_client):
    windows = np.ascontiguousarray(real_windows[:3, -feature_kernels.MIN_WINDOW :])
    result = grpc_client.infer("features", [ohlcv_input(grpcclient, windows)])
    np.testing.assert_allclose(
        result.as_numpy("FEATURES"), feature_kernels.compute_features(windows), rtol=0, atol=TOLERANCE
    )


def model_counts(triton_server, model: str) -> tuple[int, int]:
    """(inferences, executions) summed over the loaded versions of `model`."""
    stats = triton_server.statistics(model)
    return sum(s.inference_count for s in stats), sum(s.execution_count for s in stats)


def test_concurrent_single_window_requests_are_batched_and_equal_one_batched_request(
    triton_server, real_windows, grpc_client
):
    n = min(len(real_windows), triton_server.max_batch_size)
    windows = real_windows[:n]
    one_request = grpc_client.infer("wig80", [ohlcv_input(grpcclient, windows)])
    served = ("wig80",)  # the CPU target's fused model does the features and the network in one execute
    before = {m: model_counts(triton_server, m) for m in served}
    results = infer_each_at_once(grpc_client, windows[:n])
    for i in range(n):
        assert not isinstance(results[i], Exception), results[i]
        for name in OUTPUTS:
            np.testing.assert_allclose(
                results[i].as_numpy(name)[0],
                one_request.as_numpy(name)[i],
                rtol=0,
                atol=TOLERANCE,
                err_msg=f"{name}, window {i}",
            )
    for model in served:
        inferences, executions = np.subtract(model_counts(triton_server, model), before[model])
        assert inferences == n
        assert executions < n, f"{model}: {n} requests ran in {executions} executions: no batch > 1"
