"""ONNX Runtime vs PyTorch eager on the exported forecaster, per batch size 1/8/32/128.

    .venv/bin/python -m benchmarks.export_bench                    # the quick-profile architecture
    .venv/bin/python -m benchmarks.export_bench --run var/models/mgdl_...   # a trained run

Both sides run one thread (as the `mgdl` model does inside Triton) on the same float32 rows.
Writes benchmarks/results/export_bench.json and prints a table: batch, throughput (rows/s),
p50/p95/p99 latency per call. `regression_ratios()` is the quick subset for `make bench-check`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from export.onnx_export import cpu_session, export_onnx, random_rows
from feature_kernels import FEATURE_NAMES
from serving.contract import NETWORK_INPUT, NETWORK_OUTPUTS

RESULTS_PATH = Path(__file__).with_name("results") / "export_bench.json"
BATCH_SIZES = (1, 8, 32, 128)
QUICK_PROFILE_ARCHITECTURE = {"width": 64, "grades": 3}  # training/config.py, profile "quick"


def benchmark_run(directory: Path, window: int = 256) -> Path:
    """An untrained run with the quick profile's architecture: timing does not depend on the weights."""
    from training.checkpoint import write_untrained_run

    return write_untrained_run(
        directory / "bench_run", list(FEATURE_NAMES), window=window, **QUICK_PROFILE_ARCHITECTURE
    ).parent


def latencies(fn, seconds: float, min_calls: int = 20) -> np.ndarray:
    """Per-call wall times (s) of `fn` repeated for about `seconds` after a warm-up."""
    for _ in range(5):
        fn()
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < min_calls:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return np.asarray(times)


def summarize(times: np.ndarray, batch: int) -> dict:
    p50, p95, p99 = np.percentile(times, [50, 95, 99]) * 1e3
    return {
        "calls": len(times),
        "throughput_rows_per_s": batch / float(np.mean(times)),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }


def compare(run_dir: Path, batch_sizes=BATCH_SIZES, seconds: float = 1.0) -> dict:
    from training.checkpoint import load_forecaster

    torch.set_num_threads(1)
    module, metadata = load_forecaster(run_dir)
    with tempfile.TemporaryDirectory() as scratch:
        session = cpu_session(export_onnx(module, len(FEATURE_NAMES), Path(scratch) / "model.onnx"))
    rows = random_rows(None, len(FEATURE_NAMES), max(batch_sizes))
    results = {}
    for batch in batch_sizes:
        x = np.ascontiguousarray(rows[:batch])
        tensor = torch.from_numpy(x)

        def run_torch(tensor=tensor):
            with torch.inference_mode():
                return module(tensor)

        ort_times = latencies(lambda x=x: session.run(list(NETWORK_OUTPUTS), {NETWORK_INPUT: x}), seconds)
        torch_times = latencies(run_torch, seconds)
        ort, eager = summarize(ort_times, batch), summarize(torch_times, batch)
        results[batch] = {
            "onnxruntime": ort,
            "pytorch_eager": eager,
            "ort_speedup": float(np.median(torch_times) / np.median(ort_times)),
        }
    return {
        "run": metadata["run"],
        "architecture": metadata["architecture"],
        "threads": 1,
        "batches": results,
    }


def print_table(results: dict) -> None:
    print(f"\nrun {results['run']}, one thread; latency per call")
    print(
        f"{'batch':>5} | {'runtime':<13} | {'rows/s':>10} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | ORT speedup"
    )
    for batch, r in results["batches"].items():
        for name in ("onnxruntime", "pytorch_eager"):
            s = r[name]
            speedup = f"{r['ort_speedup']:.2f}x" if name == "onnxruntime" else ""
            print(
                f"{batch:>5} | {name:<13} | {s['throughput_rows_per_s']:>10,.0f} | {s['p50_ms']:7.3f} | "
                f"{s['p95_ms']:7.3f} | {s['p99_ms']:7.3f} | {speedup}"
            )


def regression_ratios() -> dict[str, dict]:
    """ORT speedup over PyTorch eager at batch 1 and 32, measured in this run (higher is better); ~10 s."""
    with tempfile.TemporaryDirectory() as scratch:
        results = compare(benchmark_run(Path(scratch)), batch_sizes=(1, 32), seconds=0.5)
    return {
        f"ort_speedup_batch{b}": {"value": results["batches"][b]["ort_speedup"], "higher_is_better": True}
        for b in (1, 32)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, help="a training run directory (default: quick-profile architecture)"
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per batch size and runtime")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        results = compare(args.run or benchmark_run(Path(scratch)), seconds=args.seconds)
    print_table(results)
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten: {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
