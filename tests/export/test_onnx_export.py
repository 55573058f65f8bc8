"""ONNX export of the tiny trained run: a self-contained opset-17 file, proven equal to PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.onnx_export import (
    PARITY_TOLERANCE,
    ParityError,
    check_onnx_file,
    check_parity,
    cpu_session,
    export_onnx,
    random_rows,
)
from export.parity_inputs import real_feature_rows
from serving.contract import NETWORK_INPUT
from training.checkpoint import load_forecaster


@pytest.fixture(scope="module")
def forecaster(tiny_run):
    return load_forecaster(tiny_run.run_dir)


@pytest.fixture(scope="module")
def onnx_file(forecaster, tmp_path_factory) -> Path:
    module, metadata = forecaster
    return export_onnx(module, len(metadata["feature_names"]), tmp_path_factory.mktemp("onnx") / "model.onnx")


def test_file_is_self_contained_with_dynamic_batch_and_opset_17(onnx_file, forecaster):
    _, metadata = forecaster
    model = check_onnx_file(onnx_file, len(metadata["feature_names"]))
    assert [f.name for f in onnx_file.parent.iterdir()] == ["model.onnx"]  # no external-data sidecar
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch_axis = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_axis.dim_param and not batch_axis.dim_value
    assert [o.name for o in model.graph.output] == ["MEAN", "STD"]


def test_parity_on_random_and_real_inputs_for_every_batch_size(onnx_file, forecaster, tiny_run):
    module, metadata = forecaster
    real, source = real_feature_rows(None, tiny_run.home, metadata["window"])
    assert "bars store" in source and "synthetic" not in source.split("(")[0]
    inputs = {"random": random_rows(real, real.shape[1], 32), "real": real}
    report = check_parity(onnx_file, module, inputs, max_batch_size=32)
    assert report.batch_sizes == list(range(1, 33))
    assert set(report.max_abs_diff) == {"random", "real"}
    assert all(0 <= diff <= PARITY_TOLERANCE for diff in report.max_abs_diff.values())


def test_scaler_is_folded_in(onnx_file, forecaster):
    """Raw (unscaled) features in, log-return units out: the same numbers as the PyTorch module."""
    module, metadata = forecaster
    raw = np.asarray(module.feature_mean).reshape(1, -1) + 3 * np.asarray(module.feature_scale).reshape(1, -1)
    raw = raw.astype(np.float32)
    mean, std = cpu_session(onnx_file).run(["MEAN", "STD"], {NETWORK_INPUT: raw})
    with torch.no_grad():
        expected_mean, expected_std = (t.numpy() for t in module(torch.from_numpy(raw)))
    np.testing.assert_allclose(mean, expected_mean, atol=1e-5)
    np.testing.assert_allclose(std, expected_std, atol=1e-5)
    assert (std > 0).all()


def test_a_graph_that_computes_something_else_fails_the_parity_check(onnx_file, forecaster, tmp_path):
    module, metadata = forecaster
    model = onnx.load(str(onnx_file))
    weights = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    values = onnx.numpy_helper.to_array(weights).copy()
    values.flat[0] += 0.5  # one corrupted weight
    weights.CopyFrom(onnx.numpy_helper.from_array(values, weights.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    rows = random_rows(None, len(metadata["feature_names"]), 8)
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(broken, module, {"random": rows}, max_batch_size=8)


def test_external_data_is_refused(onnx_file, forecaster, tmp_path):
    _, metadata = forecaster
    model = onnx.load(str(onnx_file))
    split = tmp_path / "split.onnx"
    onnx.save(
        model,
        str(split),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    with pytest.raises(ValueError, match="external data"):
        check_onnx_file(split, len(metadata["feature_names"]))


def test_wrong_feature_count_is_refused(onnx_file, forecaster):
    _, metadata = forecaster
    with pytest.raises(ValueError, match="FEATURES must be"):
        check_onnx_file(onnx_file, len(metadata["feature_names"]) + 1)


async def test_real_inputs_are_read_from_the_store_inside_a_running_event_loop(forecaster, tiny_run):
    """An export called from async code (a test, a notebook) still reads the stored bars."""
    _, metadata = forecaster
    real, source = real_feature_rows(None, tiny_run.home, metadata["window"])
    assert source.startswith("bars store (") and len(real) > 0


def test_the_served_model_is_never_worse_than_its_linear_grade_on_validation(onnx_file, forecaster, tiny_run):
    """The exported graph's validation NLL is at most that of the run's grade 0 alone (the linear fit)."""
    from training.config import TrainConfig
    from training.dataset import make_dataset
    from training.pipeline import grade_outputs, load_series, standardised_to_returns
    from training.scoring import gaussian_nll

    module, metadata = forecaster
    assert module.network.linear is not None
    config = TrainConfig.from_dict(metadata["config"] | {"home": str(tiny_run.home), "market_db_url": None})
    series, _ = load_series(config)
    dataset = make_dataset(series, config.window, config.split, show_progress=False)
    features, target = dataset.val.features, dataset.val.targets.astype(np.float64)
    served_mean, served_std = cpu_session(onnx_file).run(["MEAN", "STD"], {NETWORK_INPUT: features})
    linear_mean, linear_std = standardised_to_returns(grade_outputs(module, features)[0], dataset.target_scaler)
    served = gaussian_nll(served_mean.astype(np.float64), served_std.astype(np.float64), target).mean()
    linear = gaussian_nll(linear_mean, linear_std, target).mean()
    assert np.isfinite(served) and served <= linear + 1e-5
