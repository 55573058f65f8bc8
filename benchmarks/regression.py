"""`make bench-check`: quick benchmark ratios against the committed baseline.

Each benchmark module's `regression_ratios()` returns ratios measured against a reference in the
same run (kernel time / TA-Lib time, ORT time / PyTorch time, batched / unbatched throughput), so a
slower or busier machine moves both sides alike. A ratio more than `--tolerance` (default 25%)
worse than the baseline fails the check; a ratio without a baseline is reported as new.

Refresh the baseline after an intended change, on a quiet machine, as the median of a few runs:
`python -m benchmarks.regression --update --repeat 3`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCHMARK_MODULES = (
    "benchmarks.feature_kernels_bench",
    "benchmarks.market_data_bench",
    "benchmarks.mgdl_sines_bench",
    "benchmarks.export_bench",
    "benchmarks.serving_bench",
)
BASELINE_PATH = Path(__file__).with_name("baseline.json")
RESULTS_PATH = Path(__file__).with_name("results") / "regression.json"


@dataclass
class Verdict:
    name: str
    value: float
    baseline: float | None
    higher_is_better: bool
    change: float | None  # relative change in the "worse" direction; > tolerance fails
    passed: bool


def judge(name: str, measured: dict, baseline: dict | None, tolerance: float) -> Verdict:
    value, higher = float(measured["value"]), bool(measured["higher_is_better"])
    if baseline is None:
        return Verdict(name, value, None, higher, None, True)
    reference = float(baseline["value"])
    worse = (reference - value) / reference if higher else (value - reference) / reference
    return Verdict(name, value, reference, higher, worse, worse <= tolerance)


def measure_module(module_name: str) -> dict[str, dict]:
    """One module's ratios, measured in a fresh interpreter so that no module's threads, caches or
    allocations colour the next one's figures."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, "-m", "benchmarks.regression", "--child", module_name, out.name],
                       check=True)
        return json.loads(Path(out.name).read_text())


def measure(modules: tuple[str, ...]) -> dict[str, dict]:
    ratios: dict[str, dict] = {}
    for module_name in modules:
        started = time.perf_counter()
        print(f"[bench-check] {module_name} ...", flush=True)
        for name, measured in measure_module(module_name).items():
            ratios[f"{module_name.rsplit('.', 1)[-1]}.{name}"] = measured
        print(f"[bench-check] {module_name} done in {time.perf_counter() - started:.1f} s", flush=True)
    return ratios


def median_ratios(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """Per ratio, the median value over repeated runs (a baseline should not be one lucky draw)."""
    return {name: {**runs[0][name], "value": statistics.median(run[name]["value"] for run in runs)}
            for name in runs[0]}


def print_table(verdicts: list[Verdict], tolerance: float) -> None:
    print(f"\n{'ratio':<52} {'value':>10} {'baseline':>10} {'worse by':>9}  verdict")
    for v in verdicts:
        baseline = f"{v.baseline:10.3f}" if v.baseline is not None else f"{'-':>10}"
        change = f"{v.change:+8.1%}" if v.change is not None else f"{'new':>8}"
        verdict = "ok" if v.passed else f"REGRESSION (> {tolerance:.0%})"
        print(f"{v.name:<52} {v.value:10.3f} {baseline} {change}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write the measured ratios as the new baseline")
    parser.add_argument("--tolerance", type=float, default=0.25)
    parser.add_argument("--only", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs to take the median of")
    parser.add_argument("--child", nargs=2, metavar=("MODULE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        module_name, out = args.child
        Path(out).write_text(json.dumps(importlib.import_module(module_name).regression_ratios()))
        return 0

    modules = tuple(args.only) if args.only else BENCHMARK_MODULES
    measured = median_ratios([measure(modules) for _ in range(args.repeat)])
    baseline = json.loads(BASELINE_PATH.read_text()) if BASELINE_PATH.exists() else {}
    verdicts = [judge(name, value, baseline.get(name), args.tolerance) for name, value in measured.items()]
    print_table(verdicts, args.tolerance)
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps([asdict(v) for v in verdicts], indent=2))

    if args.update:
        BASELINE_PATH.write_text(json.dumps({**baseline, **measured}, indent=2, sort_keys=True) + "\n")
        print(f"\nbaseline written: {BASELINE_PATH}")
        return 0
    failed = [v.name for v in verdicts if not v.passed]
    if failed:
        print(f"\nbench-check FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nbench-check passed: {len(verdicts)} ratios within {args.tolerance:.0%} of the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
