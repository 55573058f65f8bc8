"""Helpers for talking to the real server with NVIDIA's clients, and the in-process reference pipeline."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from export.onnx_export import cpu_session
from export.parity_inputs import stored_windows
from export.repository import existing_versions
from feature_kernels import compute_features
from serving.contract import NETWORK_INPUT

pytestmark = pytest.mark.triton


def ohlcv_input(module, windows: np.ndarray, datatype: str = "FP32"):
    tensor = module.InferInput("OHLCV", list(windows.shape), datatype)
    tensor.set_data_from_numpy(windows)
    return tensor


def infer_each_at_once(grpc_client, windows: np.ndarray, model: str = "wig80") -> list:
    """One request per window, all in flight at once (so the dynamic batcher can group them);
    each window's result, or the error it got."""
    results: dict[int, object] = {}
    done = threading.Semaphore(0)

    def collect(index):
        def callback(result, error):
            results[index] = error or result
            done.release()

        return callback

    for i in range(len(windows)):
        grpc_client.async_infer(model, [ohlcv_input(grpcclient, windows[i : i + 1])], collect(i))
    for _ in range(len(windows)):
        assert done.acquire(timeout=60), "a request got no answer in 60 s"
    return [results[i] for i in range(len(windows))]


def http_ready(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def in_process(repository: Path, windows: np.ndarray, version: int | None = None) -> dict[str, np.ndarray]:
    """What wig80 `version` (default: the latest exported) must return: compute_features, then its ONNX in ORT."""
    features = compute_features(windows)
    onnx_path = repository / "mgdl" / str(version or existing_versions(repository)[-1]) / "model.onnx"
    mean, std = cpu_session(onnx_path).run(["MEAN", "STD"], {NETWORK_INPUT: features})
    return {"FEATURES": features, "MEAN": mean, "STD": std}


@pytest.fixture(scope="session")
def real_windows(triton_server) -> np.ndarray:
    """Bar windows of the tiny run's stored market, as the server expects them (W bars x OHLCV)."""
    windows = stored_windows(None, triton_server.home, triton_server.window)
    assert len(windows) >= 16
    return windows


@pytest.fixture
def http_client(triton_server):
    client = httpclient.InferenceServerClient(triton_server.http_address, concurrency=4)
    yield client
    client.close()


@pytest.fixture
def grpc_client(triton_server):
    client = grpcclient.InferenceServerClient(triton_server.grpc_url)
    yield client
    client.close()
