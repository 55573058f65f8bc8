"""The three frequency bands of /spectrum: edges from the features model, a label and a reading for each."""

from __future__ import annotations

from gateway.schemas import FrequencyBand, FrequencyBands

NYQUIST = 0.5  # cycles per trading day
BAND_KEYS = ("low_frequency", "medium_frequency", "high_frequency")
INTERPRETATIONS = {
    "low_frequency": "slow trend",
    "medium_frequency": "medium-term cycles",
    "high_frequency": "day-to-day fluctuation (noise)",
}


class BandEdgesInvalid(ValueError):
    """The features model's `band_edges` do not define the three bands."""


def band_ranges(edges: tuple[float, ...]) -> list[tuple[float, float]]:
    """(low, high) per band from the features model's `band_edges` (inner cut-offs, or all edges)."""
    points = list(edges)
    if not points or points[0] > 0:
        points.insert(0, 0.0)
    if points[-1] < NYQUIST:
        points.append(NYQUIST)
    if len(points) != len(BAND_KEYS) + 1:
        raise BandEdgesInvalid(f"the features model's band_edges {edges} do not define {len(BAND_KEYS)} bands")
    return [(points[i], points[i + 1]) for i in range(len(BAND_KEYS))]


def frequency_bands(edges: tuple[float, ...], powers: tuple[float, ...], total: float) -> FrequencyBands:
    """The bands keyed as the seed's clients read them, each with its power and share of `total`."""
    bands = {
        key: FrequencyBand(
            range=f"{low:.2f} - {high:.2f} cycles/day", range_cycles_per_day=(low, high), power=power,
            share=min(power / total, 1.0) if total > 0 else 0.0,
            interpretation=f"{INTERPRETATIONS[key]}: periods {_period(high)} to {_period(low)} trading days",
        )
        for key, (low, high), power in zip(BAND_KEYS, band_ranges(edges), powers, strict=True)
    }
    return FrequencyBands(**bands)


def _period(frequency: float) -> str:
    return "unbounded" if frequency <= 0 else f"{1.0 / frequency:.1f}"
