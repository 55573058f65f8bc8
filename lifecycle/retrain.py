"""`wig80 retrain`: a challenger trained on the bars stored now against the serving champion.

Both are scored on the same most recent rows that neither trained on: the challenger's own test
segment (after a purge of `retrain_purge_days` trading days), limited to dates from the champion's
test start on and to the last `retrain_eval_days` sample dates. The challenger is promoted only when
its NLL is lower and its directional accuracy not worse beyond `retrain_accuracy_tolerance`.

The promoted model is the challenger exactly as scored, not refit on all data: refitting would serve
a network no one evaluated (its grades and early stopping were chosen on validation rows), and the
next scheduled retraining sees the newer rows anyway. The price: the most recent ~30% of the history
(validation, purges, test) is not in the served model's training rows.

One retraining at a time (a lock file in WIG80_HOME); every outcome, a failure included, is recorded
in the registry's `evaluations`, and a failure leaves the champion serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.repository import RepositoryTransaction
from lifecycle.deploy import deploy
from lifecycle.publish import export_registered
from lifecycle.scoring import baseline_scores, challenger_wins, score
from registry.client import Registry
from registry.records import deployed_version, run_record, version_record
from settings import Settings

LOCK_FILE = "retrain.lock"


class RetrainBusy(RuntimeError):
    """Another retraining holds the lock."""


@dataclass(frozen=True)
class RetrainOutcome:
    decision: str  # promoted | rejected | failed
    reason: str
    champion_version: int | None
    challenger_run: str | None
    promoted_version: int | None = None


@contextlib.contextmanager
def retrain_lock(home: Path) -> Iterator[None]:
    path = Path(home) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RetrainBusy(f"another retraining is running (lock {path}); this one did not start") from error
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    with retrain_lock(settings.home):
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
    if champion is None:
        outcome = promote(settings, registry, challenger_run, loaded, None,
                          "no champion is serving: the challenger is the first")
        return outcome, {}
    champion_run = champion_run_dir(registry, champion)
    champion_model, champion_meta = load_forecaster(champion_run)
    if int(champion_meta["window"]) != int(challenger_meta["window"]):
        raise ValueError(f"champion window {champion_meta['window']} != challenger window {challenger_meta['window']}")
    rows, train_targets = evaluation_rows(settings, config, int(challenger_meta["window"]), champion_run)
    scores = score_both(champion_model, challenger, rows, train_targets)
    wins, reason = challenger_wins(scores["champion"], scores["challenger"], settings.retrain_accuracy_tolerance)
    if not wins:
        return RetrainOutcome("rejected", reason, champion, challenger_run.name), scores
    return promote(settings, registry, challenger_run, loaded, champion, reason), scores


def champion_run_dir(registry: Registry, version: int) -> Path:
    record = version_record(registry, version)
    run = run_record(registry, record["run"]) if record else None
    if run is None or not run.get("artifact_path"):
        raise ValueError(f"the registry has no training run for the serving version {version}")
    return Path(run["artifact_path"])


def champion_test_start(run_dir: Path) -> np.datetime64 | None:
    """From the champion's stored split: the first date it neither trained nor selected on."""
    metadata = run_dir / "model_metadata.json"
    split = json.loads(metadata.read_text()).get("split", {}) if metadata.is_file() else {}
    return np.datetime64(split["test"][0]) if "test" in split else None


@dataclass(frozen=True)
class EvaluationRows:
    features: np.ndarray
    targets: np.ndarray
    dates: np.ndarray


def evaluation_rows(settings: Settings, config, window: int,
                    champion_run: Path) -> tuple[EvaluationRows, np.ndarray]:
    """The most recent rows neither model trained on, and the challenger's train targets (for baselines)."""
    from training.dataset import make_dataset
    from training.pipeline import load_series

    series, _ = load_series(config)
    dataset = make_dataset(series, window, config.split, show_progress=False)
    test = dataset.test
    keep = np.ones(len(test), dtype=bool)
    start = champion_test_start(champion_run)
    if start is not None:
        keep &= test.dates >= start
    recent_dates = np.unique(test.dates[keep])[-settings.retrain_eval_days:]
    keep &= np.isin(test.dates, recent_dates)
    if not keep.any():
        raise ValueError("no recent rows that neither the champion nor the challenger trained on; store newer bars")
    rows = EvaluationRows(test.features[keep], test.targets[keep].astype(np.float64), test.dates[keep])
    return rows, dataset.train.targets.astype(np.float64)


def score_both(champion, challenger, rows: EvaluationRows, train_targets: np.ndarray) -> dict:
    from training.pipeline import predict

    scores = {name: score(*predict(model, rows.features), rows.targets)
              for name, model in (("champion", champion), ("challenger", challenger))}
    return scores | {"baselines": baseline_scores(train_targets, rows.targets),
                     "rows": {"count": len(rows.targets), "first": str(rows.dates.min()), "last": str(rows.dates.max())}}


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
        "challenger_metrics": scores.get("challenger", {}),
        "decision": outcome.decision,
        "reason": outcome.reason,
        "error": error,
        "promoted_version": outcome.promoted_version or 0,
    })
