"""`make bench-check`: quick benchmark ratios against the committed baseline, and the aims they serve.

Each benchmark module's `regression_ratios()` returns ratios measured against a reference in the
same run (kernel time / TA-Lib time, ORT time / PyTorch time, batched / unbatched throughput), so a
slower or busier machine moves both sides alike. A ratio more than `--tolerance` (default 25%)
worse than the baseline fails the check. A ratio that is not a number (NaN, infinite) fails always,
and a benchmark whose requests failed raises, which fails its ratios as not measured. A ratio of the
baseline that the run did not measure fails the check too (a benchmark that silently drops its
PostgreSQL ratios when the server is down must not pass). `--update` records what the run measured:
a ratio of a module it ran that it did not measure leaves the baseline, and it says so.

AIMS holds the aim of every ratio that README's Benchmarks table gives one (batching gain >= 3x,
mixed load >= 1.2x the in-process peer, ...); each verdict shows it beside the value.

A busy spell of the machine can still push one run's ratio past the tolerance, so a module with a
failing ratio is measured again (`--confirm`, default twice) and the ratio fails only when every run
of it fails: a real regression reproduces, a noisy run does not.

Baselines are kept per kind of machine (benchmarks/machine.py: CPU model, vector instruction set,
core count), because the same code's ratio differs between CPUs. A machine with a baseline of its own
is judged against it (a ratio new to it, against its aim). A machine without one is judged against the
aims, with the same tolerance as noise allowance (a 3x aim passes from 2.25x): another machine's
figures say nothing about this one, and an aim is what the project promises anywhere. A ratio without
an aim is then recorded, not gated; the check says so. Record that machine's own baseline to gate
every ratio.

Record or refresh this machine's baseline after an intended change, on a quiet machine, as the
median of a few runs: `python -m benchmarks.regression --update --repeat 3`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.machine import machine_signature

BENCHMARK_MODULES = (
    "benchmarks.feature_kernels_bench",
    "benchmarks.market_data_bench",
    "benchmarks.mgdl_sines_bench",
    "benchmarks.export_bench",
    "benchmarks.serving_bench",
    "benchmarks.gateway_bench",
)
BASELINE_PATH = Path(__file__).with_name("baseline.json")
RESULTS_PATH = Path(__file__).with_name("results") / "regression.json"


@dataclass(frozen=True)
class Aim:
    value: float
    higher_is_better: bool
    source: str  # the row of README's Benchmarks table that states it


INDICATORS = ("sma_20", "ema_20", "rsi_14", "macd_12_26_9", "bollinger_20_2", "atr_14", "obv", "volatility_20")
AIMS: dict[str, Aim] = {
    **{f"feature_kernels_bench.{name}_time_vs_talib": Aim(1.0, False, "indicators vs TA-Lib: match or beat")
       for name in INDICATORS},
    "feature_kernels_bench.feature_vector_time_vs_talib_numpy": Aim(
        1 / 5, False, "feature vector >= 5x TA-Lib + numpy.fft (time ratio <= 0.2)"),
    "export_bench.ort_speedup_batch1": Aim(2.0, True, "ONNX Runtime >= 2x PyTorch eager at batch 1"),
    "serving_bench.batching_throughput_gain_c64": Aim(3.0, True, "dynamic batching on vs off >= 3x"),
    "serving_bench.triton_c64_1_window_share_of_in_process": Aim(
        0.10, True, "Triton direct, 1 window per request >= 10% of the in-process windows/s"),
    "serving_bench.triton_c64_64_windows_share_of_in_process": Aim(
        0.50, True, "Triton direct, 64 windows per request >= 50% of the in-process windows/s"),
    "gateway_bench.analyze_one_vs_echo": Aim(0.6, True, "gateway /analyze, one symbol >= 0.6x the bare FastAPI echo"),
    "gateway_bench.analyze_mixed_vs_peer": Aim(1.2, True, "gateway, mixed load >= 1.2x the in-process peer"),
}


@dataclass
class Verdict:
    name: str
    value: float
    baseline: float | None  # the reference judged against: this machine's baseline, else the aim
    higher_is_better: bool
    change: float | None  # relative change in the "worse" direction; > tolerance fails
    passed: bool
    judged_by: str = "baseline"  # baseline | aim | nothing (recorded, not gated) | not a number
    aim: float | None = None


def judge(name: str, measured: dict, baseline: dict | None, tolerance: float, aim: Aim | None = None) -> Verdict:
    """`measured` against `baseline`, else against `aim`, else recorded as new; a value that is not a
    finite number fails whatever it is judged against."""
    value, higher = float(measured["value"]), bool(measured["higher_is_better"])
    aim_value = aim.value if aim is not None else None
    if not math.isfinite(value):
        return Verdict(name, value, None, higher, None, False, "not a number", aim_value)
    reference, judged_by = (baseline, "baseline") if baseline is not None else (
        ({"value": aim.value}, "aim") if aim is not None else (None, "nothing"))
    if reference is None:
        return Verdict(name, value, None, higher, None, True, judged_by, aim_value)
    reference_value = float(reference["value"])
    worse = (reference_value - value) / reference_value if higher else (value - reference_value) / reference_value
    return Verdict(name, value, reference_value, higher, worse, worse <= tolerance, judged_by, aim_value)


class Baselines:
    """The committed baselines, one set of ratios per machine kind, the aims, and the judging rule above."""

    def __init__(self, document: dict, machine_id: str, aims: dict[str, Aim] = AIMS):
        self.document = document
        self.machine_id = machine_id
        self.machines: dict[str, dict] = document.get("machines", {})
        self.aims = aims

    @classmethod
    def load(cls, path: Path, machine_id: str) -> Baselines:
        return cls(json.loads(path.read_text()) if path.exists() else {}, machine_id)

    @property
    def own(self) -> bool:
        return self.machine_id in self.machines

    def expected(self, modules: tuple[str, ...]) -> set[str]:
        """The ratios of `modules` that a run must measure: this machine's, or (without a baseline of its
        own) any known machine's, and every ratio with an aim."""
        machines = [self.machines[self.machine_id]] if self.own else list(self.machines.values())
        names = {name for machine in machines for name in machine.get("ratios", {})} | set(self.aims)
        return {name for name in names if module_of(name) in modules}

    def unmeasured(self, measured: dict[str, dict], modules: tuple[str, ...]) -> list[str]:
        return sorted(self.expected(modules) - set(measured))

    def baseline(self, name: str) -> dict | None:
        """This machine's recorded value of `name`; None without one (another machine's says nothing here)."""
        return self.machines.get(self.machine_id, {}).get("ratios", {}).get(name)

    def judge(self, name: str, measured: dict, tolerance: float) -> Verdict:
        return judge(name, measured, self.baseline(name), tolerance, self.aims.get(name))

    def record(self, signature: dict, measured: dict[str, dict], recorded: str, modules: tuple[str, ...]) -> dict:
        """This machine's baseline: what this run measured, plus the recorded ratios of modules it did not run.
        A ratio of a module it ran that it did not measure is dropped (retired or renamed)."""
        entry = self.machines.get(signature["id"], {})
        kept = {name: value for name, value in entry.get("ratios", {}).items() if module_of(name) not in modules}
        ratios = {**kept, **measured}
        machine = {key: value for key, value in signature.items() if key != "id"}
        machines = {**self.machines, signature["id"]: {**machine, "recorded": recorded, "ratios": ratios}}
        return {**self.document, "machines": machines}


def measure_module(module_name: str) -> dict[str, dict]:
    """One module's ratios, measured in a fresh interpreter so that no module's threads, caches or
    allocations colour the next one's figures. A module that fails (failed requests, a crash) measured
    nothing: its ratios count as not measured."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        child = subprocess.run([sys.executable, "-m", "benchmarks.regression", "--child", module_name, out.name])
        if child.returncode != 0:
            print(f"[bench-check] {module_name} FAILED (exit code {child.returncode}, its error above): "
                  "its ratios count as not measured", flush=True)
            return {}
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
    names = dict.fromkeys(name for run in runs for name in run)
    return {name: {**next(run[name] for run in runs if name in run),
                   "value": statistics.median(run[name]["value"] for run in runs if name in run)}
            for name in names}


def best_ratios(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """Per ratio, its most favourable value over the runs: a regression must show in each of them."""
    best = {}
    for name in runs[0]:
        pick = max if runs[0][name]["higher_is_better"] else min
        values = [run[name]["value"] for run in runs if name in run]
        finite = [value for value in values if math.isfinite(value)]
        best[name] = {**runs[0][name], "value": pick(finite) if finite else values[0]}
    return best


def module_of(ratio_name: str) -> str:
    return f"benchmarks.{ratio_name.split('.', 1)[0]}"


def confirm_failures(measured: dict[str, dict], baselines: Baselines, tolerance: float, confirm: int,
                     remeasure: Callable[[tuple[str, ...]], dict[str, dict]] = measure) -> dict[str, dict]:
    """Re-measure the modules whose ratios failed, up to `confirm` more times, and keep for each ratio
    its best value over the runs; stops early once nothing fails."""
    for attempt in range(1, confirm + 1):
        failing = [name for name, value in measured.items() if not baselines.judge(name, value, tolerance).passed]
        if not failing:
            break
        modules = tuple(dict.fromkeys(module_of(name) for name in failing))
        print(f"[bench-check] confirming {', '.join(failing)} (run {attempt + 1} of up to {confirm + 1})", flush=True)
        measured = {**measured, **best_ratios([measured, remeasure(modules)])}
    return measured


def print_table(verdicts: list[Verdict], tolerance: float) -> None:
    width = max(len(v.name) for v in verdicts)
    print(f"\n{'ratio':<{width}} {'value':>10} {'judged by':>10} {'reference':>10} {'aim':>8} {'worse by':>9}  verdict")
    for v in verdicts:
        reference = f"{v.baseline:10.3f}" if v.baseline is not None else f"{'-':>10}"
        aim = f"{v.aim:8.3g}" if v.aim is not None else f"{'-':>8}"
        change = f"{v.change:+8.1%}" if v.change is not None else f"{'-':>8}"
        if v.judged_by == "not a number":
            verdict = "FAILED (not a number)"
        elif not v.passed:
            verdict = f"{'BELOW ITS AIM' if v.judged_by == 'aim' else 'REGRESSION'} (> {tolerance:.0%})"
        else:
            verdict = "ok" if v.judged_by != "nothing" else "recorded (no aim, no baseline here)"
        print(f"{v.name:<{width}} {v.value:10.3f} {v.judged_by:>10} {reference} {aim} {change}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write the measured ratios as the new baseline")
    parser.add_argument("--tolerance", type=float, default=0.25)
    parser.add_argument("--only", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs to take the median of")
    parser.add_argument("--confirm", type=int, default=2,
                        help="extra runs of a module with a failing ratio before the failure counts")
    parser.add_argument("--child", nargs=2, metavar=("MODULE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        module_name, out = args.child
        Path(out).write_text(json.dumps(importlib.import_module(module_name).regression_ratios()))
        return 0

    signature = machine_signature()
    baselines = Baselines.load(BASELINE_PATH, signature["id"])
    print(f"[bench-check] machine {signature['id']}: {signature['cpu']}, {signature['cpus']} cpus, "
          f"{' '.join(signature['isa'])}", flush=True)
    tolerance = args.tolerance
    modules = tuple(args.only) if args.only else BENCHMARK_MODULES
    measured = median_ratios([measure(modules) for _ in range(args.repeat)])
    failed_modules = [module for module in modules if not any(module_of(name) == module for name in measured)]
    if args.update and failed_modules:
        print(f"bench-check: {', '.join(failed_modules)} measured nothing; no baseline written", file=sys.stderr)
        return 1
    if not args.update:
        measured = confirm_failures(measured, baselines, tolerance, args.confirm)
    verdicts = [baselines.judge(name, value, tolerance) for name, value in measured.items()]
    unmeasured = baselines.unmeasured(measured, modules)
    print_table(verdicts, tolerance)
    for name in unmeasured:
        print(f"{name}: in the baseline or with an aim, but NOT MEASURED by this run")
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps({"machine": signature, "own_baseline": baselines.own,
                                        "verdicts": [asdict(v) for v in verdicts], "unmeasured": unmeasured},
                                       indent=2))

    if args.update:
        document = baselines.record(signature, measured, time.strftime("%Y-%m-%d"), modules)
        BASELINE_PATH.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        print(f"\nbaseline of machine {signature['id']} written: {BASELINE_PATH}")
        if unmeasured:
            print(f"note: dropped from this machine's baseline, as this run did not measure them: "
                  f"{', '.join(unmeasured)}", file=sys.stderr)
        return 0
    return gate(verdicts, unmeasured, baselines, tolerance)


def gate(verdicts: list[Verdict], unmeasured: list[str], baselines: Baselines, tolerance: float) -> int:
    """The exit status: 1 when a ratio regressed or a ratio of the baseline was not measured."""
    if not baselines.own:
        recorded = sorted(v.name for v in verdicts if v.judged_by == "nothing")
        print(f"\nnote: no baseline for this machine ({baselines.machine_id}); judged against the aims of README's "
              f"Benchmarks table (benchmarks/regression.py AIMS), with {tolerance:.0%} allowed for noise; "
              f"{len(recorded)} ratios without an aim are recorded, not gated"
              f"{': ' + ', '.join(recorded) if recorded else ''}. Record this machine's baseline on a quiet "
              "machine to gate every ratio: python -m benchmarks.regression --update --repeat 3", file=sys.stderr)
    failed = [v.name for v in verdicts if not v.passed] + [f"{name} (not measured)" for name in unmeasured]
    if failed:
        print(f"\nbench-check FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    reference = "the baseline" if baselines.own else "their aims"
    print(f"\nbench-check passed: {len(verdicts)} ratios within {tolerance:.0%} of {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
