"""Value-at-Risk backtests of the 1-day forecasts, as a risk desk runs them.

For a Gaussian 1-day forecast N(mu, sigma^2) of the log return r, the VaR at level q is the loss
-(mu - z_q sigma), z_q = Phi^-1(q); an exception is a day with r < mu - z_q sigma (expected share
p = 1 - q). Per model, level (95%, 99%) and symbol, and pooled over symbols:

- exceptions x of n days and their share;
- Kupiec's proportion-of-failures test (1995): LR_pof = -2 log[(1-p)^(n-x) p^x / ((1-x/n)^(n-x) (x/n)^x)],
  chi-squared with 1 degree of freedom;
- Christoffersen's independence test (1998): a first-order Markov chain of exception days, LR_ind =
  -2 log[L(pi) / L(pi_01, pi_11)] from the transition counts n_ij (day i -> day j), chi-squared(1); and
  conditional coverage LR_cc = LR_pof + LR_ind, chi-squared(2). Transitions are counted within each
  symbol's run of days, never from one symbol's last day to the next symbol's first;
- the Basel traffic light (BCBS 1996) per 250 days: green while the binomial probability of that many
  exceptions or fewer is below 95%, yellow below 99.99%, red from there (at 99% over 250 days: 0-4,
  5-9, 10+). Each symbol's test days are cut into consecutive windows of 250; a symbol with fewer days
  is judged as one window of its own length with the same probabilities.

Pooled tests treat the symbols' days as independent, which days of one market are not (a common shock
breaks many symbols' VaR at once): read the per-symbol rows beside them. PyPI `vartests` (0.4.1) has
Kupiec's test but neither Christoffersen's Markov test nor the traffic light, so all three are here,
tested against published tables (tests/training/test_risk.py).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from scipy.special import xlogy
from scipy.stats import binom, chi2

VAR_LEVELS = (0.95, 0.99)
# the forecasts backtested, in the report's order: one more model is one more name here (and its Gaussian
# in training.pipeline.evaluate_models)
RISK_MODELS = ("mgdl", "garch", "ewma", "rolling_20", "constant")
TRAFFIC_LIGHT_DAYS = 250
ZONE_THRESHOLDS = (("green", 0.95), ("yellow", 0.9999))  # cumulative binomial probability below which
ZONES = ("green", "yellow", "red")


def var_exceptions(mean: np.ndarray, std: np.ndarray, target: np.ndarray, level: float) -> np.ndarray:
    """(N,) bool: the realised return fell below the level-q quantile of the forecast."""
    return target < mean - NormalDist().inv_cdf(level) * std


def kupiec_pof(exceptions: int, days: int, p: float) -> dict:
    x, n = int(exceptions), int(days)
    if n == 0:
        return {"lr": None, "p_value": None}
    share = x / n
    lr = -2.0 * (xlogy(n - x, 1 - p) + xlogy(x, p) - xlogy(n - x, 1 - share) - xlogy(x, share))
    lr = max(float(lr), 0.0)
    return {"lr": lr, "p_value": float(chi2.sf(lr, 1))}


def transition_counts(runs: list[np.ndarray]) -> np.ndarray:
    """(2, 2) counts n_ij of day pairs (exception state i, then j) within each run of consecutive days."""
    counts = np.zeros((2, 2), dtype=np.int64)
    for hits in runs:
        hits = np.asarray(hits, dtype=np.int64)
        if len(hits) > 1:
            np.add.at(counts, (hits[:-1], hits[1:]), 1)
    return counts


def christoffersen_independence(runs: list[np.ndarray]) -> dict:
    (n00, n01), (n10, n11) = transition_counts(runs)
    total = n00 + n01 + n10 + n11
    if total == 0 or n01 + n11 == 0:  # no transition, or no exception at all: nothing clusters
        return {"lr": 0.0 if total else None, "p_value": 1.0 if total else None, "transitions": [[int(n00), int(n01)],
                                                                                              [int(n10), int(n11)]]}
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    unrestricted = xlogy(n00, 1 - pi01) + xlogy(n01, pi01) + xlogy(n10, 1 - pi11) + xlogy(n11, pi11)
    lr = max(float(-2.0 * (restricted - unrestricted)), 0.0)
    return {"lr": lr, "p_value": float(chi2.sf(lr, 1)), "transitions": [[int(n00), int(n01)], [int(n10), int(n11)]]}


def traffic_light(exceptions: int, days: int, p: float) -> str:
    """The Basel zone of `exceptions` in `days` at exception probability p."""
    cumulative = binom.cdf(int(exceptions), int(days), p)
    for zone, threshold in ZONE_THRESHOLDS:
        if cumulative < threshold:
            return zone
    return "red"


def zones(hits: np.ndarray, p: float, window: int = TRAFFIC_LIGHT_DAYS) -> list[str]:
    """The zone of each consecutive window of `window` days (one shorter window when there are fewer days)."""
    hits = np.asarray(hits, dtype=bool)
    if len(hits) == 0:
        return []
    if len(hits) < window:
        return [traffic_light(int(hits.sum()), len(hits), p)]
    return [traffic_light(int(hits[i : i + window].sum()), window, p)
            for i in range(0, len(hits) - window + 1, window)]


def coverage_tests(runs: list[np.ndarray], p: float) -> dict:
    """Exceptions, Kupiec, Christoffersen and the traffic-light zones of one or more runs of days."""
    x, n = int(sum(int(np.sum(r)) for r in runs)), int(sum(len(r) for r in runs))
    pof, independence = kupiec_pof(x, n, p), christoffersen_independence(runs)
    cc_lr = None if pof["lr"] is None or independence["lr"] is None else pof["lr"] + independence["lr"]
    window_zones = [zone for r in runs for zone in zones(r, p)]
    return {"exceptions": x, "days": n, "rate": x / n if n else None, "expected_rate": p,
            "kupiec": pof, "independence": independence,
            "conditional_coverage": {"lr": cc_lr, "p_value": None if cc_lr is None else float(chi2.sf(cc_lr, 2))},
            "zones": {zone: window_zones.count(zone) for zone in ZONES}}


def symbol_runs(hits: np.ndarray, symbols: np.ndarray, dates: np.ndarray) -> dict[str, np.ndarray]:
    """Each symbol's exception flags in date order."""
    runs = {}
    for symbol in sorted(np.unique(symbols)):
        rows = np.flatnonzero(symbols == symbol)
        runs[str(symbol)] = hits[rows[np.argsort(dates[rows], kind="stable")]]
    return runs


def var_backtest(mean: np.ndarray, std: np.ndarray, target: np.ndarray, symbols: np.ndarray,
                 dates: np.ndarray) -> dict:
    """{"95": {"pooled": tests, "per_symbol": {symbol: tests}}, "99": ...} for 1-D arrays of the 1-day horizon."""
    out = {}
    for level in VAR_LEVELS:
        p = 1.0 - level
        runs = symbol_runs(var_exceptions(mean, std, target, level), symbols, dates)
        out[f"{round(100 * level)}"] = {"pooled": coverage_tests(list(runs.values()), p),
                                        "per_symbol": {s: coverage_tests([r], p) for s, r in runs.items()}}
    return out
