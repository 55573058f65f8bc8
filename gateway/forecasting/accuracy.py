"""Realised directional accuracy: past non-neutral predictions scored once their outcome bars arrive."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from gateway import metrics
from gateway.schemas import PredictionResponse
from market_data.bars import CLOSE

MAX_PENDING = 10_000


@dataclass(frozen=True)
class PendingPrediction:
    symbol: str
    base_date: dt.date
    base_close: float
    horizon: int
    bullish: bool


class DirectionalAccuracy:
    """Holds this process's pending predictions; `on_new_bar` scores those whose horizon has passed."""

    def __init__(self, store, max_pending: int = MAX_PENDING) -> None:
        self.store = store
        self.max_pending = max_pending
        self._pending: dict[tuple[str, dt.date, int], PendingPrediction] = {}
        self.correct = 0
        self.scored = 0

    def record(self, prediction: PredictionResponse) -> None:
        """Keep a non-neutral prediction until the bar `horizon` trading days after its last bar arrives."""
        self.record_parts(prediction.symbol, prediction.data_as_of, prediction.current_price,
                          prediction.prediction_horizon, prediction.direction)

    def record_parts(self, symbol: str, base_date: dt.date, base_close: float, horizon: int, direction: str) -> None:
        """`record` from a prediction's parts (a response served from bytes has no model to read them from)."""
        key = (symbol, base_date, horizon)
        if direction == "neutral" or key in self._pending or len(self._pending) >= self.max_pending:
            return
        self._pending[key] = PendingPrediction(symbol, base_date, base_close, horizon, direction == "bullish")

    async def on_new_bar(self, symbol: str, last_date: str) -> None:
        waiting = [p for p in self._pending.values() if p.symbol == symbol]
        if not waiting:
            return
        earliest = min(p.base_date for p in waiting)
        later = await self.store.read_range(symbol, earliest + dt.timedelta(days=1), None)
        dates = later.dates.astype("datetime64[D]")
        for prediction in waiting:
            after = np.flatnonzero(dates > np.datetime64(prediction.base_date, "D"))
            if len(after) < prediction.horizon:
                continue
            outcome = float(later.ohlcv[after[prediction.horizon - 1], CLOSE])
            self._score((outcome > prediction.base_close) == prediction.bullish)
            del self._pending[(prediction.symbol, prediction.base_date, prediction.horizon)]

    def _score(self, correct: bool) -> None:
        self.correct += int(correct)
        self.scored += 1
        metrics.PREDICTIONS_EVALUATED.inc()
        metrics.MODEL_ACCURACY.set(self.correct / self.scored)
