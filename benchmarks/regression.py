"""`make bench-check`: quick benchmark ratios against the committed baseline.

Each benchmark module's `regression_ratios()` returns ratios measured against a reference in the
same run (kernel time / TA-Lib time, ORT time / PyTorch time, batched / unbatched throughput), so a
slower or busier machine moves both sides alike. A ratio more than `--tolerance` (default 25%)
worse than the baseline fails the check; a ratio without a baseline is reported as new. A ratio
of the baseline that the run did not measure fails the check too (a benchmark that silently drops
its PostgreSQL ratios when the server is down must not pass). `--update` records what the run
measured: a ratio of a module it ran that it did not measure leaves the baseline, and it says so.

A busy spell of the machine can still push one run's ratio past the tolerance, so a module with a
failing ratio is measured again (`--confirm`, default twice) and the ratio fails only when every run
of it fails: a real regression reproduces, a noisy run does not.

Baselines are kept per kind of machine (benchmarks/machine.py: CPU model, vector instruction set,
core count), because the same code's ratio differs between CPUs. A machine with a baseline of its own
is judged against it. A machine without one is judged against the envelope of the known machines (a
ratio passes when it is within tolerance of any of them) with the tolerance doubled, since the same
code's ratios differ by that much between CPUs; it says so, and catches only large regressions there.
Record that machine's own baseline to gate it tightly.

Record or refresh this machine's baseline after an intended change, on a quiet machine, as the
median of a few runs: `python -m benchmarks.regression --update --repeat 3`.
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
OTHER_MACHINE_TOLERANCE_FACTOR = 2.0


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


class Baselines:
    """The committed baselines, one set of ratios per machine kind, and the judging rule above."""

    def __init__(self, document: dict, machine_id: str):
        self.document = document
        self.machine_id = machine_id
        self.machines: dict[str, dict] = document.get("machines", {})

    @classmethod
    def load(cls, path: Path, machine_id: str) -> Baselines:
        return cls(json.loads(path.read_text()) if path.exists() else {}, machine_id)

    @property
    def own(self) -> bool:
        return self.machine_id in self.machines

    def tolerance(self, tolerance: float) -> float:
        """The tolerance to judge with: as asked on a machine with its own baseline, doubled on another
        machine, whose ratios can differ from every known machine's by that much without a regression."""
        return tolerance if self.own else tolerance * OTHER_MACHINE_TOLERANCE_FACTOR

    def expected(self, modules: tuple[str, ...]) -> set[str]:
        """The ratios of `modules` that a run must measure: this machine's, or any known machine's."""
        machines = [self.machines[self.machine_id]] if self.own else list(self.machines.values())
        names = {name for machine in machines for name in machine.get("ratios", {})}
        return {name for name in names if module_of(name) in modules}

    def unmeasured(self, measured: dict[str, dict], modules: tuple[str, ...]) -> list[str]:
        return sorted(self.expected(modules) - set(measured))

    def candidates(self, name: str) -> list[dict]:
        machines = [self.machines[self.machine_id]] if self.own else list(self.machines.values())
        return [machine["ratios"][name] for machine in machines if name in machine.get("ratios", {})]

    def judge(self, name: str, measured: dict, tolerance: float) -> Verdict:
        verdicts = [judge(name, measured, reference, tolerance) for reference in self.candidates(name)]
        return min(verdicts, key=lambda v: v.change) if verdicts else judge(name, measured, None, tolerance)

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


def best_ratios(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """Per ratio, its most favourable value over the runs: a regression must show in each of them."""
    best = {}
    for name in runs[0]:
        pick = max if runs[0][name]["higher_is_better"] else min
        best[name] = {**runs[0][name], "value": pick(run[name]["value"] for run in runs if name in run)}
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
    print(f"\n{'ratio':<{width}} {'value':>10} {'baseline':>10} {'worse by':>9}  verdict")
    for v in verdicts:
        baseline = f"{v.baseline:10.3f}" if v.baseline is not None else f"{'-':>10}"
        change = f"{v.change:+8.1%}" if v.change is not None else f"{'new':>8}"
        verdict = "ok" if v.passed else f"REGRESSION (> {tolerance:.0%})"
        print(f"{v.name:<{width}} {v.value:10.3f} {baseline} {change}  {verdict}")


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
    tolerance = baselines.tolerance(args.tolerance)
    modules = tuple(args.only) if args.only else BENCHMARK_MODULES
    measured = median_ratios([measure(modules) for _ in range(args.repeat)])
    if not args.update:
        measured = confirm_failures(measured, baselines, tolerance, args.confirm)
    verdicts = [baselines.judge(name, value, tolerance) for name, value in measured.items()]
    unmeasured = baselines.unmeasured(measured, modules)
    print_table(verdicts, tolerance)
    for name in unmeasured:
        print(f"{name}: in the baseline but NOT MEASURED by this run")
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
        print(f"\nnote: no baseline for this machine ({baselines.machine_id}); judged against the envelope of "
              f"{len(baselines.machines)} known machines with the tolerance doubled to {tolerance:.0%}. Record "
              "one to gate it tightly: python -m benchmarks.regression --update --repeat 3", file=sys.stderr)
    failed = [v.name for v in verdicts if not v.passed] + [f"{name} (not measured)" for name in unmeasured]
    if failed:
        print(f"\nbench-check FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nbench-check passed: {len(verdicts)} ratios within {tolerance:.0%} of the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
