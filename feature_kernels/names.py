"""The feature vector's layout: names, minimum window and spectral band edges.

Kept free of Numba so that reading the layout (export configs, docs) costs no JIT import.
"""

from __future__ import annotations

RETURN_HORIZONS = (1, 5, 10, 20, 60)
SMA_PERIODS = (5, 10, 20, 50)
EMA_PERIODS = (12, 26)
RSI_PERIODS = (7, 14, 28)
VOLATILITY_PERIODS = (5, 10, 20, 60)

# Cut-offs in cycles per trading day: low < 0.05 (cycles longer than 20 days),
# 0.05 <= mid < 0.2 (5 to 20 days), high >= 0.2 (shorter than 5 days, up to Nyquist 0.5).
BAND_EDGES: tuple[float, float] = (0.05, 0.2)
ROLLOFF_FRACTION = 0.85

BAND_SHARE_NAMES = ("low_freq_trend", "mid_freq_cycle", "high_freq_noise")

SPECTRAL_NAMES = (
    "spectral_total_power",
    "band_power_low",
    "band_power_mid",
    "band_power_high",
    "spectral_centroid",
    "spectral_rolloff_85",
    "spectral_flatness",
    "spectral_entropy",
    "spectral_peak_freq",
    *BAND_SHARE_NAMES,
)

FEATURE_NAMES: tuple[str, ...] = (
    *(f"ret_{k}" for k in RETURN_HORIZONS),
    "gap_1",
    "hl_range_1",
    "close_location_1",
    *(f"sma_ratio_{p}" for p in SMA_PERIODS),
    *(f"ema_ratio_{p}" for p in EMA_PERIODS),
    *(f"rsi_{p}" for p in RSI_PERIODS),
    "macd_line",
    "macd_signal",
    "macd_hist",
    "bb_percent_b_20",
    "bb_width_20",
    "atr_ratio_14",
    *(f"volatility_{p}" for p in VOLATILITY_PERIODS),
    "vol_ratio_5_20",
    "vol_ratio_20_60",
    "parkinson_vol_20",
    "ret_skew_60",
    "ret_kurt_60",
    "drawdown_60",
    "volume_ratio_5",
    "volume_ratio_20",
    "volume_zscore_20",
    "volume_zscore_60",
    "obv_trend_20",
    "trend_slope",
    *SPECTRAL_NAMES,
)

# The longest look-back among the features is 60 returns (61 closes); 64 also leaves the
# spectrum at least three bins in the low band.
MIN_WINDOW = 64

FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
