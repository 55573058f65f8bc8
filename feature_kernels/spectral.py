"""Spectral kernels on a window of log prices.

The spectrum is taken of the linearly detrended series under a periodic Hann window:

    P[k] = c_k |X[k]|^2 / (n * sum(w^2)),   X = rfft(w * detrended),   k = 0 .. n//2

with c_k = 2 for 0 < k < n/2 and 1 otherwise (one-sided), so that sum(P[1:]) is about the
variance of the detrended log price. Frequencies are f_k = k / n cycles per trading day.
The DC bin (k = 0) is left out of every summary below. A spectrum whose total power is below
`SILENT_POWER` (a constant or exactly exponential price path, where only rounding noise is
left) has all its summaries set to 0 instead of describing that noise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SILENT_POWER = 1e-20
# Floor under each bin's power inside the geometric mean of the flatness, so one empty bin
# gives a small flatness instead of log(0).
_FLATNESS_FLOOR = 1e-30
N_SPECTRAL = 12  # length of the vector `spectral_features` fills (see names.SPECTRAL_NAMES)


@njit(cache=True)
def detrend_linear(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Residual of the least-squares line through (t, x[t]), t = 0..n-1, and its slope."""
    n = x.shape[0]
    t_mean = (n - 1) / 2.0
    x_mean = 0.0
    for i in range(n):
        x_mean += x[i]
    x_mean /= n
    cov = 0.0
    var = 0.0
    for i in range(n):
        dt = i - t_mean
        cov += dt * (x[i] - x_mean)
        var += dt * dt
    slope = cov / var if var > 0.0 else 0.0
    residual = np.empty(n)
    for i in range(n):
        residual[i] = x[i] - x_mean - slope * (i - t_mean)
    return residual, slope


@njit(cache=True)
def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window w[i] = 0.5 - 0.5 cos(2 pi i / n)."""
    w = np.empty(n)
    for i in range(n):
        w[i] = 0.5 - 0.5 * np.cos(2.0 * np.pi * i / n)
    return w


@njit(cache=True)
def power_spectrum(x: np.ndarray) -> np.ndarray:
    """One-sided power spectrum P[0 .. n//2] of the detrended, Hann-windowed series x."""
    n = x.shape[0]
    residual, _ = detrend_linear(x)
    w = hann_window(n)
    window_energy = 0.0
    for i in range(n):
        residual[i] *= w[i]
        window_energy += w[i] * w[i]
    spectrum = np.fft.rfft(residual)
    n_bins = spectrum.shape[0]
    power = np.empty(n_bins)
    scale = 1.0 / (n * window_energy)
    for k in range(n_bins):
        re = spectrum[k].real
        im = spectrum[k].imag
        one_sided = 1.0 if k == 0 or 2 * k == n else 2.0
        power[k] = one_sided * (re * re + im * im) * scale
    return power


@njit(cache=True)
def total_power(power: np.ndarray) -> float:
    total = 0.0
    for k in range(1, power.shape[0]):
        total += power[k]
    return total


@njit(cache=True)
def band_powers(power: np.ndarray, n: int, edges: np.ndarray) -> tuple[float, float, float]:
    """Power in f < edges[0], edges[0] <= f < edges[1], f >= edges[1] (n = series length)."""
    low = 0.0
    mid = 0.0
    high = 0.0
    for k in range(1, power.shape[0]):
        f = k / n
        if f < edges[0]:
            low += power[k]
        elif f < edges[1]:
            mid += power[k]
        else:
            high += power[k]
    return low, mid, high


@njit(cache=True)
def spectral_centroid(power: np.ndarray, n: int) -> float:
    """Power-weighted mean frequency, cycles per day."""
    total = total_power(power)
    if total < SILENT_POWER:
        return 0.0
    weighted = 0.0
    for k in range(1, power.shape[0]):
        weighted += (k / n) * power[k]
    return weighted / total


@njit(cache=True)
def spectral_rolloff(power: np.ndarray, n: int, fraction: float = 0.85) -> float:
    """Lowest frequency at which the cumulative power reaches `fraction` of the total."""
    total = total_power(power)
    if total < SILENT_POWER:
        return 0.0
    cumulative = 0.0
    for k in range(1, power.shape[0]):
        cumulative += power[k]
        if cumulative >= fraction * total:
            return k / n
    return (power.shape[0] - 1) / n


@njit(cache=True)
def spectral_flatness(power: np.ndarray) -> float:
    """Geometric over arithmetic mean of the bins' power: 1 for white noise, near 0 for a tone."""
    total = total_power(power)
    if total < SILENT_POWER:
        return 0.0
    n_bins = power.shape[0] - 1
    log_sum = 0.0
    for k in range(1, power.shape[0]):
        log_sum += np.log(max(power[k], _FLATNESS_FLOOR))
    return np.exp(log_sum / n_bins) / (total / n_bins)


@njit(cache=True)
def spectral_entropy(power: np.ndarray) -> float:
    """Shannon entropy of the normalised spectrum divided by log(number of bins): in [0, 1]."""
    total = total_power(power)
    n_bins = power.shape[0] - 1
    if total < SILENT_POWER or n_bins < 2:
        return 0.0
    entropy = 0.0
    for k in range(1, power.shape[0]):
        p = power[k] / total
        if p > 0.0:
            entropy -= p * np.log(p)
    return entropy / np.log(n_bins)


@njit(cache=True)
def peak_frequency(power: np.ndarray, n: int) -> float:
    """Frequency of the strongest non-DC bin (the lowest one on ties)."""
    if total_power(power) < SILENT_POWER:
        return 0.0
    best = 1
    for k in range(2, power.shape[0]):
        if power[k] > power[best]:
            best = k
    return best / n


@njit(cache=True)
def band_shares(power: np.ndarray, n: int, edges: np.ndarray) -> tuple[float, float, float]:
    """Shares of the total power in the low, mid and high bands (sum 1; all 0 when silent)."""
    total = total_power(power)
    if total < SILENT_POWER:
        return 0.0, 0.0, 0.0
    low, mid, high = band_powers(power, n, edges)
    return low / total, mid / total, high / total


@njit(cache=True)
def spectral_features(log_price: np.ndarray, edges: np.ndarray, rolloff_fraction: float,
                      out: np.ndarray) -> None:
    """Fill `out` (length N_SPECTRAL) in the order of names.SPECTRAL_NAMES."""
    n = log_price.shape[0]
    power = power_spectrum(log_price)
    total = total_power(power)
    if total < SILENT_POWER:
        out[:] = 0.0
        return
    low, mid, high = band_powers(power, n, edges)
    out[0] = total
    out[1] = low
    out[2] = mid
    out[3] = high
    out[4] = spectral_centroid(power, n)
    out[5] = spectral_rolloff(power, n, rolloff_fraction)
    out[6] = spectral_flatness(power)
    out[7] = spectral_entropy(power)
    out[8] = peak_frequency(power, n)
    out[9] = low / total
    out[10] = mid / total
    out[11] = high / total
