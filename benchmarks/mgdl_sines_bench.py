"""MGDL against the standard network on the papers' synthetic task: a 1-D sum of sines over two decades.

    f(x) = sum_j sin(2 pi kappa_j x),  x in [0, 1],  kappa = 1, 3, 10, 30, 100

(the spirit of Fang & Xu 2024, section 3.1: equal amplitudes, rising frequencies). MGDL has `grades` shallow
grades of `layers_per_grade` hidden ReLU layers; the standard network has grades x layers_per_grade hidden
layers of the same width, trained end to end. Equal budget means equal epochs x trainable parameters: an MGDL
epoch trains one grade (the frozen grades' features are computed once), so the standard network gets
sum_k(epochs_per_grade x params_k) / params_standard epochs (`matched_standard_epochs`). Each side's learning
rate is chosen by its median validation error over the seeds; reported: the test relative squared error
||f - f_hat||^2 / ||f||^2 of both at those rates and the ratio of their medians.

    .venv/bin/python -m benchmarks.mgdl_sines_bench            # JSON under benchmarks/results/ + a table
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from training.mgdl import MGDLConfig, MGDLRegressor, StandardRegressor

RESULTS = Path(__file__).parent / "results" / "mgdl_sines.json"
TWO_DECADES = (1.0, 3.0, 10.0, 30.0, 100.0)
LEARNING_RATES = (3e-3, 1e-2)
SEEDS = (0, 1, 2)
SIZES = {"n_train": 2000, "epochs_per_grade": 67, "width": 128, "grades": 24, "layers_per_grade": 1}
QUICK_SIZES = {"n_train": 1000, "epochs_per_grade": 60, "width": 64, "grades": 24, "layers_per_grade": 1}


def sum_of_sines(x: np.ndarray, frequencies: tuple[float, ...]) -> np.ndarray:
    return sum(np.sin(2 * np.pi * k * x) for k in frequencies)


def relative_squared_error(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.sum((prediction - target) ** 2) / np.sum(target**2))


def trainable_parameters(in_features: int, width: int, layers: int) -> int:
    """Parameters of `layers` x (Linear, ReLU) of `width` on `in_features` inputs and a 1-output head."""
    return (in_features + 1) * width + (layers - 1) * (width + 1) * width + width + 1


def matched_standard_epochs(config: MGDLConfig, in_features: int = 1) -> int:
    """Epochs for the standard network so that its epochs x parameters equal MGDL's over all its grades."""
    first = trainable_parameters(in_features, config.width, config.layers_per_grade)
    later = trainable_parameters(config.width, config.width, config.layers_per_grade)
    mgdl = config.epochs_per_grade * (first + (config.max_grades - 1) * later)
    standard = trainable_parameters(in_features, config.width, config.max_grades * config.layers_per_grade)
    return max(1, round(mgdl / standard))


def run(frequencies: tuple[float, ...] = TWO_DECADES, n_train: int = 2000, epochs_per_grade: int = 67,
        width: int = 128, grades: int = 24, layers_per_grade: int = 1, seed: int = 0, show_progress: bool = False,
        learning_rate: float = 1e-2, standard_learning_rate: float | None = None) -> dict:
    """Both models on one seed's data (full-batch Adam), each with its own learning rate."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    x_train, x_val = rng.uniform(0, 1, (n_train, 1)), rng.uniform(0, 1, (n_train // 4, 1))
    x_test = np.linspace(0, 1, 2001).reshape(-1, 1)
    y_train, y_val, y_test = (sum_of_sines(x, frequencies) for x in (x_train, x_val, x_test))
    config = MGDLConfig(max_grades=grades, layers_per_grade=layers_per_grade, width=width,
                        epochs_per_grade=epochs_per_grade, batch_size=n_train, learning_rate=learning_rate,
                        weight_decay=0.0, patience=epochs_per_grade, min_improvement=0.0, seed=seed,
                        show_progress=show_progress)
    started = time.perf_counter()
    mgdl = MGDLRegressor(config).fit(x_train, y_train, x_val, y_val)
    mgdl_seconds = time.perf_counter() - started
    heads = mgdl.predict_grades(x_test)
    per_grade = [relative_squared_error(np.sum(heads[:k], axis=0), y_test) for k in range(1, len(heads) + 1)]
    standard_epochs = matched_standard_epochs(config)
    # StandardRegressor trains max_grades x epochs_per_grade epochs: one "grade" of all the budget
    standard_config = replace(config, learning_rate=standard_learning_rate or learning_rate,
                              max_grades=1, layers_per_grade=grades * layers_per_grade,
                              epochs_per_grade=standard_epochs, patience=standard_epochs)
    started = time.perf_counter()
    standard = StandardRegressor(standard_config).fit(x_train, y_train, x_val, y_val)
    standard_seconds = time.perf_counter() - started
    return {"frequencies": list(frequencies), "config": asdict(config), "n_train": n_train,
            "standard_epochs": standard_epochs, "standard_hidden_layers": len(standard.network.grades[0].body) // 2,
            "standard_learning_rate": standard_config.learning_rate,
            "mgdl_test_rse_per_grade": per_grade, "mgdl_grades_kept": len(heads),
            "mgdl_val_rse": relative_squared_error(mgdl.predict(x_val), y_val),
            "standard_val_rse": relative_squared_error(standard.predict(x_val), y_val),
            "standard_test_rse": relative_squared_error(standard.predict(x_test), y_test),
            "mgdl_seconds": mgdl_seconds, "standard_seconds": standard_seconds}


def tuned_comparison(frequencies: tuple[float, ...] = TWO_DECADES, learning_rates: tuple[float, ...] = LEARNING_RATES,
                     seeds: tuple[int, ...] = SEEDS, show_progress: bool = False, **sizes) -> dict:
    """The spectral-bias claim on its own ground: each side's learning rate chosen by its median validation
    error over `seeds`, then the median over seeds of the test errors at those rates and their ratio."""
    runs = {(lr, seed): run(frequencies, seed=seed, learning_rate=lr, show_progress=show_progress, **sizes)
            for lr in learning_rates for seed in seeds}

    def best(side: str) -> float:
        return min(learning_rates, key=lambda lr: np.median([runs[lr, s][f"{side}_val_rse"] for s in seeds]))

    mgdl_lr, standard_lr = best("mgdl"), best("standard")
    mgdl_test = [runs[mgdl_lr, s]["mgdl_test_rse_per_grade"][-1] for s in seeds]
    standard_test = [runs[standard_lr, s]["standard_test_rse"] for s in seeds]
    per_grade = np.median([runs[mgdl_lr, s]["mgdl_test_rse_per_grade"] for s in seeds], axis=0)
    return {"frequencies": list(frequencies), "sizes": sizes, "seeds": list(seeds),
            "learning_rates": list(learning_rates), "standard_epochs": runs[mgdl_lr, seeds[0]]["standard_epochs"],
            "mgdl_learning_rate": mgdl_lr, "standard_learning_rate": standard_lr,
            "mgdl_test_rse": mgdl_test, "standard_test_rse": standard_test,
            "mgdl_median_test_rse_per_grade": per_grade.tolist(),
            "mgdl_seconds": float(np.median([r["mgdl_seconds"] for r in runs.values()])),
            "standard_seconds": float(np.median([r["standard_seconds"] for r in runs.values()])),
            "median_ratio": float(np.median(standard_test) / max(np.median(mgdl_test), 1e-12))}


def table(result: dict) -> str:
    lines = ["| model | median test relative squared error (seeds) | lr |", "| --- | --- | --- |"]
    for k, rse in enumerate(result["mgdl_median_test_rse_per_grade"], start=1):
        lines.append(f"| MGDL, grades 1..{k} | {rse:.4f} | |")
    seeds = " / ".join(f"{v:.4f}" for v in result["mgdl_test_rse"])
    lines.append(f"| **MGDL** | **{np.median(result['mgdl_test_rse']):.4f}** ({seeds}) | "
                 f"{result['mgdl_learning_rate']:g} |")
    seeds = " / ".join(f"{v:.4f}" for v in result["standard_test_rse"])
    lines.append(f"| standard network ({result['standard_epochs']} epochs) | "
                 f"{np.median(result['standard_test_rse']):.4f} ({seeds}) | {result['standard_learning_rate']:g} |")
    return "\n".join(lines) + f"\n\nstandard / MGDL (medians): {result['median_ratio']:.2f}x"


def regression_ratios() -> dict[str, dict]:
    """A short run of the two-decade configuration (one seed, the learning rate the full run tunes to)."""
    result = run(seed=0, learning_rate=1e-2, **QUICK_SIZES)
    ratio = result["standard_test_rse"] / max(result["mgdl_test_rse_per_grade"][-1], 1e-12)
    return {"mgdl_sines_two_decades_error_ratio_vs_standard": {"value": ratio, "higher_is_better": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SIZES["epochs_per_grade"], help="epochs per grade")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    result = tuned_comparison(show_progress=args.progress, **{**SIZES, "epochs_per_grade": args.epochs})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nJSON: {RESULTS}")


if __name__ == "__main__":
    main()
