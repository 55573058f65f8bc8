"""What a run leaves in WIG80_HOME/models/<experiment>_<YYYYmmdd_HHMMSS>/ besides the model files:
training_history.json, training_curves.png, calibration.png, model_metadata.json, training_report.md.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HISTORY_FILE = "training_history.json"
CURVES_FILE = "training_curves.png"
CALIBRATION_FILE = "calibration.png"
METADATA_FILE = "model_metadata.json"
REPORT_FILE = "training_report.md"

MODEL_ORDER = ("mgdl", "single_grade", "ridge", "random_walk", "always_up", "one_day_reversal")


def create_run_dir(models_dir: Path, experiment: str, now: datetime.datetime | None = None) -> Path:
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = Path(models_dir) / f"{experiment}_{stamp}"
    run_dir, n = base, 1
    while run_dir.exists():  # two runs within one second
        n += 1
        run_dir = base.with_name(f"{base.name}_{n}")
    run_dir.mkdir(parents=True)
    return run_dir


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def plot_training_curves(path: Path, history: dict) -> Path:
    """One panel per MGDL grade plus the single-grade network: train and validation loss per epoch."""
    panels = [(f"MGDL grade {g}", [r for r in history["mgdl"] if r["grade"] == g])
              for g in sorted({r["grade"] for r in history["mgdl"]})]
    panels.append(("single-grade network", history["single_grade"]))
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for axis, (title, records) in zip(axes[0], panels, strict=True):
        epochs = [r["epoch"] for r in records]
        axis.plot(epochs, [r["train_loss"] for r in records], label="train")
        axis.plot(epochs, [r["val_loss"] for r in records], label="validation")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.set_ylabel("NLL + spectral")
        axis.legend()
    return _save(figure, path)


def plot_calibration(path: Path, split_metrics: dict) -> Path:
    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.plot([0.3, 1.0], [0.3, 1.0], color="grey", linestyle="--", label="perfect")
    for name in ("mgdl", "single_grade", "ridge"):
        bins = split_metrics.get(name, {}).get("calibration", {}).get("bins", [])
        if bins:
            axis.plot([b["predicted"] for b in bins], [b["realised"] for b in bins], marker="o", label=name)
    axis.set_xlabel("predicted P(sign right)")
    axis.set_ylabel("realised hit rate")
    axis.set_title("calibration (test, all horizons)")
    axis.legend()
    return _save(figure, path)


def _cell(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def metrics_table(split_metrics: dict) -> list[str]:
    lines = ["| model | MAE h1 | RMSE h1 | R² h1 | R² mean | dir. acc h1 | dir. acc h5 | dir. acc h30 "
             "| spectral | calib. ECE |", "|" + " --- |" * 10]
    for name in MODEL_ORDER:
        m = split_metrics.get(name)
        if m is None:
            continue
        regression = [_cell(m[k]["h1"]) if k in m else "n/a" for k in ("mae", "rmse", "r2")]
        r2_mean = _cell(m["r2"]["mean"]) if "r2" in m else "n/a"
        direction = [_cell(m["directional_accuracy"][h], 3) for h in ("h1", "h5", "h30")]
        spectral = _cell(m.get("spectral_loss"))
        ece = _cell(m["calibration"]["ece"], 3) if "calibration" in m else "n/a"
        lines.append(f"| {name} | " + " | ".join([*regression, r2_mean, *direction, spectral, ece]) + " |")
    return lines


def write_report(path: Path, summary: dict) -> Path:
    """`summary`: run, data, split, metrics (val/test/grades), ridge_alpha, grades (acceptance)."""
    metrics, data = summary["metrics"], summary["data"]
    lines = [f"# Training report: {summary['run']}", "",
             f"Data: {data['symbols']} symbols from {data['source']}; window {data['window']} bars; "
             f"{len(data['feature_names'])} features; horizons 1..{data['horizons']} trading days.", "",
             "| split | first day | last day | samples |", "| --- | --- | --- | --- |"]
    for name in ("train", "val", "test"):
        first, last = summary["split"][name]
        lines.append(f"| {name} | {first} | {last} | {data['rows'][name]} |")
    lines += ["", f"Purge gap: {summary['split']['purge_days']} trading days at each boundary; scalers fitted "
              "on train only.", ""]
    for split in ("test", "val"):
        lines += [f"## Metrics on {split} (forward log returns; every row the same samples)", "",
                  *metrics_table(metrics[split]), ""]
    lines += ["Directional accuracy counts days with a non-zero move on which the model makes a call. "
              "Sign-only baselines have no regression metrics (n/a). The spectral column is the training "
              "spectral term of the error path in train-std units; ECE is the expected calibration error "
              f"of P(sign right). Ridge alpha chosen on validation: {summary['ridge_alpha']}.", "",
              "## Per-grade contribution (sum of grades 1..k)", "",
              "| grades | val RMSE h1 | val R² mean | test RMSE h1 | test R² mean | test dir. acc h1 |",
              "| --- | --- | --- | --- | --- | --- |"]
    for val_row, test_row in zip(metrics["grades"]["val"], metrics["grades"]["test"], strict=True):
        lines.append(f"| {val_row['grades']} | {val_row['rmse_h1']:.5f} | {val_row['r2_mean']:.4f} | "
                     f"{test_row['rmse_h1']:.5f} | {test_row['r2_mean']:.4f} | "
                     f"{_cell(test_row['directional_accuracy_h1'], 3)} |")
    lines += ["", "| grade | val loss before | val loss after | kept | epochs |", "| --- | --- | --- | --- | --- |"]
    for g in summary["grades"]:
        lines.append(f"| {g['grade']} | {g['val_loss_before']:.5f} | {g['val_loss_after']:.5f} | "
                     f"{'yes' if g['accepted'] else 'no'} | {g['epochs']} |")
    lines += ["", "## Calibration (test, all horizons pooled)", "", f"![calibration]({CALIBRATION_FILE})", "",
              "| model | bin | rows | predicted | realised |", "| --- | --- | --- | --- | --- |"]
    for name in ("mgdl", "single_grade", "ridge"):
        for b in metrics["test"].get(name, {}).get("calibration", {}).get("bins", []):
            lines.append(f"| {name} | {b['low']:.2f}-{b['high']:.2f} | {b['count']} | {b['predicted']:.3f} | "
                         f"{b['realised']:.3f} |")
    lines += ["", f"![training curves]({CURVES_FILE})", ""]
    path.write_text("\n".join(lines))
    return path
