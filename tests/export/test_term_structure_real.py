"""No band narrows with the horizon, on every real symbol: the exported graph's std of the cumulative log
return rises with the horizon for each symbol's forecasts of its latest year (the stooq files and the GPW
archive, imported as a new user would)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.onnx_export import cpu_session, export_onnx
from serving.contract import NETWORK_INPUT, NETWORK_OUTPUTS
from tests.fixtures.requirements import requirement_missing
from training.checkpoint import load_forecaster
from training.config import TrainConfig
from training.dataset import build_samples
from training.pipeline import load_series
from wig80.cli import main as wig80_main

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "wig80"
LATEST_DAYS = 250


@pytest.fixture(scope="module")
def real_series(tmp_path_factory) -> list:
    folders = [REAL_DATA / name for name in ("stooq", "gpw_archive") if (REAL_DATA / name).is_dir()]
    if not folders:
        requirement_missing(f"real market data not found under {REAL_DATA}")
    home = tmp_path_factory.mktemp("real-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WIG80_HOME", str(home))
        for folder in folders:
            assert wig80_main(["data", "import", str(folder)]) == 0
    series, _ = load_series(TrainConfig.for_profile("tiny", home=home))
    return series


def test_no_real_symbols_band_narrows_with_the_horizon(real_series, tiny_run, tmp_path) -> None:
    module, metadata = load_forecaster(tiny_run.run_dir)
    session = cpu_session(export_onnx(module, len(metadata["feature_names"]), tmp_path / "model.onnx"))
    checked = []
    for series in real_series:
        if len(series) < metadata["window"] + 30:
            continue
        samples, usable, _ = build_samples([series], metadata["window"])
        samples = samples.subset(np.flatnonzero(usable))
        features = samples.features[-LATEST_DAYS:]
        mean, std = session.run(list(NETWORK_OUTPUTS), {NETWORK_INPUT: features})
        width = 2 * 1.96 * std  # the 95% band in log width
        narrowing = np.argwhere(np.diff(width, axis=1) < 0)
        assert len(narrowing) == 0, f"{series.symbol}: the band narrows at (row, horizon) {narrowing[:5].tolist()}"
        assert np.isfinite(mean).all()
        checked.append(series.symbol)
    assert len(checked) >= 12, checked  # every stooq symbol at least
