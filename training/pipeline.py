"""One training run, top to bottom: bars -> samples -> MGDL grades -> baselines -> evaluation -> artifacts.

    run_dir = train_run(TrainConfig.for_profile("tiny", home=tmp_path))
    run_dir = train_run(TrainConfig.from_settings(settings, "quick"))
    run_dir = resume_run(run_dir / "checkpoint_epoch_10.pth")   # the config is the checkpoint's
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from market_data.stores.sync import run_sync
from training import artifacts
from training.checkpoint import BEST_MODEL, load_forecaster, read_model_file, read_payload, save_forecaster
from training.config import TrainConfig
from training.dataset import MarketDataset, Samples, SplitDates, make_dataset
from training.evaluation import (
    RidgeBaseline,
    baseline_forecasts,
    forecast_metrics,
    gaussian_forecast,
    grade_contributions,
)
from training.forecaster import (
    Architecture,
    Forecaster,
    ForecastLoss,
    keep_helpful_mean_heads,
    split_output,
    validation_nll,
)
from training.linear_grade import LinearGrade, fit_linear_grade
from training.mgdl import GradeTrainer, MGDLRegressor, StandardRegressor
from training.scoring import diebold_mariano, distribution_scores
from training.volatility import variance_baselines

CHECKPOINT_FORMAT = "wig80-mgdl-checkpoint/1"
FINAL_MODEL = "final_model.pth"
SINGLE_GRADE_MODEL = "single_grade_model.pth"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- data -------------------------------------------------------------------------------------------

async def _read_store(config: TrainConfig) -> tuple[list, str]:
    from market_data.stores import open_store
    from market_data.synthetic import synthesize

    async with open_store(config.market_db_url, config.home) as store:
        summaries = await store.list_symbols()
        source = f"the bar store ({config.market_db_url or 'embedded, ' + str(config.home)})"
        if not summaries and config.profile in ("tiny", "quick"):
            log(f"The bar store is empty: writing a synthetic market of {config.synthetic_symbols} symbols x "
                f"{config.synthetic_days} days (seed {config.synthetic_seed}) into it for the {config.profile} profile.")
            await store.append_many(synthesize(config.synthetic_symbols, config.synthetic_days, config.synthetic_seed))
            summaries = await store.list_symbols()
            source = f"a synthetic market written into {source}"
        wanted = config.symbols or sorted(summaries)
        unknown = sorted(set(wanted) - set(summaries))
        if unknown:
            raise ValueError(f"symbols not in the bar store: {', '.join(unknown)}")
        if not wanted:
            raise ValueError("the bar store is empty; import bars first (wig80 data import ...)")
        series = [await store.read_range(symbol, None, None) for symbol in wanted]
    return series, source


def load_series(config: TrainConfig) -> tuple[list, str]:
    return run_sync(_read_store(config))


@dataclasses.dataclass
class ScaledSplit:
    x: np.ndarray  # (N, F) scaled features
    z: np.ndarray  # (N, H) standardised targets


def scaled(dataset: MarketDataset, samples: Samples) -> ScaledSplit:
    return ScaledSplit(dataset.feature_scaler.transform_features(samples.features),
                       dataset.target_scaler.transform(samples.targets).astype(np.float32))


# ---- training ---------------------------------------------------------------------------------------

def seed_everything(config: TrainConfig) -> None:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)


class CheckpointWriter:
    """Called after every MGDL epoch; every `checkpoint_every` epochs writes checkpoint_epoch_N.pth."""

    def __init__(self, run_dir: Path, config: TrainConfig, regressor: MGDLRegressor, in_features: int):
        self.run_dir, self.config, self.regressor, self.in_features = run_dir, config, regressor, in_features

    def __call__(self, trainer: GradeTrainer) -> None:
        epoch = len(self.regressor.result.history) + trainer.epoch  # counted over all grades
        if epoch % self.config.checkpoint_every:
            return
        payload = {"format": CHECKPOINT_FORMAT, "config": self.config.as_dict(), "run": self.run_dir.name,
                   "epoch": epoch, "in_features": self.in_features,
                   "n_grades": len(self.regressor.network.grades),
                   "network": self.regressor.network.state_dict(), "grade": trainer.grade_index,
                   "trainer": trainer.state_dict(),
                   "history": [asdict(r) for r in self.regressor.result.history],
                   "grades": [asdict(g) for g in self.regressor.result.grades]}
        torch.save(payload, self.run_dir / f"checkpoint_epoch_{epoch}.pth")


def fit_mgdl(config: TrainConfig, train: ScaledSplit, val: ScaledSplit, run_dir: Path,
             resume: dict | None, linear: LinearGrade) -> MGDLRegressor:
    """Deep grades on top of the linear grade 0; each kept only if it lowers the validation NLL."""
    regressor = MGDLRegressor(config.mgdl, ForecastLoss(config.loss), selection_loss=validation_nll,
                              pruner=keep_helpful_mean_heads)
    if resume is not None:
        regressor.resume_from(resume, resume["network"], resume["n_grades"], resume["in_features"],
                              train.z.shape[1] * 2)
    writer = CheckpointWriter(run_dir, config, regressor, train.x.shape[1])
    return regressor.fit(train.x, _with_logvar(train.z), val.x, _with_logvar(val.z), on_epoch=writer,
                         linear=linear.as_module())


def _with_logvar(z: np.ndarray) -> np.ndarray:
    """The network outputs (mean, log-variance) per horizon; the loss reads only the first H target columns,
    so the targets are padded to the output width for the generic regressor's shape checks."""
    return np.hstack([z, np.zeros_like(z)])


def fit_single_grade(config: TrainConfig, train: ScaledSplit, val: ScaledSplit) -> StandardRegressor:
    return StandardRegressor(config.mgdl, ForecastLoss(config.loss)).fit(
        train.x, _with_logvar(train.z), val.x, _with_logvar(val.z))


def as_forecaster(network, dataset: MarketDataset) -> Forecaster:
    fs, ts = dataset.feature_scaler, dataset.target_scaler
    return Forecaster(network, fs.mean, fs.scale, ts.mean, ts.scale).eval()


# ---- evaluation -------------------------------------------------------------------------------------

@torch.no_grad()
def predict(model: Forecaster, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = model(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
    return mean.double().numpy(), std.double().numpy()


@torch.no_grad()
def grade_outputs(model: Forecaster, features: np.ndarray) -> list[np.ndarray]:
    x = model.scale_features(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
    return [out.double().numpy() for out in model.network.head_outputs(x)]


def evaluate_models(config: TrainConfig, dataset: MarketDataset, mgdl: Forecaster, single_grade: Forecaster,
                    series: list) -> dict:
    """Metrics on validation and test of the model and every baseline, plus each grade's contribution."""
    train, val = scaled(dataset, dataset.train), scaled(dataset, dataset.val)
    ridge = RidgeBaseline().fit(train.x, train.z, val.x, val.z)
    splits = {"val": dataset.val, "test": dataset.test}
    variances = variance_baselines(series, dataset.train, splits, dataset.split.train[1])
    metrics: dict[str, Any] = {"ridge_alpha": ridge.alpha, "grades": {}, "distribution": {}, "mean_tests": {}}
    for split, samples in splits.items():
        outputs = grade_outputs(mgdl, samples.features)
        gaussians = {"mgdl": predict(mgdl, samples.features),
                     **({"linear_grade": standardised_to_returns(outputs[0], dataset.target_scaler)}
                        if mgdl.network.linear is not None else {}),
                     "single_grade": predict(single_grade, samples.features),
                     "ridge": ridge_gaussian(ridge, dataset, samples), **variances[split]}
        forecasts = {"mgdl": gaussian_forecast(*gaussians["mgdl"]),
                     "single_grade": gaussian_forecast(*gaussians["single_grade"]),
                     **baseline_forecasts(dataset, samples, ridge)}
        metrics[split] = {name: forecast_metrics(f, samples, dataset.target_scaler, config.loss)
                          for name, f in forecasts.items()}
        metrics["distribution"][split] = {name: distribution_scores(mean, std, samples.targets.astype(np.float64))
                                          for name, (mean, std) in gaussians.items()}
        metrics["mean_tests"][split] = mean_tests(gaussians, samples)
        metrics["grades"][split] = grade_contributions(outputs, samples, dataset.target_scaler,
                                                       first_grade=0 if mgdl.network.linear is not None else 1)
    return metrics


def standardised_to_returns(output: np.ndarray, scaler) -> tuple[np.ndarray, np.ndarray]:
    """A network output (N, 2H) in standardised units -> (mean, std) of the log return."""
    mean_z, logvar_z = split_output(torch.from_numpy(output))
    return (scaler.mean + scaler.scale * mean_z.numpy(), scaler.scale * np.exp(0.5 * logvar_z.numpy()))


def ridge_gaussian(ridge: RidgeBaseline, dataset: MarketDataset, samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    mean_z, std_z = ridge.predict(dataset.feature_scaler.transform_features(samples.features))
    scaler = dataset.target_scaler
    return scaler.mean + scaler.scale * mean_z, scaler.scale * std_z


def mean_tests(gaussians: dict, samples: Samples) -> dict:
    """Diebold-Mariano on the 1-day squared error: MGDL against the random walk and against ridge."""
    target = samples.targets[:, 0].astype(np.float64)
    error = {name: target - gaussians[name][0][:, 0] for name in ("mgdl", "ridge")}
    return {"mgdl_vs_random_walk": diebold_mariano(error["mgdl"], target, samples.dates),
            "mgdl_vs_ridge": diebold_mariano(error["mgdl"], error["ridge"], samples.dates)}


def data_summary(dataset: MarketDataset, source: str, n_symbols: int) -> dict:
    return {"source": source, "symbols": n_symbols, "window": dataset.window,
            "horizons": dataset.train.targets.shape[1], "feature_names": list(dataset.feature_names),
            "rows": {s: len(getattr(dataset, s)) for s in ("train", "val", "test")}}


@dataclass(frozen=True)
class RunSummary:
    """What a run's metadata file and report say about it: made by `summarize`, for a training and for
    an evaluation alike (which adds when it evaluated)."""

    run: str
    created: str
    config: dict
    data: dict
    split: dict
    grades: list[dict]
    ridge_alpha: float
    metrics: dict
    evaluated: str | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items()
                if not (key == "evaluated" and value is None)}


def summarize(run: str, created: str, config: dict, grades: list[dict], dataset: MarketDataset,
              source: str, n_symbols: int, metrics: dict, evaluated: str | None = None) -> RunSummary:
    """`config`: the run's TrainConfig as a dict (as saved with the run)."""
    return RunSummary(run, created, config, data_summary(dataset, source, n_symbols),
                      dataset.split.as_dict(), grades, metrics["ridge_alpha"], metrics, evaluated)


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def write_reports(run_dir: Path, summary: RunSummary) -> None:
    artifacts.write_json(run_dir / artifacts.METADATA_FILE, summary.as_dict())
    artifacts.plot_calibration(run_dir / artifacts.CALIBRATION_FILE, summary.metrics["test"])
    artifacts.write_report(run_dir / artifacts.REPORT_FILE, summary.as_dict())


# ---- the run ----------------------------------------------------------------------------------------

def train_run(config: TrainConfig) -> Path:
    """Train, evaluate and write every artifact; returns the run directory."""
    return _run(config, None, None)


def resume_run(checkpoint_path: Path) -> Path:
    """Continue the run of a checkpoint_epoch_N.pth with the config saved in it; returns its run directory."""
    checkpoint = read_checkpoint(Path(checkpoint_path))
    run_dir = Path(checkpoint_path).parent
    log(f"Resuming {run_dir.name} from epoch {checkpoint['epoch']}")
    return _run(TrainConfig.from_dict(checkpoint["config"]), run_dir, checkpoint)


def _run(train_config: TrainConfig, run_dir: Path | None, checkpoint: dict | None) -> Path:
    seed_everything(train_config)
    series, source = load_series(train_config)
    dataset = make_dataset(series, train_config.window, train_config.split,
                           show_progress=train_config.mgdl.show_progress)
    log(f"Samples: train {len(dataset.train)}, val {len(dataset.val)}, test {len(dataset.test)} "
        f"({len(series)} symbols, {len(dataset.feature_names)} features)")
    if run_dir is None:
        run_dir = artifacts.create_run_dir(train_config.models_dir, train_config.experiment)
    train, val = scaled(dataset, dataset.train), scaled(dataset, dataset.val)
    linear = fit_linear_grade(train.x, train.z, val.x, val.z)
    mgdl = fit_mgdl(train_config, train, val, run_dir, checkpoint, linear)
    single = fit_single_grade(train_config, train, val)
    model, single_model = as_forecaster(mgdl.network, dataset), as_forecaster(single.network, dataset)
    metrics = evaluate_models(train_config, dataset, model, single_model, series)
    history = {"mgdl": [asdict(r) for r in mgdl.result.history],
               "single_grade": [asdict(r) for r in single.result.history]}
    summary = summarize(run_dir.name, now(), train_config.as_dict(), [asdict(g) for g in mgdl.result.grades], dataset, source,
                        len(series), metrics)
    save_models(run_dir, train_config, dataset, model, single_model, summary)
    artifacts.write_json(run_dir / artifacts.HISTORY_FILE, history | {"grades": summary.grades})
    artifacts.plot_training_curves(run_dir / artifacts.CURVES_FILE, history)
    write_reports(run_dir, summary)
    return run_dir


def model_metadata(run_dir: Path, config: TrainConfig, dataset: MarketDataset, summary: RunSummary) -> dict:
    return {"run": run_dir.name, "feature_names": list(dataset.feature_names), "window": dataset.window,
            "metrics": summary.metrics, "config": summary.config, "split": summary.split,
            "data": summary.data, "grades": summary.grades, "created": summary.created,
            "scaler": {"features": dataset.feature_scaler.as_dict(), "targets": dataset.target_scaler.as_dict()}}


def save_models(run_dir: Path, config: TrainConfig, dataset: MarketDataset, model: Forecaster,
                single_model: Forecaster, summary: RunSummary) -> None:
    metadata = model_metadata(run_dir, config, dataset, summary)
    arch = Architecture(len(dataset.feature_names), config.mgdl.width, config.mgdl.layers_per_grade,
                        len(model.network.grades), linear_grade=model.network.linear is not None)
    save_forecaster(run_dir / BEST_MODEL, model, arch, metadata)
    # the accepted grades each restored their best epoch, so the final weights are the best ones; the
    # file exists so a run's end state is explicit and loadable like any model file
    save_forecaster(run_dir / FINAL_MODEL, model, arch, metadata | {"final": True})
    single_arch = Architecture(arch.in_features, config.mgdl.width,
                               config.mgdl.layers_per_grade * config.mgdl.max_grades, 1)
    save_forecaster(run_dir / SINGLE_GRADE_MODEL, single_model, single_arch, metadata | {"single_grade": True})


def read_checkpoint(path: Path) -> dict:
    return read_payload(path, CHECKPOINT_FORMAT, "no such checkpoint")


def evaluate_run(run_dir: Path, market_db_url: str | None = None, home: Path | None = None) -> Path:
    """Recompute the metrics and the report of a finished run from its model files and the bar store, on the
    split dates stored with the run: bars stored since cannot move its training rows into its test."""
    run_dir = Path(run_dir)
    model, metadata = load_forecaster(run_dir)
    single_model, _ = load_forecaster(run_dir / SINGLE_GRADE_MODEL)
    config = TrainConfig.from_dict(metadata["config"])
    if home is not None:
        config = dataclasses.replace(config, home=Path(home), market_db_url=market_db_url)
    seed_everything(config)
    series, source = load_series(config)
    stored = SplitDates.from_dict(metadata["split"]) if "split" in metadata else None
    dataset = make_dataset(series, config.window, config.split, show_progress=config.mgdl.show_progress,
                           split_dates=stored)
    metrics = evaluate_models(config, dataset, model, single_model, series)
    summary = summarize(metadata["run"], metadata["created"], metadata["config"], metadata["grades"], dataset,
                        source, len(series), metrics, evaluated=now())
    write_reports(run_dir, summary)
    read_model_file(run_dir / BEST_MODEL)  # still readable after the rewrite
    return run_dir / artifacts.REPORT_FILE
