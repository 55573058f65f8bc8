"""Numba-JIT indicator and spectral kernels, and the one pipeline that turns OHLCV windows
into the model's features.

The layout constants import without Numba; `compute_features` (and the kernel modules) load
Numba on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from feature_kernels.names import BAND_EDGES, BAND_SHARE_NAMES, FEATURE_NAMES, MIN_WINDOW

if TYPE_CHECKING:
    from feature_kernels.pipeline import compute_features

__all__ = ["BAND_EDGES", "BAND_SHARE_NAMES", "FEATURE_NAMES", "MIN_WINDOW", "compute_features"]


def __getattr__(name: str) -> object:
    if name == "compute_features":
        from feature_kernels.pipeline import compute_features

        return compute_features
    raise AttributeError(f"module 'feature_kernels' has no attribute {name!r}")
