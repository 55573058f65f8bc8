"""MGDL against the standard network on the papers' synthetic task: a 1-D sum of sines over two decades.

    f(x) = sum_j sin(2 pi kappa_j x),  x in [0, 1],  kappa = 1, 3, 10, 30, 100

(the spirit of Fang & Xu 2024, section 3.1: equal amplitudes, rising frequencies). The full run's configuration
is `MGDLConfig()`'s defaults (the winner, so that `MGDLRegressor()` carries it). MGDL has `grades` shallow
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

from training.mgdl import MGDLConfig, MGDLRegressor, StandardRegressor, matched_standard_epochs

RESULTS = Path(__file__).parent / "results" / "mgdl_sines.json"
TWO_DECADES = (1.0, 3.0, 10.0, 30.0, 100.0)
MGDL_LEARNING_RATES = (3e-3, 1e-2)
STANDARD_LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SEEDS = (0, 1, 2)
DEFAULTS = MGDLConfig()
SIZES = {"n_train": 2000, "epochs_per_grade": DEFAULTS.epochs_per_grade, "width": DEFAULTS.width,
         "grades": DEFAULTS.max_grades, "layers_per_grade": DEFAULTS.layers_per_grade,
         "warmup_epochs": DEFAULTS.warmup_epochs}
QUICK_SIZES = {"n_train": 1000, "epochs_per_grade": 60, "width": 64, "grades": 24, "layers_per_grade": 1}


def sum_of_sines(x: np.ndarray, frequencies: tuple[float, ...]) -> np.ndarray:
    return sum(np.sin(2 * np.pi * k * x) for k in frequencies)


def relative_squared_error(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.sum((prediction - target) ** 2) / np.sum(target**2))


def _data(frequencies: tuple[float, ...], n_train: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = {"train": rng.uniform(0, 1, (n_train, 1)), "val": rng.uniform(0, 1, (n_train // 4, 1)),
         "test": np.linspace(0, 1, 2001).reshape(-1, 1)}
    return {**{f"x_{k}": v for k, v in x.items()}, **{f"y_{k}": sum_of_sines(v, frequencies) for k, v in x.items()}}


def _config(n_train: int, epochs_per_grade: int, width: int, grades: int, layers_per_grade: int, seed: int,
            learning_rate: float, show_progress: bool, warmup_epochs: int = 0) -> MGDLConfig:
    """Full batch, no early stopping, every improving grade kept (the defaults'); `warmup_epochs` 0 in the quick
    gate, whose baseline ratio was recorded without one."""
    return replace(DEFAULTS, max_grades=grades, layers_per_grade=layers_per_grade, width=width,
                   epochs_per_grade=epochs_per_grade, batch_size=n_train, learning_rate=learning_rate,
                   patience=epochs_per_grade, seed=seed, show_progress=show_progress, warmup_epochs=warmup_epochs)


def run_mgdl(frequencies: tuple[float, ...] = TWO_DECADES, seed: int = 0, learning_rate: float = 1e-2,
             show_progress: bool = False, n_train: int = 2000, **sizes) -> dict:
    """MGDL on one seed's data (full-batch Adam): validation error and test error after each grade."""
    torch.set_num_threads(1)
    data = _data(frequencies, n_train, seed)
    config = _config(n_train, seed=seed, learning_rate=learning_rate, show_progress=show_progress, **sizes)
    started = time.perf_counter()
    mgdl = MGDLRegressor(config).fit(data["x_train"], data["y_train"], data["x_val"], data["y_val"])
    seconds = time.perf_counter() - started
    heads = mgdl.predict_grades(data["x_test"])
    per_grade = [relative_squared_error(np.sum(heads[:k], axis=0), data["y_test"]) for k in range(1, len(heads) + 1)]
    return {"config": asdict(config), "test_rse_per_grade": per_grade, "grades_kept": len(heads),
            "val_rse": relative_squared_error(mgdl.predict(data["x_val"]), data["y_val"]), "seconds": seconds}


def run_standard(frequencies: tuple[float, ...] = TWO_DECADES, seed: int = 0, learning_rate: float = 1e-2,
                 show_progress: bool = False, n_train: int = 2000, **sizes) -> dict:
    """The same-depth network (He init) on one seed's data, for MGDL's budget in epochs x parameters."""
    torch.set_num_threads(1)
    data = _data(frequencies, n_train, seed)
    mgdl_config = _config(n_train, seed=seed, learning_rate=learning_rate, show_progress=show_progress, **sizes)
    epochs = matched_standard_epochs(mgdl_config)
    # StandardRegressor trains max_grades x epochs_per_grade epochs: one "grade" holding the whole budget
    config = replace(mgdl_config, max_grades=1, layers_per_grade=mgdl_config.max_grades * mgdl_config.layers_per_grade,
                     epochs_per_grade=epochs, patience=epochs)
    started = time.perf_counter()
    standard = StandardRegressor(config, he_init=True).fit(data["x_train"], data["y_train"], data["x_val"],
                                                          data["y_val"])
    seconds = time.perf_counter() - started
    return {"epochs": epochs, "hidden_layers": len(standard.network.grades[0].body) // 2,
            "val_rse": relative_squared_error(standard.predict(data["x_val"]), data["y_val"]),
            "test_rse": relative_squared_error(standard.predict(data["x_test"]), data["y_test"]), "seconds": seconds}


def run(frequencies: tuple[float, ...] = TWO_DECADES, seed: int = 0, learning_rate: float = 1e-2,
        standard_learning_rate: float | None = None, **sizes) -> dict:
    """Both models on one seed's data, each with its own learning rate (the standard one defaults to MGDL's)."""
    sizes = {**SIZES, **sizes}
    mgdl = run_mgdl(frequencies, seed, learning_rate, **sizes)
    standard = run_standard(frequencies, seed, standard_learning_rate or learning_rate, **sizes)
    return {"frequencies": list(frequencies), "sizes": sizes, "mgdl": mgdl, "standard": standard,
            "ratio": standard["test_rse"] / max(mgdl["test_rse_per_grade"][-1], 1e-12)}


def tuned_comparison(frequencies: tuple[float, ...] = TWO_DECADES, seeds: tuple[int, ...] = SEEDS,
                     mgdl_learning_rates: tuple[float, ...] = MGDL_LEARNING_RATES,
                     standard_learning_rates: tuple[float, ...] = STANDARD_LEARNING_RATES,
                     show_progress: bool = False, **sizes) -> dict:
    """The spectral-bias claim on its own ground: each side's learning rate chosen from its grid by its median
    validation error over `seeds`, then the median over seeds of the test errors at those rates and their ratio."""
    sizes = {**SIZES, **sizes}
    mgdl = {(lr, s): run_mgdl(frequencies, s, lr, show_progress, **sizes) for lr in mgdl_learning_rates for s in seeds}
    standard = {(lr, s): run_standard(frequencies, s, lr, show_progress, **sizes)
                for lr in standard_learning_rates for s in seeds}

    def best(runs: dict, rates: tuple[float, ...]) -> float:
        return min(rates, key=lambda lr: np.median([runs[lr, s]["val_rse"] for s in seeds]))

    mgdl_lr, standard_lr = best(mgdl, mgdl_learning_rates), best(standard, standard_learning_rates)
    mgdl_test = [mgdl[mgdl_lr, s]["test_rse_per_grade"][-1] for s in seeds]
    standard_test = [standard[standard_lr, s]["test_rse"] for s in seeds]
    grades = min(len(mgdl[mgdl_lr, s]["test_rse_per_grade"]) for s in seeds)
    per_grade = np.median([mgdl[mgdl_lr, s]["test_rse_per_grade"][:grades] for s in seeds], axis=0)
    return {"frequencies": list(frequencies), "sizes": sizes, "seeds": list(seeds),
            "mgdl_learning_rates": list(mgdl_learning_rates), "standard_learning_rates": list(standard_learning_rates),
            "standard_epochs": standard[standard_lr, seeds[0]]["epochs"],
            "standard_hidden_layers": standard[standard_lr, seeds[0]]["hidden_layers"],
            "mgdl_learning_rate": mgdl_lr, "standard_learning_rate": standard_lr,
            "mgdl_test_rse": mgdl_test, "standard_test_rse": standard_test,
            "standard_val_rse_by_learning_rate": {lr: float(np.median([standard[lr, s]["val_rse"] for s in seeds]))
                                                  for lr in standard_learning_rates},
            "mgdl_val_rse_by_learning_rate": {lr: float(np.median([mgdl[lr, s]["val_rse"] for s in seeds]))
                                              for lr in mgdl_learning_rates},
            "mgdl_median_test_rse_per_grade": per_grade.tolist(),
            "mgdl_seconds": float(np.median([r["seconds"] for r in mgdl.values()])),
            "standard_seconds": float(np.median([r["seconds"] for r in standard.values()])),
            "median_ratio": float(np.median(standard_test) / max(np.median(mgdl_test), 1e-12))}


def table(result: dict) -> str:
    lines = ["| model | median test relative squared error (seeds) | lr |", "| --- | --- | --- |"]
    for k, rse in enumerate(result["mgdl_median_test_rse_per_grade"], start=1):
        lines.append(f"| MGDL, grades 1..{k} | {rse:.4f} | |")
    seeds = " / ".join(f"{v:.4f}" for v in result["mgdl_test_rse"])
    lines.append(f"| **MGDL** | **{np.median(result['mgdl_test_rse']):.4f}** ({seeds}) | "
                 f"{result['mgdl_learning_rate']:g} |")
    seeds = " / ".join(f"{v:.4f}" for v in result["standard_test_rse"])
    lines.append(f"| standard network ({result['standard_hidden_layers']} layers, {result['standard_epochs']} epochs) | "
                 f"{np.median(result['standard_test_rse']):.4f} ({seeds}) | {result['standard_learning_rate']:g} |")
    return "\n".join(lines) + f"\n\nstandard / MGDL (medians): {result['median_ratio']:.2f}x"


def regression_ratios() -> dict[str, dict]:
    """A short run of the two-decade configuration: one seed, each side at the learning rate the full run tunes to."""
    result = run(seed=0, learning_rate=1e-2, standard_learning_rate=3e-3, **QUICK_SIZES)
    return {"mgdl_sines_two_decades_error_ratio_vs_standard": {"value": result["ratio"], "higher_is_better": True}}


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
