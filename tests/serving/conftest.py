"""Helpers for talking to the real server with NVIDIA's clients, and the in-process reference pipeline."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from export.onnx_export import INPUT_NAME, cpu_session
from export.parity_inputs import stored_windows
from export.repository import existing_versions
from feature_kernels import compute_features

pytestmark = pytest.mark.triton


def ohlcv_input(module, windows: np.ndarray, datatype: str = "FP32"):
    tensor = module.InferInput("OHLCV", list(windows.shape), datatype)
    tensor.set_data_from_numpy(windows)
    return tensor


def http_ready(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def in_process(repository: Path, windows: np.ndarray) -> dict[str, np.ndarray]:
    """What the wig80 ensemble must return: compute_features, then the latest exported ONNX in ORT."""
    features = compute_features(windows)
    onnx_path = repository / "mgdl" / str(existing_versions(repository)[-1]) / "model.onnx"
    mean, std = cpu_session(onnx_path).run(["MEAN", "STD"], {INPUT_NAME: features})
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
