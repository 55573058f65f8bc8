"""What a run leaves in WIG80_HOME/models/<experiment>_<YYYYmmdd_HHMMSS>/ besides the model files:
training_history.json, training_curves.png, calibration.png, model_metadata.json, training_report.md.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import matplotlib

from training.analogue_baseline import report_lines as analogue_report_lines
from training.risk import RISK_MODELS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HISTORY_FILE = "training_history.json"
CURVES_FILE = "training_curves.png"
CALIBRATION_FILE = "calibration.png"
METADATA_FILE = "model_metadata.json"
REPORT_FILE = "training_report.md"

MODEL_ORDER = ("mgdl", "single_grade", "ridge", "random_walk", "always_up", "one_day_reversal")
DISTRIBUTION_ORDER = ("mgdl", "linear_grade", "single_grade", "ridge", "constant", "ewma", "rolling_20", "garch")
ECE_CAVEAT = ("ECE scores only P(sign right) = Phi(|mu| / sigma); when the predicted mean is about 0 that "
              "probability is about 0.5 for every row and the realised hit rate is about 0.5 too, so a "
              "near-zero ECE says almost nothing about whether sigma is right. The NLL, CRPS and interval "
              "coverage above score sigma itself.")


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


def _direction(m: dict, horizon: str) -> str:
    rate, se = m["directional_accuracy"][horizon], m.get("directional_se", {}).get(horizon)
    return _cell(rate, 3) + (f" ± {se:.3f}" if rate is not None and se is not None else "")


def metrics_table(split_metrics: dict) -> list[str]:
    lines = ["| model | MAE h1 | RMSE h1 | R² h1 | R² mean | dir. acc h1 | dir. acc h5 | dir. acc h30 "
             "| spectral |", "|" + " --- |" * 9]
    for name in MODEL_ORDER:
        m = split_metrics.get(name)
        if m is None:
            continue
        regression = [_cell(m[k]["h1"]) if k in m else "n/a" for k in ("mae", "rmse", "r2")]
        r2_mean = _cell(m["r2"]["mean"]) if "r2" in m else "n/a"
        direction = [_direction(m, h) for h in ("h1", "h5", "h30")]
        spectral = _cell(m.get("spectral_loss"))
        lines.append(f"| {name} | " + " | ".join([*regression, r2_mean, *direction, spectral]) + " |")
    return lines


def distribution_table(scores: dict, horizon: str) -> list[str]:
    """NLL, CRPS, coverage and width of every Gaussian forecast at one horizon; `scores`: {model: scores}."""
    lines = ["| model | NLL | CRPS | cover 50% | cover 80% | cover 95% | width 50% | width 80% | width 95% |",
             "|" + " --- |" * 9]
    for name in DISTRIBUTION_ORDER:
        s = scores.get(name, {}).get(horizon)
        if s is None:
            continue
        cells = [f"{s['nll']:.4f}", f"{s['crps']:.5f}", *(f"{s['coverage'][k]:.3f}" for k in ("50", "80", "95")),
                 *(f"{s['width'][k]:.4f}" for k in ("50", "80", "95"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def mean_test_lines(tests: dict) -> list[str]:
    lines = ["| Diebold-Mariano, 1-day squared error | DM statistic | p-value | days | mean loss differential |",
             "| --- | --- | --- | --- | --- |"]
    for name, t in tests.items():
        lines.append(f"| {name.replace('_', ' ')} | {_cell(t['statistic'], 2)} | {_cell(t['p_value'], 3)} | "
                     f"{t['days']} | {t['mean_differential']:.3e} |")
    return lines


def distribution_section(metrics: dict, split: str) -> list[str]:
    lines = [f"## Forecast distribution on {split} (Gaussian, log-return units; every row the same samples)", ""]
    for horizon in ("h1", "h5", "h30"):
        lines += [f"Horizon {horizon[1:]}:", "", *distribution_table(metrics["distribution"][split], horizon), ""]
    return lines


def _p(value: float | None) -> str:
    return "n/a" if value is None else (f"{value:.3f}" if value >= 0.001 else f"{value:.1e}")


def distribution_test_table(tests: dict) -> list[str]:
    """Diebold-Mariano of MGDL's per-row NLL and CRPS against each baseline, per horizon."""
    lines = ["| horizon | MGDL vs | NLL: DM statistic | NLL: p | CRPS: DM statistic | CRPS: p | days | Newey-West lags |",
             "|" + " --- |" * 8]
    for horizon, by_baseline in tests.items():
        for name, t in by_baseline.items():
            nll, crps = t["nll"], t["crps"]
            lines.append(f"| {horizon[1:]} | {name} | {_cell(nll['statistic'], 2)} | {_p(nll['p_value'])} | "
                         f"{_cell(crps['statistic'], 2)} | {_p(crps['p_value'])} | {nll['days']} | {nll['lags']} |")
    return lines


def var_pooled_table(backtests: dict) -> list[str]:
    """Pooled 1-day VaR backtests: one row per model and level, in RISK_MODELS order."""
    lines = ["| model | VaR | exceptions / days | rate (expected) | Kupiec p | Christoffersen independence p | "
             "conditional coverage p | 250-day windows green / yellow / red |", "|" + " --- |" * 8]
    for name in RISK_MODELS:
        for level, result in backtests.get(name, {}).items():
            t = result["pooled"]
            zones = t["zones"]
            lines.append(f"| {name} | {level}% | {t['exceptions']} / {t['days']} | {_cell(t['rate'], 4)} "
                         f"({t['expected_rate']:.2f}) | {_p(t['kupiec']['p_value'])} | "
                         f"{_p(t['independence']['p_value'])} | {_p(t['conditional_coverage']['p_value'])} | "
                         f"{zones['green']} / {zones['yellow']} / {zones['red']} |")
    return lines


def var_symbol_table(backtests: dict) -> list[str]:
    """Per symbol: exceptions, Kupiec p and the windows' zones at both levels."""
    levels = sorted({level for result in backtests.values() for level in result})
    header = "| model | symbol | " + " | ".join(f"{lv}%: exceptions / days | {lv}%: Kupiec p | {lv}%: zones"
                                               for lv in levels) + " |"
    lines = [header, "|" + " --- |" * (2 + 3 * len(levels))]
    for name in RISK_MODELS:
        result = backtests.get(name)
        if not result:
            continue
        for symbol in result[levels[0]]["per_symbol"]:
            cells = []
            for level in levels:
                t = result[level]["per_symbol"][symbol]
                zones = ", ".join(f"{count} {zone}" for zone, count in t["zones"].items() if count) or "none"
                cells += [f"{t['exceptions']} / {t['days']}", _p(t["kupiec"]["p_value"]), zones]
            lines.append(f"| {name} | {symbol} | " + " | ".join(cells) + " |")
    return lines


def baseline_note(metrics: dict) -> str:
    choices = metrics.get("baselines", {})
    lam = choices.get("ewma_lambda")
    return ("constant (each symbol's train variance of each horizon), ewma (lambda "
            f"{lam if lam is not None else 0.94}, chosen on validation from a grid), rolling_20 and garch (GARCH(1,1) "
            "per symbol, fitted on train for the validation rows and refitted on train + validation for the test "
            "rows) have mean 0; linear_grade is the model's grade 0 alone.")


def summary_lines(metrics: dict) -> list[str]:
    """The test headline: the 1-day distribution table, the mean tests, the distribution tests and the pooled
    VaR backtests (for `wig80 evaluate`)."""
    lines = ["Test, horizon 1:", *distribution_table(metrics["distribution"]["test"], "h1"), "",
             *mean_test_lines(metrics["mean_tests"]["test"])]
    if "distribution_tests" in metrics:
        lines += ["", *distribution_test_table(metrics["distribution_tests"]["test"])]
    if metrics.get("var_backtest", {}).get("test"):
        lines += ["", *var_pooled_table(metrics["var_backtest"]["test"])]
    return lines


def write_report(path: Path, summary: dict) -> Path:
    """`summary`: run, data, dropped, split, metrics (val/test/grades), ridge_alpha, grades (acceptance)."""
    metrics, data = summary["metrics"], summary["data"]
    lines = [f"# Training report: {summary['run']}", "",
             f"Data: {data['symbols']} symbols from {data['source']}; window {data['window']} bars; "
             f"{len(data['feature_names'])} features; horizons 1..{data['horizons']} trading days.", "",
             f"Dropped: {summary['dropped']['summary']}.", "",
             "| split | first day | last day | samples |", "| --- | --- | --- | --- |"]
    for name in ("train", "val", "test"):
        first, last = summary["split"][name]
        lines.append(f"| {name} | {first} | {last} | {data['rows'][name]} |")
    lines += ["", f"Purge gap: {summary['split']['purge_days']} trading days at each boundary; scalers fitted "
              "on train only.", ""]
    served = summary.get("served_model")
    if served:
        lines += [f"Served model: {served['description']} (deep grades kept {served['deep_grades_kept']} of "
                  f"{served['deep_grades_tried']} tried"
                  + ("; the mgdl rows are the linear grade 0 alone" if served["linear_only"] else "") + ").", ""]
    lines += [*distribution_section(metrics, "test"),
              "NLL: 0.5 log(2 pi sigma²) + (r - mu)² / (2 sigma²), lower is better; CRPS (properscoring), lower "
              "is better; cover q%: share of rows inside the central q% interval (should be q); width: its mean "
              f"width. {baseline_note(metrics)}", ""]
    if "distribution_tests" in metrics:
        lines += ["## Significance of the distribution scores on test (Diebold-Mariano)", "",
                  *distribution_test_table(metrics["distribution_tests"]["test"]), "",
                  "One loss differential per date (the mean over that date's symbols), Newey-West variance with "
                  "max(5, h - 1) lags (h-day windows of consecutive days overlap); a negative statistic means MGDL's "
                  "score is the lower (better); two-sided normal p-value.", ""]
    if metrics.get("var_backtest", {}).get("test"):
        lines += ["## 1-day Value-at-Risk backtests on test (pooled over symbols)", "",
                  *var_pooled_table(metrics["var_backtest"]["test"]), "",
                  "An exception is a day whose log return falls below mu - z sigma. Kupiec: proportion of failures "
                  "(chi-squared 1); Christoffersen: independence of exception days (first-order Markov, transitions "
                  "within each symbol; chi-squared 1); conditional coverage: both (chi-squared 2); small p rejects. "
                  "Basel traffic light per 250 days of each symbol (a shorter test span is one window of its own "
                  "length). Pooled tests treat symbols' days as independent: see the per-symbol table at the end.",
                  ""]
    for split in ("test", "val"):
        lines += [f"## Mean and direction on {split} (forward log returns; every row the same samples)", "",
                  *metrics_table(metrics[split]), "", *mean_test_lines(metrics["mean_tests"][split]), ""]
    alpha = summary["ridge_alpha"]
    lines += ["Directional accuracy (± its binomial standard error) counts days with a non-zero move on which "
              "the model makes a call. Sign-only baselines have no regression metrics (n/a). The spectral column "
              "is the training spectral term of the error path in train-std units. Diebold-Mariano: a negative "
              "statistic means MGDL's 1-day squared error is the smaller; one loss differential per date, "
              "Newey-West variance; n/a where the two forecasts are the same. Ridge alpha chosen per horizon on validation, h1: "
              f"{alpha[0] if isinstance(alpha, list) else alpha}.", "",
              *distribution_section(metrics, "val"), *analogue_report_lines(metrics),
              "## Per-grade contribution (sum of grades up to k; grade 0 is linear)", "",
              "| grades | val RMSE h1 | val R² mean | test RMSE h1 | test R² mean | test dir. acc h1 |",
              "| --- | --- | --- | --- | --- | --- |"]
    for val_row, test_row in zip(metrics["grades"]["val"], metrics["grades"]["test"], strict=True):
        lines.append(f"| {val_row['grades']} | {val_row['rmse_h1']:.5f} | {val_row['r2_mean']:.4f} | "
                     f"{test_row['rmse_h1']:.5f} | {test_row['r2_mean']:.4f} | "
                     f"{_cell(test_row['directional_accuracy_h1'], 3)} |")
    lines += ["", "Grade 0 is the linear grade (closed-form ridge mean, linear log-variance); a deep grade is kept "
              "only if it lowers the validation NLL.", "",
              "| grade | val NLL before | val NLL after | kept | epochs |", "| --- | --- | --- | --- | --- |"]
    for g in summary["grades"]:
        lines.append(f"| {g['grade']} | {g['val_loss_before']:.5f} | {g['val_loss_after']:.5f} | "
                     f"{'yes' if g['accepted'] else 'no'} | {g['epochs']} |")
    lines += ["", "## Detail: calibration of the sign probability (test, all horizons pooled)", "", ECE_CAVEAT, "",
              f"![calibration]({CALIBRATION_FILE})", "", "| model | ECE |", "| --- | --- |"]
    for name in MODEL_ORDER:
        ece = metrics["test"].get(name, {}).get("calibration", {}).get("ece")
        if ece is not None:
            lines.append(f"| {name} | {ece:.3f} |")
    lines += ["",
              "| model | bin | rows | predicted | realised |", "| --- | --- | --- | --- | --- |"]
    for name in ("mgdl", "single_grade", "ridge"):
        for b in metrics["test"].get(name, {}).get("calibration", {}).get("bins", []):
            lines.append(f"| {name} | {b['low']:.2f}-{b['high']:.2f} | {b['count']} | {b['predicted']:.3f} | "
                         f"{b['realised']:.3f} |")
    if metrics.get("var_backtest", {}).get("test"):
        lines += ["", "## Detail: 1-day VaR backtests per symbol (test)", "",
                  *var_symbol_table(metrics["var_backtest"]["test"])]
    lines += ["", f"![training curves]({CURVES_FILE})", ""]
    path.write_text("\n".join(lines))
    return path
