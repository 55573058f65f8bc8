"""The analogue forecast scored as a baseline of the training report, on the model's own val/test rows.

For every row of a split, the k nearest admissible rows of the run's index (`training.analogue_index`: train and
validation samples, outcomes known before the query day) give a Gaussian N(mean, std^2) of their
realised returns at h = 1, 5, 30 (`analogues.forecast.gaussian`). Scored like every other forecast of
the report (`training.scoring`): Gaussian NLL, CRPS, interval coverage; the direction sign(mean) with
its binomial standard error; Diebold-Mariano of the 1-day squared error against the random walk.
"""

from __future__ import annotations

import numpy as np

from analogues.forecast import gaussian, outcome_matrix
from analogues.index import HORIZONS, AnalogueIndex
from training.analogue_index import DEFAULT_K, index_of_dataset

SPLITS = ("val", "test")


def analogue_forecast(index: AnalogueIndex, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std), each (N, len(HORIZONS)), of the outcomes of each query's neighbour `rows` (N, k)."""
    return gaussian(outcome_matrix(index.outcomes, rows))


def score_split(mean: np.ndarray, std: np.ndarray, targets: np.ndarray, dates: np.ndarray) -> dict:
    """Scores of the analogue forecast on one split; `targets` (N, len(HORIZONS)) realised returns."""
    from training.evaluation import directional_accuracy
    from training.scoring import diebold_mariano, horizon_scores

    scored = np.all(np.isfinite(mean) & np.isfinite(std), axis=1)
    mean, std, targets, dates = mean[scored], std[scored], targets[scored].astype(np.float64), dates[scored]
    accuracy = directional_accuracy(np.sign(mean), targets)
    counted = ((targets != 0) & (mean != 0)).sum(axis=0)
    se = np.sqrt(accuracy * (1 - accuracy) / np.maximum(counted, 1))
    keys = [f"h{h}" for h in HORIZONS]
    return {"rows": int(scored.sum()), "rows_without_analogues": int((~scored).sum()),
            "distribution": {key: horizon_scores(mean[:, j], std[:, j], targets[:, j]) for j, key in enumerate(keys)},
            "directional_accuracy": {key: _number(accuracy[j]) for j, key in enumerate(keys)},
            "directional_se": {key: _number(se[j]) for j, key in enumerate(keys)},
            "dm_vs_random_walk": diebold_mariano(targets[:, 0] - mean[:, 0], targets[:, 0], dates)}


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def analogue_baseline(dataset, k: int = DEFAULT_K) -> dict:
    """The report's `analogues` metrics: the index's extent, then val and test scores."""
    index = index_of_dataset(dataset, k=k)
    first, last = index.date_range
    metrics: dict = {"k": k, "index": {"rows": len(index), "first_date": first, "last_date": last,
                                       "kind": index.spec.kind}}
    columns = [h - 1 for h in HORIZONS]
    for split in SPLITS:
        samples = getattr(dataset, split)
        found = index.search(index.standardise(samples.features), samples.dates, k)
        mean, std = analogue_forecast(index, found.rows)
        metrics[split] = score_split(mean, std, samples.targets[:, columns], samples.dates)
    return metrics


def report_lines(metrics: dict) -> list[str]:
    """The report's section: the analogue forecast beside MGDL on the same rows (val and test)."""
    analogues = metrics.get("analogues")
    if not analogues:
        return []
    index = analogues["index"]
    lines = [f"## Historical analogues baseline (k = {analogues['k']} nearest past situations)", "",
             f"Index: {index['rows']} samples from {index['first_date']} to {index['last_date']} (train and "
             f"validation rows; {index['kind']} search over the 51 standardised features). A row's analogues "
             "are from days before its own minus 30 trading days, with outcomes known; their mean and std "
             "of the realised return are its Gaussian forecast.", "",
             "| split | horizon | analogues NLL | MGDL NLL | analogues CRPS | MGDL CRPS | analogues cover 95% "
             "| analogues dir. | MGDL dir. |", "|" + " --- |" * 9]
    for split in SPLITS:
        scores = analogues[split]
        for key in (f"h{h}" for h in HORIZONS):
            mine, mgdl = scores["distribution"][key], metrics["distribution"][split]["mgdl"].get(key, {})
            lines.append(f"| {split} | {key[1:]} | {mine['nll']:.4f} | {_cell(mgdl.get('nll'), 4)} | "
                         f"{mine['crps']:.5f} | {_cell(mgdl.get('crps'), 5)} | {mine['coverage']['95']:.3f} | "
                         f"{_direction(scores, key)} | {_direction(metrics[split]['mgdl'], key)} |")
    lines += ["", "| split | rows scored | rows without analogues | Diebold-Mariano vs random walk, 1-day | p-value |",
              "| --- | --- | --- | --- | --- |"]
    for split in SPLITS:
        scores, dm = analogues[split], analogues[split]["dm_vs_random_walk"]
        lines.append(f"| {split} | {scores['rows']} | {scores['rows_without_analogues']} | "
                     f"{_cell(dm['statistic'], 2)} | {_cell(dm['p_value'], 3)} |")
    return [*lines, "", "A negative Diebold-Mariano statistic means the analogue mean's 1-day squared error is "
            "below the random walk's (zero return).", ""]


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _direction(scores: dict, key: str) -> str:
    rate, se = scores["directional_accuracy"].get(key), scores.get("directional_se", {}).get(key)
    return _cell(rate, 3) + (f" ± {se:.3f}" if rate is not None and se is not None else "")
