"""The CPU repository's fused `wig80` (one Python-backend model) and the ensemble `features` -> `mgdl`
answer the same as the in-process pipeline, on the same windows, through one real tritonserver."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from export.repository import SOURCE_REPOSITORY, ServingShape, existing_versions, render
from feature_kernels import FEATURE_NAMES
from serving.contract import LOAD_ORDER
from serving.tritonserver import TritonServer
from tests.fixtures.services import free_port
from tests.serving.conftest import in_process, infer_each_at_once, ohlcv_input

pytestmark = pytest.mark.triton
ENSEMBLE = "wig80_ensemble"
OUTPUTS = ("MEAN", "STD", "FEATURES", "BAND_SHARES")


def with_ensemble_beside(repository, destination, window: int, max_batch_size: int):
    """A copy of the repository plus the GPU target's ensemble, named ENSEMBLE, over the same models."""
    shutil.copytree(repository, destination)
    version = existing_versions(destination)[-1]
    shape = ServingShape("parity", window, tuple(FEATURE_NAMES), 30, max_batch_size, 500)
    text = render((SOURCE_REPOSITORY / "wig80" / "config.template.pbtxt").read_text(), shape, version)
    (destination / ENSEMBLE / str(version)).mkdir(parents=True)
    (destination / ENSEMBLE / "config.pbtxt").write_text(text.replace('name: "wig80"', f'name: "{ENSEMBLE}"'))
    return destination


def test_fused_model_ensemble_and_in_process_agree(triton_server, real_windows, tmp_path):
    repository = with_ensemble_beside(
        triton_server.repository, tmp_path / "repo", triton_server.window, triton_server.max_batch_size
    )
    config = (repository / "wig80" / "config.pbtxt").read_text()
    assert 'backend: "python"' in config and "ensemble_scheduling" not in config  # the CPU target is fused
    windows = real_windows[:16]
    expected = in_process(repository, windows)
    expected["BAND_SHARES"] = None
    server = TritonServer(repository, free_port(), free_port(), free_port(), home=tmp_path / "home",
                          models=(*LOAD_ORDER, ENSEMBLE))
    client = grpcclient.InferenceServerClient(server.address.grpc)
    try:
        server.start().wait_ready()
        answers = {}
        for model in ("wig80", ENSEMBLE):
            one_request = client.infer(model, [ohlcv_input(grpcclient, windows)])
            answers[model] = {name: one_request.as_numpy(name) for name in OUTPUTS}
            each = infer_each_at_once(client, windows, model)  # batched by Triton across requests
            for name in OUTPUTS:
                np.testing.assert_allclose(np.concatenate([r.as_numpy(name) for r in each]), answers[model][name],
                                           rtol=1e-5, atol=1e-6)
        only_mean = client.infer("wig80", [ohlcv_input(grpcclient, windows[:2])],
                                 outputs=[grpcclient.InferRequestedOutput("MEAN")])
        assert only_mean.as_numpy("STD") is None and only_mean.as_numpy("MEAN").shape == (2, 30)
    finally:
        client.close()
        server.stop()
    for name in OUTPUTS:
        np.testing.assert_allclose(answers["wig80"][name], answers[ENSEMBLE][name], rtol=1e-5, atol=1e-6)
        if expected[name] is not None:
            np.testing.assert_allclose(answers["wig80"][name], expected[name], rtol=1e-5, atol=1e-6)
