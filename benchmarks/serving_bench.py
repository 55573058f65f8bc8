"""The `wig80` ensemble on the embedded Triton at concurrency 1/4/16/64, dynamic batching on vs off.

    .venv/bin/python -m benchmarks.serving_bench                  # ~2 min
    .venv/bin/python -m benchmarks.serving_bench --seconds 2      # shorter

Same model, same server binary: the run is exported twice (configs with and without
`dynamic_batching`), and each repository is served in turn on free ports. One gRPC client keeps
`concurrency` single-window requests in flight (async_infer) for a fixed time. Reported per row:
throughput, client p50/p95/p99, the server's queue vs compute time per request (statistics
extension, the `features` + `mgdl` steps) and the average batch size of `mgdl` from the metrics
(nv_inference_count / nv_inference_exec_count). Writes benchmarks/results/serving_bench.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from benchmarks.export_bench import benchmark_run
from export.exporter import export_run
from export.parity_inputs import synthetic_windows
from serving.tritonserver import TritonServer
from wig80.settings import get_settings

RESULTS_PATH = Path(__file__).with_name("results") / "serving_bench.json"
CONCURRENCY = (1, 4, 16, 64)
STEPS = ("features", "mgdl")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClosedLoopLoad:
    """Keeps `concurrency` requests in flight for `seconds`; each completion sends the next request."""

    def __init__(self, client: grpcclient.InferenceServerClient, windows: np.ndarray, concurrency: int):
        self.client, self.windows, self.concurrency = client, windows, concurrency
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.idle = threading.Event()
        self.in_flight = 0
        self.sending = True

    def send(self, index: int) -> None:
        window = self.windows[index % len(self.windows)][None]
        tensor = grpcclient.InferInput("OHLCV", list(window.shape), "FP32")
        tensor.set_data_from_numpy(window)
        started = time.perf_counter()
        self.client.async_infer("wig80", [tensor], lambda result, error: self.done(index, started, error))

    def done(self, index: int, started: float, error) -> None:
        elapsed = time.perf_counter() - started
        with self.lock:
            (self.errors.append(str(error)) if error else self.latencies.append(elapsed))
            again = self.sending
            if not again:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self.idle.set()
        if again:
            self.send(index + self.concurrency)

    def run(self, seconds: float) -> float:
        self.in_flight = self.concurrency
        started = time.perf_counter()
        for i in range(self.concurrency):
            self.send(i)
        time.sleep(seconds)
        with self.lock:
            self.sending = False
            finished = len(self.latencies)
        elapsed = time.perf_counter() - started
        self.idle.wait(timeout=60)
        return finished / elapsed


def step_statistics(client: grpcclient.InferenceServerClient) -> dict[str, dict[str, int]]:
    """Per step model: request count and nanoseconds spent queued and computing (summed over versions)."""
    totals = {}
    for model in STEPS:
        stats = client.get_inference_statistics(model, as_json=True)["model_stats"]
        totals[model] = {
            "requests": sum(int(s["inference_stats"]["success"].get("count", 0)) for s in stats),
            "queue_ns": sum(int(s["inference_stats"]["queue"].get("ns", 0)) for s in stats),
            "compute_ns": sum(
                int(s["inference_stats"][k].get("ns", 0))
                for s in stats
                for k in ("compute_input", "compute_infer", "compute_output")
            ),
        }
    return totals


def metric_counts(metrics_url: str, model: str = "mgdl") -> tuple[float, float]:
    """(nv_inference_count, nv_inference_exec_count) of `model`, summed over versions."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    counts = {"nv_inference_count": 0.0, "nv_inference_exec_count": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in counts and f'model="{model}"' in line:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return counts["nv_inference_count"], counts["nv_inference_exec_count"]


def measure(server: TritonServer, windows: np.ndarray, concurrency: int, seconds: float) -> dict:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        ClosedLoopLoad(client, windows, concurrency).run(min(0.5, seconds))  # warm-up
        stats_before, counts_before = step_statistics(client), metric_counts(server.metrics_url)
        load = ClosedLoopLoad(client, windows, concurrency)
        throughput = load.run(seconds)
        stats_after, counts_after = step_statistics(client), metric_counts(server.metrics_url)
    finally:
        client.close()
    p50, p95, p99 = np.percentile(load.latencies, [50, 95, 99]) * 1e3
    requests = stats_after["mgdl"]["requests"] - stats_before["mgdl"]["requests"]
    queue_ns = sum(stats_after[m]["queue_ns"] - stats_before[m]["queue_ns"] for m in STEPS)
    compute_ns = sum(stats_after[m]["compute_ns"] - stats_before[m]["compute_ns"] for m in STEPS)
    inferences = counts_after[0] - counts_before[0]
    executions = counts_after[1] - counts_before[1]
    return {
        "concurrency": concurrency,
        "throughput_per_s": throughput,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "errors": len(load.errors),
        "server_queue_us": queue_ns / max(requests, 1) / 1e3,
        "server_compute_us": compute_ns / max(requests, 1) / 1e3,
        "avg_batch_size": inferences / max(executions, 1.0),
    }


def serve_and_measure(
    run_dir: Path, home: Path, batching: bool, levels, seconds: float, windows: np.ndarray
) -> list[dict]:
    settings = get_settings().model_copy(update={"home": home, "market_db_url": None})
    repository = home / ("repo_batching_on" if batching else "repo_batching_off")
    export_run(run_dir, repository, "cpu", settings=settings, dynamic_batching=batching)
    with TritonServer(repository, free_port(), free_port(), free_port(), home=home) as server:
        rows = []
        for concurrency in levels:
            row = {"dynamic_batching": batching, **measure(server, windows, concurrency, seconds)}
            print(
                f"[serving_bench] batching {'on ' if batching else 'off'} concurrency {concurrency:>3}: "
                f"{row['throughput_per_s']:8.1f} req/s, p50 {row['p50_ms']:.2f} ms, "
                f"avg batch {row['avg_batch_size']:.1f}",
                flush=True,
            )
            rows.append(row)
    return rows


def compare(levels=CONCURRENCY, seconds: float = 4.0, window: int = 256) -> dict:
    with tempfile.TemporaryDirectory(prefix="wig80-serving-bench-") as scratch:
        home = Path(scratch)
        run_dir = benchmark_run(home, window)
        windows = synthetic_windows(window)
        rows = [
            row
            for batching in (True, False)
            for row in serve_and_measure(run_dir, home, batching, levels, seconds, windows)
        ]
    settings = get_settings()
    on = {r["concurrency"]: r for r in rows if r["dynamic_batching"]}
    off = {r["concurrency"]: r for r in rows if not r["dynamic_batching"]}
    return {
        "window": window,
        "max_batch_size": settings.max_batch_size,
        "max_queue_delay_microseconds": settings.max_queue_delay_microseconds,
        "seconds": seconds,
        "rows": rows,
        "speedup": {c: on[c]["throughput_per_s"] / off[c]["throughput_per_s"] for c in on if c in off},
    }


def print_table(results: dict) -> None:
    print(
        f"\nwig80 ensemble, window {results['window']}, max_batch_size {results['max_batch_size']}, "
        f"max_queue_delay {results['max_queue_delay_microseconds']} us, {results['seconds']} s per row"
    )
    print(
        f"{'conc.':>5} | {'batching':<8} | {'req/s':>8} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | "
        f"{'queue us':>8} | {'compute us':>10} | {'avg batch':>9}"
    )
    for r in results["rows"]:
        print(
            f"{r['concurrency']:>5} | {'on' if r['dynamic_batching'] else 'off':<8} | "
            f"{r['throughput_per_s']:8.1f} | {r['p50_ms']:7.2f} | {r['p95_ms']:7.2f} | {r['p99_ms']:7.2f} | "
            f"{r['server_queue_us']:8.0f} | {r['server_compute_us']:10.0f} | {r['avg_batch_size']:9.2f}"
        )
    print(
        "throughput on/off: " + ", ".join(f"concurrency {c}: {s:.2f}x" for c, s in results["speedup"].items())
    )


def regression_ratios() -> dict[str, dict]:
    """Throughput with / without dynamic batching at concurrency 64 (higher is better); ~40 s."""
    results = compare(levels=(64,), seconds=3.0)
    return {"batching_throughput_gain_c64": {"value": results["speedup"][64], "higher_is_better": True}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per concurrency level")
    parser.add_argument("--window", type=int, default=256, help="bars per request window")
    args = parser.parse_args(argv)
    results = compare(seconds=args.seconds, window=args.window)
    print_table(results)
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
