"""`wig80 retrain`: a challenger trained on the bars stored now against the serving champion.

Both are scored on the same most recent rows that neither trained nor selected on, taken from each
run's stored split (never from a new split of today's store): every scored row's date lies after the
challenger's validation end plus its purge and after the champion's validation end plus its purge (so
outside both models' training and validation dates, targets included), limited to the last
`retrain_eval_days` such sample dates. A run without a stored split can be neither champion nor
challenger: nothing could show its scored rows unseen. The challenger is promoted only when its NLL is
lower, significantly so (Diebold-Mariano p below `retrain_max_p_value`), and its directional accuracy
not worse beyond `retrain_accuracy_tolerance`; the decision names the rows and dates it was made on.

The promoted model is the challenger exactly as scored, not refit on all data: refitting would serve
a network no one evaluated (its grades and early stopping were chosen on validation rows), and the
next scheduled retraining sees the newer rows anyway. The price: the most recent ~30% of the history
(validation, purges, test) is not in the served model's training rows.

One retraining at a time, and none beside an export, deploy or rollback (lifecycle.repository_lock);
every outcome, a failure included, is recorded
in the registry's `evaluations`, and a failure leaves the champion serving.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.repository import RepositoryTransaction
from lifecycle.deploy import deploy
from lifecycle.publish import export_registered
from lifecycle.repository_lock import RepositoryBusy, repository_lock
from lifecycle.scoring import baseline_scores, challenger_wins, nll_test, row_nll, score
from registry.client import Registry
from registry.records import deployed_version, run_record, version_record
from settings import Settings

RetrainBusy = RepositoryBusy  # another retraining (or an export, deploy, rollback) holds the lock


class UnsplitRun(ValueError):
    """A run without a stored split: its scored rows cannot be shown to be unseen."""


@dataclass(frozen=True)
class RetrainOutcome:
    decision: str  # promoted | rejected | failed
    reason: str
    champion_version: int | None
    challenger_run: str | None
    promoted_version: int | None = None


def challenger_profile(settings: Settings, registry: Registry, champion: int | None) -> str:
    """WIG80_RETRAIN_PROFILE, else the champion's own (so both see the same window), else quick."""
    if settings.retrain_profile:
        return settings.retrain_profile
    record = version_record(registry, champion) if champion else None
    run = run_record(registry, record["run"]) if record else None
    return (run or {}).get("profile") or "quick"


def challenger_config(settings: Settings, profile: str):
    from training.config import TrainConfig

    config = TrainConfig.from_settings(settings, profile)
    config.experiment = "challenger"
    config.split = dataclasses.replace(config.split, purge_days=settings.retrain_purge_days)
    return config


def retrain(settings: Settings, registry: Registry, challenger_run: Path | None = None) -> RetrainOutcome:
    """Train (or take `challenger_run`), score against the champion, promote or reject, record either way."""
    with repository_lock(settings.home, "retrain"):
        champion = deployed_version(registry)
        run_name = Path(challenger_run).name if challenger_run else None
        try:
            config = challenger_config(settings, challenger_profile(settings, registry, champion))
            if challenger_run is None:
                from training.pipeline import train_run

                challenger_run = train_run(config)
                run_name = challenger_run.name
            outcome, scores = evaluate_and_decide(settings, registry, config, champion, Path(challenger_run))
        except Exception as error:  # a failed retraining is recorded with its error; the champion serves on
            outcome = RetrainOutcome("failed", f"{type(error).__name__}: {error}", champion, run_name)
            record_evaluation(registry, outcome, {}, error=str(error))
            return outcome
        record_evaluation(registry, outcome, scores)
        return outcome


def evaluate_and_decide(settings: Settings, registry: Registry, config, champion: int | None,
                        challenger_run: Path) -> tuple[RetrainOutcome, dict]:
    from training.checkpoint import load_forecaster

    loaded = load_forecaster(challenger_run)  # once: scored here, exported from memory on promotion
    challenger, challenger_meta = loaded
    challenger_split = stored_split(challenger_meta, "challenger", challenger_run)
    if champion is None:
        outcome = promote(settings, registry, challenger_run, loaded, None,
                          "no champion is serving: the challenger is the first")
        return outcome, {}
    champion_run = champion_run_dir(registry, champion)
    champion_model, champion_meta = load_forecaster(champion_run)
    champion_split = stored_split(champion_meta, f"serving version {champion}'s", champion_run)
    if int(champion_meta["window"]) != int(challenger_meta["window"]):
        raise ValueError(f"champion window {champion_meta['window']} != challenger window {challenger_meta['window']}")
    rows, train_targets = evaluation_rows(settings, config, int(challenger_meta["window"]),
                                          (challenger_split, champion_split))
    scores = score_both(champion_model, challenger, rows, train_targets)
    wins, reason = challenger_wins(scores["champion"], scores["challenger"], scores["nll_test"], scores["rows"],
                                   settings.retrain_accuracy_tolerance, settings.retrain_max_p_value)
    if not wins:
        return RetrainOutcome("rejected", reason, champion, challenger_run.name), scores
    return promote(settings, registry, challenger_run, loaded, champion, reason), scores


def champion_run_dir(registry: Registry, version: int) -> Path:
    record = version_record(registry, version)
    run = run_record(registry, record["run"]) if record else None
    if run is None or not run.get("artifact_path"):
        raise ValueError(f"the registry has no training run for the serving version {version}")
    return Path(run["artifact_path"])


def stored_split(metadata: dict, role: str, run_dir: Path):
    """The split a run stored with its model (or in its model_metadata.json); UnsplitRun when it has none."""
    from training.dataset import SplitDates

    split = metadata.get("split")
    path = Path(run_dir) / "model_metadata.json"
    if not split and path.is_file():
        split = json.loads(path.read_text()).get("split")
    if not split:
        raise UnsplitRun(f"the {role} run {Path(run_dir).name} has no stored split, so no row can be shown to be "
                         "outside its training and validation dates; it can be neither champion nor challenger "
                         "(retrain it with `wig80 train`)")
    return SplitDates.from_dict(split)


@dataclass(frozen=True)
class EvaluationRows:
    features: np.ndarray
    targets: np.ndarray
    dates: np.ndarray


def first_unseen_date(calendar: np.ndarray, split) -> np.datetime64:
    """The first sample date of `calendar` after the split's validation end plus its purge (in trading days),
    and never before its stored test start."""
    index = int(np.searchsorted(calendar, np.datetime64(split.val[1]), side="right")) + split.purge_days
    boundary = calendar[index] if index < len(calendar) else np.datetime64("9999-12-31")
    return max(boundary, np.datetime64(split.test[0]))


def evaluation_rows(settings: Settings, config, window: int, splits: tuple) -> tuple[EvaluationRows, np.ndarray]:
    """The most recent rows after every split's validation end + purge, and the challenger's train targets."""
    from training.dataset import build_samples
    from training.pipeline import load_series

    series, _ = load_series(config)
    samples, usable, _ = build_samples(series, window)  # unusable: a split-like day corrupts the sample
    calendar = np.unique(samples.dates)
    start = max(first_unseen_date(calendar, split) for split in splits)
    keep = usable & (samples.dates >= start)
    recent_dates = np.unique(samples.dates[keep])[-settings.retrain_eval_days:]
    keep &= np.isin(samples.dates, recent_dates)
    if not keep.any():
        raise ValueError(f"no rows after both runs' validation end + purge ({start}); store newer bars")
    challenger_train = splits[0].train
    in_train = usable & (samples.dates >= np.datetime64(challenger_train[0])) & (samples.dates <= np.datetime64(challenger_train[1]))
    rows = EvaluationRows(samples.features[keep], samples.targets[keep].astype(np.float64), samples.dates[keep])
    return rows, samples.targets[in_train].astype(np.float64)


def score_both(champion, challenger, rows: EvaluationRows, train_targets: np.ndarray) -> dict:
    from training.pipeline import predict

    forecasts = {name: predict(model, rows.features) for name, model in (("champion", champion),
                                                                         ("challenger", challenger))}
    scores = {name: score(*forecast, rows.targets) for name, forecast in forecasts.items()}
    test = nll_test(row_nll(*forecasts["challenger"], rows.targets), row_nll(*forecasts["champion"], rows.targets),
                    rows.dates)
    return scores | {"baselines": baseline_scores(train_targets, rows.targets), "nll_test": test,
                     "rows": {"count": len(rows.targets), "dates": int(len(np.unique(rows.dates))),
                              "first": str(rows.dates.min()), "last": str(rows.dates.max())}}


def promote(settings: Settings, registry: Registry, run_dir: Path, loaded, champion: int | None,
            reason: str) -> RetrainOutcome:
    """Export the challenger (`loaded`: its forecaster, already in memory) as a new registered version and
    switch Triton to it, as one change of the repository: its configs are snapshot once, and a failed step
    puts the champion's back (a restart serves it); a registered version's folders stay."""
    with RepositoryTransaction(settings.repository_dir) as change:
        result = export_registered(registry, run_dir, settings, loaded=loaded, transaction=change)
        deploy(registry, settings, result.version, "promoted" if champion else "initial", note=reason,
               transaction=change)
    return RetrainOutcome("promoted", reason, champion, run_dir.name, result.version)


def record_evaluation(registry: Registry, outcome: RetrainOutcome, scores: dict, error: str = "") -> None:
    registry.create("evaluations", {
        "champion_version": outcome.champion_version or 0,
        "challenger_run": outcome.challenger_run or "",
        "rows": scores.get("rows", {}),
        "champion_metrics": scores.get("champion", {}) | {"baselines": scores.get("baselines", {})},
        "challenger_metrics": scores.get("challenger", {}) | ({"nll_test": scores["nll_test"]}
                                                               if "nll_test" in scores else {}),
        "decision": outcome.decision,
        "reason": outcome.reason,
        "error": error,
        "promoted_version": outcome.promoted_version or 0,
    })
