"""Spectral kernels equal a plain NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feature_kernels import spectral
from feature_kernels.names import BAND_EDGES, SPECTRAL_NAMES
from tests.feature_kernels.reference import reference_power, reference_spectral_features
from tests.feature_kernels.series import load_stooq, random_walk

EDGES = np.asarray(BAND_EDGES)


# the last n closes of a real series, and random walks of n bars: each case loads only its own data
CASES = [*(f"real:{n}" for n in (256, 252, 777)), *(f"walk:{n}" for n in (64, 65, 252, 256, 1000))]


def log_close(case: str) -> np.ndarray:
    kind, n = case.split(":")
    bars = load_stooq("ECH")[-int(n):] if kind == "real" else random_walk(int(n), seed=int(n))
    return np.log(bars[:, 3])


@pytest.mark.parametrize("case", CASES)
def test_power_spectrum_matches_numpy(case: str) -> None:
    log_price = log_close(case)
    np.testing.assert_allclose(spectral.power_spectrum(log_price), reference_power(log_price),
                               rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("edges", [BAND_EDGES, (0.1, 0.3)])
def test_spectral_features_match_numpy(case: str, edges: tuple[float, float]) -> None:
    log_price = log_close(case)
    out = np.empty(spectral.N_SPECTRAL)
    spectral.spectral_features(log_price, np.asarray(edges), 0.85, out)
    expected = reference_spectral_features(log_price, edges)
    for name, value in zip(SPECTRAL_NAMES, out, strict=True):
        assert value == pytest.approx(expected[name], rel=1e-9, abs=1e-15), name


def test_detrend_removes_a_line_exactly() -> None:
    t = np.arange(100.0)
    residual, slope = spectral.detrend_linear(3.0 + 0.01 * t)
    assert slope == pytest.approx(0.01, rel=1e-12)
    assert np.max(np.abs(residual)) < 1e-12


def test_hann_window_is_periodic() -> None:
    w = spectral.hann_window(8)
    np.testing.assert_allclose(w, 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(8) / 8), atol=1e-15)
    assert w[0] == 0.0 and w[4] == pytest.approx(1.0)


def test_pure_tone_lands_in_its_band() -> None:
    n = 256
    t = np.arange(n)
    tone = 0.05 * np.sin(2 * np.pi * 32 * t / n)  # 0.125 cycles/day: the mid band
    out = np.empty(spectral.N_SPECTRAL)
    spectral.spectral_features(tone, EDGES, 0.85, out)
    features = dict(zip(SPECTRAL_NAMES, out, strict=True))
    assert features["spectral_peak_freq"] == pytest.approx(32 / n)
    assert features["mid_freq_cycle"] > 0.99
    assert features["spectral_flatness"] < 0.01
    assert features["spectral_total_power"] == pytest.approx(0.05**2 / 2, rel=0.01)


@settings(max_examples=40, deadline=None)
@given(st.floats(-5.0, 5.0), st.floats(-0.05, 0.05), st.integers(64, 400))
def test_straight_line_is_silent(intercept: float, slope: float, n: int) -> None:
    out = np.full(spectral.N_SPECTRAL, np.nan)
    spectral.spectral_features(intercept + slope * np.arange(n), EDGES, 0.85, out)
    assert (out == 0.0).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(64, 400), st.integers(0, 2**31))
def test_shares_sum_to_one_and_summaries_are_in_range(n: int, seed: int) -> None:
    log_price = np.log(random_walk(n, seed)[:, 3])
    out = np.empty(spectral.N_SPECTRAL)
    spectral.spectral_features(log_price, EDGES, 0.85, out)
    f = dict(zip(SPECTRAL_NAMES, out, strict=True))
    assert f["low_freq_trend"] + f["mid_freq_cycle"] + f["high_freq_noise"] == pytest.approx(1.0)
    assert 0.0 < f["spectral_centroid"] <= 0.5
    assert 0.0 < f["spectral_rolloff_85"] <= 0.5
    assert 0.0 < f["spectral_flatness"] <= 1.0
    assert 0.0 < f["spectral_entropy"] <= 1.0
