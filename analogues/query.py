"""The gateway's side: the analogues of a held forecast, ready to serialise.

    query = AnalogueQuery(AnalogueIndex.load(path))
    query.check_features(model_feature_names)                   # once per served model version
    context = query.context("ABE", date, features)              # features: Triton's FEATURES row (F,)
    contexts = query.contexts([("ABE", date, f1), ("ACG", date, f2)])   # one FAISS search for all
    context.as_dict()                                           # JSON-ready (rag_context)

Imports numpy and faiss only. One exact query over the indexed rows costs well under a millisecond per
10k rows (benchmarks/analogues_bench.py), so the gateway makes it once per held forecast, not per request.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analogues.forecast import QUANTILES, outcome_matrix, summary
from analogues.index import HORIZONS, LEAKAGE_HORIZON, AnalogueIndex, admissible_before

LISTED = 10  # analogues shown per query; the forecast is over all k of the index


@dataclass(frozen=True)
class Analogue:
    """One past situation: where and when, how close, and what followed it (log returns)."""

    symbol: str
    date: dt.date
    distance: float  # root mean square difference per standardised feature
    similarity: float  # 1 / (1 + distance): 1 for an identical situation
    returns: dict[str, float]  # {"h1": r_1, "h5": r_5, "h30": r_30}

    def as_dict(self) -> dict:
        return {"symbol": self.symbol, "date": self.date.isoformat(), "distance": self.distance,
                "similarity": self.similarity, "returns": self.returns}


@dataclass(frozen=True)
class HorizonOutcome:
    """The distribution of the analogues' log returns at one horizon."""

    horizon: int
    mean: float
    std: float | None  # None with a single analogue
    quantiles: dict[str, float]  # {"q05": ..., "q25": ..., "q50": ..., "q75": ..., "q95": ...}
    up_fraction: float

    def as_dict(self) -> dict:
        return {"horizon": self.horizon, "mean": self.mean, "std": self.std, "quantiles": self.quantiles,
                "up_fraction": self.up_fraction}


@dataclass(frozen=True)
class AnalogueContext:
    """What `include_rag_context` returns: the k nearest past situations and the analogue forecast."""

    symbol: str
    date: dt.date
    admissible_before: dt.date  # every analogue is from a day strictly before this one
    analogues: list[Analogue]  # the nearest `listed`, nearest first
    forecast: list[HorizonOutcome]  # over all k found, one per indexed horizon; empty when none was admissible
    k: int  # how many analogues the forecast is over (fewer when fewer were admissible)
    index_run: str  # the training run the index was built with (it is the served model's)

    def as_dict(self) -> dict:
        return {"symbol": self.symbol, "date": self.date.isoformat(),
                "admissible_before": self.admissible_before.isoformat(),
                "analogues": [a.as_dict() for a in self.analogues],
                "forecast": [f.as_dict() for f in self.forecast], "k": self.k, "index_run": self.index_run}


class FeatureMismatch(ValueError):
    """The served model's feature names are not the index's: the index belongs to another model."""


class AnalogueQuery:
    """Queries of one index: the forecast over its k nearest analogues, the nearest `listed` of them shown."""

    def __init__(self, index: AnalogueIndex, k: int | None = None, listed: int = LISTED) -> None:
        self.index = index
        self.k = k or index.k
        self.listed = min(listed, self.k)

    def check_features(self, feature_names: Sequence[str]) -> None:
        if tuple(feature_names) != self.index.scaling.feature_names:
            raise FeatureMismatch(f"the model's {len(feature_names)} features are not the analogue index's "
                                  f"{len(self.index.scaling.feature_names)} (run {self.index.run})")

    def context(self, symbol: str, date: dt.date, features: np.ndarray) -> AnalogueContext:
        return self.contexts([(symbol, date, features)])[0]

    def contexts(self, queries: Sequence[tuple[str, dt.date, np.ndarray]]) -> list[AnalogueContext]:
        """Each (symbol, last bar date, raw FEATURES row) -> its context; one index search for all."""
        if not queries:
            return []
        dates = np.array([np.datetime64(date, "D") for _, date, _ in queries])
        vectors = self.index.standardise(np.stack([np.asarray(f, dtype=np.float32) for _, _, f in queries]))
        found = self.index.search(vectors, dates, self.k)
        outcomes = outcome_matrix(self.index.outcomes, found.rows)
        scale = math.sqrt(vectors.shape[1])
        return [self._context(symbol, date, found.rows[i], found.distances[i] / scale, outcomes[i])
                for i, (symbol, date, _) in enumerate(queries)]

    def _context(self, symbol: str, date: dt.date, rows: np.ndarray, rms: np.ndarray,
                 outcomes: np.ndarray) -> AnalogueContext:
        analogues = [Analogue(str(self.index.symbols[row]), self.index.dates[row].astype(dt.date), float(d),
                              1.0 / (1.0 + float(d)), _by_horizon(self.index.outcomes[row]))
                     for row, d in zip(rows[: self.listed], rms[: self.listed], strict=True) if row >= 0]
        return AnalogueContext(symbol, date, admissible_before(np.datetime64(date, "D"), LEAKAGE_HORIZON).astype(dt.date),
                               analogues, _forecast(stats := summary(outcomes)), stats["count"], self.index.run)


def _by_horizon(values: np.ndarray) -> dict[str, float]:
    return {f"h{h}": float(v) for h, v in zip(HORIZONS, values, strict=True)}


def _forecast(stats: dict) -> list[HorizonOutcome]:
    if stats["count"] == 0:
        return []
    return [HorizonOutcome(h, float(stats["mean"][j]), None if math.isnan(stats["std"][j]) else float(stats["std"][j]),
                           {f"q{round(100 * q):02d}": float(stats["quantiles"][i, j]) for i, q in enumerate(QUANTILES)},
                           float(stats["up_fraction"][j]))
            for j, h in enumerate(HORIZONS)]
