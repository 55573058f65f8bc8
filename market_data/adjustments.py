"""Planning one symbol's import: level breaks against the stored bars and split-like jumps, as corporate actions.

`plan_symbol(incoming, stored, known, index)` decides, before anything is written:
1. Level breaks. Each run of new bars (dates not stored yet) is compared with the stored bars on the
   overlapping dates next to it (up to OVERLAP_DAYS): q = median(stored close / incoming close). q within
   LEVEL_TOLERANCE of 1: the same basis. Otherwise the two sources are on different price levels (raw
   exchange prices vs stooq's adjusted ones) and a `level` action puts them on one: for new bars after
   the stored ones, the stored history is back-adjusted (ex_date = the first new date, ratio q); for new
   bars before them, the new bars are (ex_date = the first stored date, ratio 1/q); a run between stored
   bars is scaled by q itself and the report says so. An overlap whose q varies by more than
   LEVEL_SPREAD is no single level: a `pending` action quarantines the symbol.
2. Split-like jumps (`market_data.splits`) on the stored and new bars together, on that one basis, on
   the days that involve a new bar and have no recorded action: `split` becomes an active action,
   `ambiguous` a pending one (quarantine), `real` a note.
The store then writes the bars and the actions in one transaction (`BarStore.append_many`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from market_data.bars import BarSeries
from market_data.corporate_actions import CorporateAction, adjusted, format_ratio, rebased
from market_data.splits import INDEX_SYMBOL, RULES, Jump, JumpRules, find_jumps

LEVEL_TOLERANCE = 0.01  # |log q|: prices rounded to the tick differ by less; a dividend adjustment by more
LEVEL_SPREAD = 0.01  # the overlap's q may vary this much (log) and still be one level
OVERLAP_DAYS = 10


@dataclass
class SymbolPlan:
    series: BarSeries  # what to append (stored dates are kept as stored: duplicates)
    actions: list[CorporateAction] = field(default_factory=list)
    jumps: list[Jump] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> bool:
        return any(action.status == "pending" for action in self.actions)


@dataclass(frozen=True)
class _Level:
    ratio: float  # stored / incoming
    spread: float  # the largest |log| deviation of one day's ratio from it
    days: int


def plan_symbol(incoming: BarSeries, stored: BarSeries, known: list[CorporateAction], index: BarSeries | None,
                rules: JumpRules = RULES) -> SymbolPlan:
    """What to write for `incoming` given the `stored` bars and `known` actions of its symbol (see the module)."""
    is_new = ~np.isin(incoming.dates, stored.dates)
    plan = SymbolPlan(incoming)
    if not is_new.any():
        return plan
    merged_dates = np.union1d(stored.dates, incoming.dates)
    merged_new = np.isin(merged_dates, incoming.dates[is_new])
    if len(stored):
        for start, stop in _runs(merged_new):
            _plan_level(plan, incoming, stored, merged_dates, start, stop)
    merged = _merge(stored, plan.series, is_new)
    merged = adjusted(merged, [a for a in plan.actions if a.status == "active"])
    near_new = merged_new | np.concatenate([[False], merged_new[:-1]])
    recorded = {np.datetime64(a.ex_date, "D") for a in [*known, *plan.actions]}
    days = near_new & ~np.isin(merged_dates, np.array(sorted(recorded), dtype="datetime64[D]"))
    reference = None if incoming.symbol == INDEX_SYMBOL else index
    for jump in find_jumps(merged, reference, days, rules):
        plan.jumps.append(jump)
        if jump.verdict == "real":
            plan.notes.append(f"large move kept as real: {jump.describe()}")
            continue
        status = "active" if jump.verdict == "split" else "pending"
        plan.actions.append(CorporateAction(jump.symbol, jump.date, jump.ratio, "split", status, "detected",
                                            jump.describe()))
    return plan


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in `mask`."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _level(stored: BarSeries, incoming: BarSeries, dates: np.ndarray) -> _Level | None:
    if len(dates) == 0:
        return None
    ratios = (stored.close[np.searchsorted(stored.dates, dates)]
              / incoming.close[np.searchsorted(incoming.dates, dates)])
    ratio = float(np.median(ratios))
    return _Level(ratio, float(np.max(np.abs(np.log(ratios / ratio)))), len(dates))


def _plan_level(plan: SymbolPlan, incoming: BarSeries, stored: BarSeries, merged_dates: np.ndarray,
                start: int, stop: int) -> None:
    """Compare the run merged_dates[start:stop] of new bars with the stored bars beside it."""
    common = np.intersect1d(stored.dates, incoming.dates)
    before = common[common < merged_dates[start]][-OVERLAP_DAYS:]
    after = common[common > merged_dates[stop - 1]][:OVERLAP_DAYS]
    levels = [level for level in (_level(stored, incoming, before), _level(stored, incoming, after)) if level]
    if not levels:
        return  # no overlap beside the run: the seam is judged as a possible jump
    symbol, first_new = incoming.symbol, merged_dates[start].item()
    level = levels[0]
    spread = max(max(lv.spread for lv in levels), abs(math.log(levels[-1].ratio / level.ratio)))
    if abs(math.log(level.ratio)) <= LEVEL_TOLERANCE and spread <= LEVEL_SPREAD:
        return
    what = (f"{symbol}: the new bars from {first_new} are on another price level than the stored ones "
            f"(stored / new = {level.ratio:.4f} over {sum(lv.days for lv in levels)} overlapping days")
    if spread > LEVEL_SPREAD:
        plan.actions.append(CorporateAction(symbol, first_new, level.ratio, "level", "pending", "detected",
                                            f"{what}, varying by {math.expm1(spread):.1%})"))
        return
    at_end, at_start = stop == len(merged_dates), start == 0
    if at_end or at_start:
        ex_date = first_new if at_end else merged_dates[stop].item()
        ratio = level.ratio if at_end else 1 / level.ratio
        plan.actions.append(CorporateAction(symbol, ex_date, ratio, "level", "active", "detected",
                                            f"{what}): bars before {ex_date} divided by {format_ratio(ratio)}"))
        return
    run = np.isin(plan.series.dates, merged_dates[start:stop])
    ohlcv = plan.series.ohlcv.copy()
    ohlcv[run] = rebased(ohlcv[run], 1 / level.ratio)
    plan.series = BarSeries(symbol, plan.series.dates, ohlcv)
    plan.notes.append(f"{what}): the {int(run.sum())} new bars between stored ones were scaled by {level.ratio:.4f}")


def _merge(stored: BarSeries, incoming: BarSeries, is_new: np.ndarray) -> BarSeries:
    """The stored bars and the new incoming ones, by date."""
    dates = np.concatenate([stored.dates, incoming.dates[is_new]])
    ohlcv = np.concatenate([stored.ohlcv, incoming.ohlcv[is_new]])
    order = np.argsort(dates, kind="stable")
    return BarSeries(incoming.symbol, dates[order], ohlcv[order])
