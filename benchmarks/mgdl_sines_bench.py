"""MGDL against the standard network on the papers' synthetic task: a 1-D sum of sines of rising frequency.

    f(x) = sum_{j=1..K} sin(2 pi kappa_j x),  x in [0, 1],  kappa_j = 5 j

(the spirit of Fang & Xu 2024, section 3.1, setting 1: equal amplitudes, rising frequencies). Both models have
the same total depth (grades x layers_per_grade hidden ReLU layers of the same width) and the same epoch
budget. Reported: the test relative squared error ||f - f_hat||^2 / ||f||^2 after each MGDL grade, and of
the standard network.

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


def sum_of_sines(x: np.ndarray, frequencies: tuple[int, ...]) -> np.ndarray:
    return sum(np.sin(2 * np.pi * k * x) for k in frequencies)


def relative_squared_error(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.sum((prediction - target) ** 2) / np.sum(target**2))


def run(frequencies: tuple[int, ...] = (5, 10, 15, 20), n_train: int = 4000, epochs_per_grade: int = 80,
        width: int = 128, grades: int = 4, seed: int = 0, show_progress: bool = False,
        learning_rate: float = 3e-3, standard_learning_rate: float | None = None) -> dict:
    """Both models on one seed's data; each with its own learning rate (the standard one defaults to MGDL's)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    x_train, x_val = rng.uniform(0, 1, (n_train, 1)), rng.uniform(0, 1, (n_train // 4, 1))
    x_test = np.linspace(0, 1, 2001).reshape(-1, 1)
    y_train, y_val, y_test = (sum_of_sines(x, frequencies) for x in (x_train, x_val, x_test))
    config = MGDLConfig(max_grades=grades, layers_per_grade=2, width=width, epochs_per_grade=epochs_per_grade,
                        batch_size=128, learning_rate=learning_rate, weight_decay=0.0, patience=epochs_per_grade,
                        min_improvement=0.0, seed=seed, show_progress=show_progress)
    started = time.perf_counter()
    mgdl = MGDLRegressor(config).fit(x_train, y_train, x_val, y_val)
    mgdl_seconds = time.perf_counter() - started
    heads = mgdl.predict_grades(x_test)
    per_grade = [relative_squared_error(np.sum(heads[:k], axis=0), y_test) for k in range(1, len(heads) + 1)]
    standard_config = replace(config, learning_rate=standard_learning_rate or learning_rate)
    started = time.perf_counter()
    standard = StandardRegressor(standard_config).fit(x_train, y_train, x_val, y_val)
    standard_seconds = time.perf_counter() - started
    return {"frequencies": list(frequencies), "config": asdict(config), "n_train": n_train,
            "standard_learning_rate": standard_config.learning_rate,
            "mgdl_test_rse_per_grade": per_grade, "mgdl_grades_kept": len(heads),
            "mgdl_val_rse": relative_squared_error(mgdl.predict(x_val), y_val),
            "standard_val_rse": relative_squared_error(standard.predict(x_val), y_val),
            "standard_test_rse": relative_squared_error(standard.predict(x_test), y_test),
            "mgdl_seconds": mgdl_seconds, "standard_seconds": standard_seconds}


def table(result: dict) -> str:
    lines = ["| model | test relative squared error | train seconds |", "| --- | --- | --- |"]
    for k, rse in enumerate(result["mgdl_test_rse_per_grade"], start=1):
        seconds = f"{result['mgdl_seconds']:.1f}" if k == len(result["mgdl_test_rse_per_grade"]) else ""
        lines.append(f"| MGDL, grades 1..{k} | {rse:.4f} | {seconds} |")
    lines.append(f"| standard network (same depth, width, epochs) | {result['standard_test_rse']:.4f} | "
                 f"{result['standard_seconds']:.1f} |")
    return "\n".join(lines)


TWO_DECADES = (1.0, 3.0, 10.0, 30.0, 100.0)
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SEEDS = (0, 1, 2)


def tuned_comparison(frequencies: tuple[float, ...] = TWO_DECADES, learning_rates: tuple[float, ...] = LEARNING_RATES,
                     seeds: tuple[int, ...] = SEEDS, **sizes) -> dict:
    """The spectral-bias claim on its own ground: each side's learning rate chosen by its median validation
    error over `seeds`, then the median over seeds of the test errors at those rates and their ratio."""
    runs = {(lr, seed): run(frequencies, seed=seed, learning_rate=lr, **sizes)
            for lr in learning_rates for seed in seeds}

    def best(side: str) -> float:
        return min(learning_rates, key=lambda lr: np.median([runs[lr, s][f"{side}_val_rse"] for s in seeds]))

    mgdl_lr, standard_lr = best("mgdl"), best("standard")
    mgdl_test = [runs[mgdl_lr, s]["mgdl_test_rse_per_grade"][-1] for s in seeds]
    standard_test = [runs[standard_lr, s]["standard_test_rse"] for s in seeds]
    return {"frequencies": list(frequencies), "sizes": sizes, "mgdl_learning_rate": mgdl_lr,
            "standard_learning_rate": standard_lr, "mgdl_test_rse": mgdl_test, "standard_test_rse": standard_test,
            "median_ratio": float(np.median(standard_test) / max(np.median(mgdl_test), 1e-12))}


def regression_ratios() -> dict[str, dict]:
    """A short run: how many times lower MGDL's test error is than the standard network's."""
    result = run(frequencies=(3, 6, 9), n_train=1500, epochs_per_grade=25, width=64, grades=3)
    ratio = result["standard_test_rse"] / max(result["mgdl_test_rse_per_grade"][-1], 1e-12)
    return {"mgdl_sines_error_ratio_vs_standard": {"value": ratio, "higher_is_better": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=80, help="epochs per grade")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--two-decades", action="store_true",
                        help=f"sines at {TWO_DECADES}, learning rates {LEARNING_RATES} tuned on validation per side, "
                             f"median of seeds {SEEDS} (18 runs: minutes per run on 2 cores)")
    args = parser.parse_args()
    if args.two_decades:
        result = tuned_comparison(n_train=4000, epochs_per_grade=args.epochs, width=64, grades=4)
        print(json.dumps(result, indent=2))
        return
    result = run(epochs_per_grade=args.epochs, show_progress=args.progress)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nJSON: {RESULTS}")


if __name__ == "__main__":
    main()
