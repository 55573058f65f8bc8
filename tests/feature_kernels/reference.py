"""Plain NumPy references for the spectral kernels, written independently of the kernels."""

from __future__ import annotations

import numpy as np


def reference_power(log_price: np.ndarray) -> np.ndarray:
    n = log_price.size
    t = np.arange(n)
    slope, intercept = np.polyfit(t, log_price, 1)
    residual = log_price - (slope * t + intercept)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n)  # periodic Hann
    power = np.abs(np.fft.rfft(residual * window)) ** 2 / (n * np.sum(window**2))
    power[1:] *= 2.0
    if n % 2 == 0:
        power[-1] /= 2.0  # the Nyquist bin has no mirror image
    return power


def reference_spectral_features(log_price: np.ndarray, edges: tuple[float, float]) -> dict[str, float]:
    n = log_price.size
    power = reference_power(log_price)[1:]
    freqs = np.fft.rfftfreq(n)[1:]
    total = power.sum()
    bands = [power[freqs < edges[0]].sum(),
             power[(freqs >= edges[0]) & (freqs < edges[1])].sum(),
             power[freqs >= edges[1]].sum()]
    p = power / total
    nonzero = p[p > 0]
    cumulative = np.cumsum(power)
    return {
        "spectral_total_power": total,
        "band_power_low": bands[0],
        "band_power_mid": bands[1],
        "band_power_high": bands[2],
        "spectral_centroid": np.sum(freqs * power) / total,
        "spectral_rolloff_85": freqs[np.argmax(cumulative >= 0.85 * total)],
        "spectral_flatness": np.exp(np.mean(np.log(np.maximum(power, 1e-30)))) / np.mean(power),
        "spectral_entropy": -np.sum(nonzero * np.log(nonzero)) / np.log(power.size),
        "spectral_peak_freq": freqs[np.argmax(power)],
        "low_freq_trend": bands[0] / total,
        "mid_freq_cycle": bands[1] / total,
        "high_freq_noise": bands[2] / total,
    }
