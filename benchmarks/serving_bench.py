"""`wig80` on the embedded Triton against the same work in process, dynamic batching on vs off.

    .venv/bin/python -m benchmarks.serving_bench                  # ~2 min
    .venv/bin/python -m benchmarks.serving_bench --seconds 2      # shorter

Same model, same windows, same server binary, all in one run:
- the in-process limit: `compute_features` + the exported ONNX session in this process, batch 1 and
  batch 32 (windows/s);
- Triton direct: the run is exported twice (configs with and without `dynamic_batching`), each
  repository served in turn on free ports; one gRPC client keeps `concurrency` requests in flight
  (async_infer), each of 1 window (concurrency 1/4/16/64) or of 64 windows (concurrency 64).
Reported per row: requests/s and windows/s, client p50/p95/p99, the server's queue vs compute time
per request (statistics extension) and the average batch size from the metrics
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
from serving.contract import ENSEMBLE_MODEL, OHLCV
from serving.tritonserver import TritonServer
from settings import Settings

RESULTS_PATH = Path(__file__).with_name("results") / "serving_bench.json"
CONCURRENCY = (1, 4, 16, 64)
MANY_WINDOWS = 64  # windows per request of a backtest-like client
SERVED_MODEL = ENSEMBLE_MODEL  # on the CPU target one model does the features and the network
BENCH_MAX_BATCH_SIZE = 64  # so that one request may carry MANY_WINDOWS windows
IN_PROCESS_BATCHES = (1, 32)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClosedLoopLoad:
    """Keeps `concurrency` requests in flight for `seconds`; each completion sends the next request."""

    def __init__(self, client: grpcclient.InferenceServerClient, windows: np.ndarray, concurrency: int,
                 windows_per_request: int = 1):
        self.client, self.windows, self.concurrency = client, windows, concurrency
        self.windows_per_request = windows_per_request
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.idle = threading.Event()
        self.in_flight = 0
        self.sending = True

    def send(self, index: int) -> None:
        rows = np.arange(index * self.windows_per_request, (index + 1) * self.windows_per_request)
        window = np.ascontiguousarray(self.windows.take(rows, axis=0, mode="wrap"))
        tensor = grpcclient.InferInput(OHLCV, list(window.shape), "FP32")
        tensor.set_data_from_numpy(window)
        started = time.perf_counter()
        self.client.async_infer(SERVED_MODEL, [tensor], lambda result, error: self.done(index, started, error))

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
    for model in (SERVED_MODEL,):
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


def metric_counts(metrics_url: str, model: str = SERVED_MODEL) -> tuple[float, float]:
    """(nv_inference_count, nv_inference_exec_count) of `model`, summed over versions."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    counts = {"nv_inference_count": 0.0, "nv_inference_exec_count": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in counts and f'model="{model}"' in line:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return counts["nv_inference_count"], counts["nv_inference_exec_count"]


def measure(server: TritonServer, windows: np.ndarray, concurrency: int, seconds: float, per_request: int = 1) -> dict:
    client = grpcclient.InferenceServerClient(server.address.grpc)
    try:
        ClosedLoopLoad(client, windows, concurrency, per_request).run(min(0.5, seconds))  # warm-up
        stats_before, counts_before = step_statistics(client), metric_counts(server.address.metrics_url)
        load = ClosedLoopLoad(client, windows, concurrency, per_request)
        throughput = load.run(seconds)
        stats_after, counts_after = step_statistics(client), metric_counts(server.address.metrics_url)
    finally:
        client.close()
    p50, p95, p99 = np.percentile(load.latencies, [50, 95, 99]) * 1e3
    requests = stats_after[SERVED_MODEL]["requests"] - stats_before[SERVED_MODEL]["requests"]
    queue_ns = stats_after[SERVED_MODEL]["queue_ns"] - stats_before[SERVED_MODEL]["queue_ns"]
    compute_ns = stats_after[SERVED_MODEL]["compute_ns"] - stats_before[SERVED_MODEL]["compute_ns"]
    inferences = counts_after[0] - counts_before[0]
    executions = counts_after[1] - counts_before[1]
    return {
        "concurrency": concurrency,
        "windows_per_request": per_request,
        "throughput_per_s": throughput,
        "windows_per_s": throughput * per_request,
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
    settings = Settings().model_copy(
        update={"home": home, "market_db_url": None, "max_batch_size": BENCH_MAX_BATCH_SIZE}
    )
    repository = home / ("repo_batching_on" if batching else "repo_batching_off")
    export_run(run_dir, repository, "cpu", settings=settings, dynamic_batching=batching)
    loads = [(c, 1) for c in levels] + ([(64, MANY_WINDOWS)] if batching and 64 in levels else [])
    with TritonServer(repository, free_port(), free_port(), free_port(), home=home) as server:
        rows = []
        for concurrency, per_request in loads:
            row = {"dynamic_batching": batching, **measure(server, windows, concurrency, seconds, per_request)}
            print(
                f"[serving_bench] batching {'on ' if batching else 'off'} concurrency {concurrency:>3} x "
                f"{per_request:>2} windows: {row['throughput_per_s']:8.1f} req/s, {row['windows_per_s']:8.1f} "
                f"windows/s, p50 {row['p50_ms']:.2f} ms, avg batch {row['avg_batch_size']:.1f}",
                flush=True,
            )
            rows.append(row)
    return rows


def in_process_limit(run_dir: Path, home: Path, windows: np.ndarray, seconds: float) -> dict[int, float]:
    """Windows/s of compute_features + the exported ONNX session in this process, per batch size."""
    from benchmarks.export_bench import latencies
    from export.onnx_export import cpu_session
    from feature_kernels import compute_features
    from serving.contract import NETWORK_INPUT, NETWORK_OUTPUTS

    onnx_path = next((home / "repo_batching_on" / SERVED_MODEL).glob("*/model.onnx"))
    session = cpu_session(onnx_path)
    limits = {}
    for batch in IN_PROCESS_BATCHES:
        rows = np.ascontiguousarray(windows.take(np.arange(batch), axis=0, mode="wrap"))

        def pipeline(rows=rows):  # one thread, as the served model runs it (parallel_kernels "false")
            session.run(list(NETWORK_OUTPUTS), {NETWORK_INPUT: compute_features(rows, parallel=False)})

        limits[batch] = batch / float(np.mean(latencies(pipeline, seconds)))
        print(f"[serving_bench] in process, batch {batch:>2}: {limits[batch]:9.1f} windows/s", flush=True)
    return limits


def compare(levels=CONCURRENCY, seconds: float = 4.0, window: int = 256) -> dict:
    with tempfile.TemporaryDirectory(prefix="wig80-serving-bench-") as scratch:
        home = Path(scratch)
        run_dir = benchmark_run(home, window)
        windows = synthetic_windows(window).astype(np.float32)
        rows = [
            row
            for batching in (True, False)
            for row in serve_and_measure(run_dir, home, batching, levels, seconds, windows)
        ]
        limits = in_process_limit(run_dir, home, windows, min(seconds, 2.0))
    settings = Settings()
    single = [r for r in rows if r["windows_per_request"] == 1]
    on = {r["concurrency"]: r for r in single if r["dynamic_batching"]}
    off = {r["concurrency"]: r for r in single if not r["dynamic_batching"]}
    many = next((r for r in rows if r["windows_per_request"] == MANY_WINDOWS), None)
    best = limits[max(IN_PROCESS_BATCHES)]
    return {
        "window": window,
        "max_batch_size": BENCH_MAX_BATCH_SIZE,
        "max_queue_delay_microseconds": settings.max_queue_delay_microseconds,
        "seconds": seconds,
        "rows": rows,
        "in_process_windows_per_s": limits,
        "speedup": {c: on[c]["throughput_per_s"] / off[c]["throughput_per_s"] for c in on if c in off},
        "share_of_in_process_b32": {
            **({"c64_1_window": on[64]["windows_per_s"] / best} if 64 in on else {}),
            **({f"c64_{MANY_WINDOWS}_windows": many["windows_per_s"] / best} if many else {}),
        },
    }


def print_table(results: dict) -> None:
    print(
        f"\nwig80 (CPU: the fused model), window {results['window']}, max_batch_size {results['max_batch_size']}, "
        f"max_queue_delay {results['max_queue_delay_microseconds']} us, {results['seconds']} s per row"
    )
    print(
        f"{'conc.':>5} | {'win/req':>7} | {'batching':<8} | {'req/s':>8} | {'windows/s':>9} | {'p50 ms':>7} | "
        f"{'p95 ms':>7} | {'p99 ms':>7} | {'queue us':>8} | {'compute us':>10} | {'avg batch':>9}"
    )
    for r in results["rows"]:
        print(
            f"{r['concurrency']:>5} | {r['windows_per_request']:>7} | {'on' if r['dynamic_batching'] else 'off':<8} | "
            f"{r['throughput_per_s']:8.1f} | {r['windows_per_s']:9.1f} | {r['p50_ms']:7.2f} | {r['p95_ms']:7.2f} | "
            f"{r['p99_ms']:7.2f} | {r['server_queue_us']:8.0f} | {r['server_compute_us']:10.0f} | "
            f"{r['avg_batch_size']:9.2f}"
        )
    print("in process: " + ", ".join(f"batch {b}: {w:.0f} windows/s" for b, w in results["in_process_windows_per_s"].items()))
    print(
        "throughput on/off: " + ", ".join(f"concurrency {c}: {s:.2f}x" for c, s in results["speedup"].items())
    )
    print("share of the in-process batch-32 rate: "
          + ", ".join(f"{k} {v:.1%}" for k, v in results["share_of_in_process_b32"].items()))


def regression_ratios() -> dict[str, dict]:
    """Throughput with / without dynamic batching at concurrency 64, and Triton's windows/s over the
    in-process batch-32 rate with 1 and 64 windows per request (higher is better); ~50 s. Raises when a
    request failed."""
    results = compare(levels=(64,), seconds=3.0)
    failed = {f"{r['concurrency']} x {r['windows_per_request']} windows, batching {r['dynamic_batching']}": r["errors"]
              for r in results["rows"] if r["errors"]}
    if failed:
        raise RuntimeError(f"serving_bench: failed requests ({failed}); a rate of failing requests is no figure")
    shares = results["share_of_in_process_b32"]
    return {
        "batching_throughput_gain_c64": {"value": results["speedup"][64], "higher_is_better": True},
        "triton_c64_1_window_share_of_in_process": {"value": shares["c64_1_window"], "higher_is_better": True},
        "triton_c64_64_windows_share_of_in_process": {"value": shares[f"c64_{MANY_WINDOWS}_windows"],
                                                      "higher_is_better": True},
    }


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
