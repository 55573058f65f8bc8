"""Split-like jumps: one-day price moves that a split or consolidation, not the market, would cause.

A day t (close[t-1] -> close[t], observed ratio R = close[t-1] / close[t]) is judged on four pieces of
evidence, each a `JumpRules` field:
1. size: |log R| at least `min_move` and `sigma_multiple` times the symbol's robust daily volatility
   over the `volatility_days` returns before it (MAD x 1.4826);
2. ratio: the nearest split ratio c (SPLIT_RATIOS and their reciprocals) is within `ratio_tolerance`
   (in log) of R, and of the opening gap close[t-1] / open[t] (the whole day traded on the new basis);
3. index: the WIG index did not move with it (|index move| below `index_share` of the move);
4. volume: a split multiplies the number of shares, so the median volume of the `volume_days` from t
   on, over that of the days before, moves by about c. A step of at least `volume_confirms` x log c
   confirms a split; a step that does not go c's way at all (`volume_contradicts` = 0) says the volume
   is continuous: an adjusted source (stooq adjusts volumes with prices) or a real move, so it is left
   alone. ECH on 1996-10-28 (stooq, adjusted) halves in a day with no index move but unchanged volume:
   not a 1:2 split. Volume drifts (20-day medians move by a factor of 2 without any event), so between
   the two the day is ambiguous, and for a 1:2 split the evidence is weakest
   (tests/market_data/test_splits.py measures how often synthetic splits are found).

Verdicts: `split` (1-4 hold: adjust by c), `ambiguous` (1-3 hold, volume neither confirms nor
contradicts, or too few days after: quarantine for an operator), `real` (no ratio fits, the index
moved too, or volume is continuous). Measured on the repository's files: APATOR 2006-08-21
(228.5 -> 20.8, R 10.99 -> 1:10, volume x14.5) is a split; none of the 12 stooq files has one
(tests/market_data/test_splits.py).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import numpy as np

from market_data.bars import BarSeries
from market_data.corporate_actions import format_ratio

INDEX_SYMBOL = "WIG"  # the reference index, stored as a symbol (import indices/wig_d.csv)
SPLIT_RATIOS = (2, 3, 4, 5, 8, 10, 20, 25, 50, 100, 200, 1000)  # N:1 splits; 1/N are consolidations


@dataclass(frozen=True)
class JumpRules:
    min_move: float = 0.4  # |log R|; ln 2 - ratio_tolerance is the smallest that can fit a ratio
    sigma_multiple: float = 8.0
    volatility_days: int = 60
    min_sigma: float = 0.005  # a floor for stocks that barely moved (tick-bound penny stocks)
    ratio_tolerance: float = 0.12  # APATOR's split day itself fell 9% on top of the 1:10 (log 0.094)
    index_share: float = 0.25
    volume_days: int = 20
    min_volume_days: int = 5  # fewer days from t on: volume tells nothing, the day is ambiguous
    volume_confirms: float = 0.5
    volume_contradicts: float = 0.0


RULES = JumpRules()
_CANDIDATES = np.array([*SPLIT_RATIOS, *(1 / r for r in SPLIT_RATIOS)], dtype=np.float64)


@dataclass(frozen=True)
class Jump:
    """One split-like day and the evidence about it."""

    symbol: str
    date: datetime.date  # the ex-date: the first bar on the new basis
    previous_close: float
    close: float
    observed_ratio: float  # previous_close / close
    ratio: float  # the nearest split ratio
    sigmas: float  # |log R| in daily volatilities
    index_move: float | None  # log return of the index over the same days; None: no index
    volume_step: float | None  # log of the median volume after / before; None: no volume
    verdict: str  # split | ambiguous | real
    reason: str

    def describe(self) -> str:
        index = "no index" if self.index_move is None else f"WIG {math.expm1(self.index_move):+.1%}"
        volume = "no volume" if self.volume_step is None else f"volume x{math.exp(self.volume_step):.2f}"
        return (f"{self.symbol} {self.date}: close {self.previous_close:g} -> {self.close:g} (ratio "
                f"{self.observed_ratio:.3f}, nearest split {format_ratio(self.ratio)}), {self.sigmas:.0f} sigma, "
                f"{index}, {volume}: {self.verdict} ({self.reason})")


def find_jumps(series: BarSeries, index: BarSeries | None = None, days: np.ndarray | None = None,
               rules: JumpRules = RULES) -> list[Jump]:
    """The split-like days of `series` (bars on one basis, oldest first) among those where `days` (bool per
    bar; default all) is set, each with its verdict. Days whose move fits no split ratio are not listed."""
    close = series.close
    if len(close) < 2:
        return []
    moves = np.zeros(len(close))
    moves[1:] = np.log(close[:-1] / close[1:])  # log R per day t; positive for a split (price falls)
    eligible = np.abs(moves) >= rules.min_move
    eligible[0] = False
    if days is not None:
        eligible &= days
    jumps = []
    for t in np.flatnonzero(eligible):
        ratio = _nearest_ratio(moves[t])
        if abs(moves[t] - math.log(ratio)) > rules.ratio_tolerance:
            continue
        jumps.append(_judge(series, index, int(t), moves, ratio, rules))
    return [jump for jump in jumps if jump is not None]


def _nearest_ratio(log_ratio: float) -> float:
    return float(_CANDIDATES[np.argmin(np.abs(np.log(_CANDIDATES) - log_ratio))])


def _judge(series: BarSeries, index: BarSeries | None, t: int, moves: np.ndarray, ratio: float,
           rules: JumpRules) -> Jump | None:
    past = moves[max(1, t - rules.volatility_days) : t]
    sigma = max(1.4826 * float(np.median(np.abs(past - np.median(past)))) if len(past) else 0.0, rules.min_sigma)
    sigmas = abs(moves[t]) / sigma
    if sigmas < rules.sigma_multiple:
        return None
    index_move = _index_move(index, series.dates[t - 1], series.dates[t])
    volume_step, days_after = _volume_step(series.volume, t, rules.volume_days)
    open_gap = math.log(series.close[t - 1] / series.open[t])
    share = None if volume_step is None else volume_step / math.log(ratio)
    if abs(open_gap - math.log(ratio)) > rules.ratio_tolerance:
        verdict, reason = "real", f"the day opened at {series.open[t]:g}, not on the new basis"
    elif index_move is not None and abs(index_move) > rules.index_share * abs(moves[t]):
        verdict, reason = "real", "the index moved with it"
    elif share is None or days_after < rules.min_volume_days:
        verdict, reason = "ambiguous", f"too little volume to tell ({days_after} days from it)"
    elif share <= rules.volume_contradicts:
        verdict, reason = "real", "volume is continuous across it: an adjusted source or a real move"
    elif share >= rules.volume_confirms:
        verdict, reason = "split", ("ratio, size, index and volume all say split" if index_move is not None
                                    else "ratio, size and volume say split (no index to compare)")
    else:
        verdict, reason = "ambiguous", f"the volume moved x{math.exp(volume_step):.2f}, between continuous and x{ratio:g}"
    return Jump(series.symbol, series.dates[t].item(), float(series.close[t - 1]), float(series.close[t]),
                float(math.exp(moves[t])), ratio, float(sigmas), index_move, volume_step, verdict, reason)


def _index_move(index: BarSeries | None, before: np.datetime64, day: np.datetime64) -> float | None:
    """log(index close on `day` / index close on `before`), each the last index bar on or before the date."""
    if index is None or len(index) == 0:
        return None
    at = np.searchsorted(index.dates, [before, day], side="right") - 1
    if at[0] < 0 or index.dates[at[1]] != day:
        return None
    return float(math.log(index.close[at[1]] / index.close[at[0]]))


def _volume_step(volume: np.ndarray, t: int, days: int) -> tuple[float | None, int]:
    before, after = volume[max(0, t - days) : t], volume[t : t + days]
    level_before, level_after = float(np.median(before)), float(np.median(after))
    if level_before <= 0 or level_after <= 0:
        return None, len(after)
    return math.log(level_after / level_before), len(after)
