"""The exportable forecaster, its loss and its model file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.checkpoint import load_forecaster, write_untrained_run
from training.forecaster import (
    LOGVAR_RANGE,
    Architecture,
    Forecaster,
    ForecastLoss,
    TermStructure,
    band_energies,
    build_network,
    spectral_loss,
)


def test_band_energies_sum_to_the_mean_squared_error() -> None:
    error = torch.randn(64, 30, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(band_energies(error).sum(), (error**2).mean(), rtol=1e-5)


def test_spectral_loss_weights_a_jagged_path_above_a_smooth_one() -> None:
    h = torch.arange(30.0)
    smooth = torch.ones(1, 30) * 0.5
    jagged = (0.5 * (-1.0) ** h).reshape(1, 30)  # same energy, all at the highest frequency
    assert torch.allclose((smooth**2).mean(), (jagged**2).mean())
    assert spectral_loss(jagged) > 2.9 * spectral_loss(smooth)  # 0.3 vs 0.1


def test_loss_is_the_horizon_weighted_gaussian_nll_plus_spectral_term() -> None:
    from training.forecaster import ForecastLossConfig, horizon_weights

    target = torch.randn(8, 30, generator=torch.Generator().manual_seed(2))
    output = torch.zeros(8, 60)
    output[:, 30] = 0.0  # step 1: variance 1; later steps: exp(-10), so every horizon's log-variance is about 0
    output[:, 31:] = -10.0
    logvar = torch.log(1 + torch.arange(30.0) * np.exp(-10.0))
    nll = 0.5 * (logvar + target**2 * torch.exp(-logvar))
    expected = nll.mean() + spectral_loss(target)
    assert torch.allclose(ForecastLoss(ForecastLossConfig(horizon_weighting="equal"))(output, target), expected)
    weighted = (nll * horizon_weights("inverse")).mean() + spectral_loss(target)
    assert torch.allclose(ForecastLoss()(output, target), weighted)


def test_the_term_structure_sums_steps_so_the_variance_never_falls_with_the_horizon() -> None:
    scale = np.sqrt(np.arange(1, 31)) * 0.02 * (1 + 0.1 * np.sin(np.arange(30)))  # any train scales
    term = TermStructure(scale)
    output = torch.randn(500, 60, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 4
    mean_z, logvar_z = term.standardised(output)
    variance = scale**2 * torch.exp(logvar_z).numpy()  # in log-return units
    assert (np.diff(variance, axis=1) > 0).all()
    steps = np.clip(output[:, 30:].numpy(), -10, 6)
    np.testing.assert_allclose(variance, 0.02**2 * np.cumsum(np.exp(steps), axis=1), rtol=1e-9)
    np.testing.assert_allclose(mean_z.numpy() * scale, 0.02 * np.cumsum(output[:, :30].numpy(), axis=1), rtol=1e-9)
    mean, std = term.to_returns(output.numpy(), np.zeros(30))
    np.testing.assert_allclose(std**2, variance, rtol=1e-9)
    np.testing.assert_allclose(term.mean_steps(mean_z.numpy()), output[:, :30].numpy(), atol=1e-9)


def test_forecaster_folds_the_scalers_in_and_clamps_the_variance() -> None:
    arch = Architecture(in_features=4, width=8, layers_per_grade=2, grades=2)
    network = build_network(arch)
    with torch.no_grad():
        network.grades[1].head.bias[30:] = 100.0  # an absurd log-variance
    model = Forecaster(network, np.full(4, 2.0), np.full(4, 3.0), np.full(30, 0.01), np.full(30, 0.02)).eval()
    features = torch.randn(5, 4)
    mean, std = model(features)
    assert mean.shape == std.shape == (5, 30)
    z = network((features - 2.0) / 3.0)
    assert torch.allclose(mean, 0.01 + 0.02 * torch.cumsum(z[:, :30], dim=1), atol=1e-6)
    steps = torch.arange(1, 31.0)  # every step at the clamp's ceiling: the variance adds up step by step
    assert torch.allclose(std, 0.02 * torch.sqrt(steps * np.exp(LOGVAR_RANGE[1])).expand_as(std), rtol=1e-5)


def test_forecaster_survives_nan_and_inf_features() -> None:
    model = Forecaster.empty(Architecture(in_features=3, width=8, layers_per_grade=1, grades=1)).eval()
    mean, std = model(torch.tensor([[np.nan, np.inf, -np.inf]], dtype=torch.float32))
    assert torch.isfinite(mean).all() and torch.isfinite(std).all()


def test_untrained_run_round_trips_through_load_forecaster(tmp_path) -> None:
    names = [f"feature_{i}" for i in range(6)]
    write_untrained_run(tmp_path / "demo_run", names, window=128)
    model, metadata = load_forecaster(tmp_path / "demo_run")
    assert metadata["feature_names"] == names and metadata["window"] == 128 and metadata["horizons"] == 30
    assert {"run", "metrics"} <= metadata.keys()
    mean, std = model(torch.zeros(2, 6))
    assert mean.dtype == torch.float32 and (std > 0).all()
    assert not model.training


def test_forecaster_exports_to_onnx_with_a_dynamic_batch(tmp_path) -> None:
    import onnxruntime

    model = Forecaster.empty(Architecture(in_features=5, width=8, layers_per_grade=2, grades=2))
    with torch.no_grad():
        for parameter in model.network.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(4)))
    model.eval()
    path = tmp_path / "forecaster.onnx"
    torch.onnx.export(model, (torch.zeros(2, 5),), path, opset_version=17, input_names=["FEATURES"],
                      output_names=["MEAN", "STD"], dynamo=False,
                      dynamic_axes={name: {0: "batch"} for name in ("FEATURES", "MEAN", "STD")})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    features = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    features[0, 1] = np.nan
    mean, std = session.run(None, {"FEATURES": features})
    expected_mean, expected_std = model(torch.from_numpy(features))
    np.testing.assert_allclose(mean, expected_mean.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, expected_std.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_horizon_weights_have_mean_one_and_favour_the_near_horizons() -> None:
    from training.forecaster import ForecastLoss, ForecastLossConfig, horizon_weights

    for weighting in ("equal", "inverse_sqrt", "inverse"):
        weights = horizon_weights(weighting, 30)
        assert float(weights.mean()) == pytest.approx(1.0) and bool((weights[:-1] >= weights[1:]).all())
    assert float(horizon_weights("inverse", 30)[0] / horizon_weights("inverse", 30)[-1]) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="horizon_weighting"):
        ForecastLoss(ForecastLossConfig(horizon_weighting="sideways"))
