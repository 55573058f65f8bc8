"""Sequential latency of a real gateway over a real Triton: /analyze (varying and repeated bodies), a batch.

    python -m tests.gateway.measure_latency --home HOME [--repository REPO] [--redis-url redis://127.0.0.1:6379/15]

HOME is a WIG80_HOME whose store holds the run's symbols, REPO an exported model repository (default:
HOME/model_repository, where `wig80 export` writes). Prints a Markdown table of p50/p95 in milliseconds. Not a load test
(that is benchmarks/' Locust file): one client, one request at a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

from processes.children import spawn
from tests.fixtures.services import free_port
from tests.fixtures.triton import start_triton

UNLIMITED = {"WIG80_RATE_LIMIT_PER_MINUTE": "1000000", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "1000000"}


def percentiles(call, count: int) -> tuple[float, float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        response = call(i)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    times.sort()
    return statistics.median(times), times[int(0.95 * count) - 1]


def measure(client: httpx.Client, symbols: list[str], count: int) -> dict[str, tuple[float, float]]:
    client.post("/analyze", json={"symbol": symbols[0], "prediction_horizon": 1})  # warm the cache and channel
    return {
        # a threshold never asked before: since the gateway keeps one forecast per bar and applies the
        # threshold after it, this too derives from the forecast made at start-up (no Triton call)
        "POST /analyze, every symbol, new threshold each": percentiles(
            lambda i: client.post("/analyze", json={"symbol": symbols[i % len(symbols)],
                                                    "confidence_threshold": (i + 1) / (count + 1)}), count),
        "POST /analyze, one body again": percentiles(
            lambda i: client.post("/analyze", json={"symbol": symbols[0], "prediction_horizon": 1}), count),
        f"POST /batch_analyze, {len(symbols)} symbols": percentiles(
            lambda i: client.post("/batch_analyze", json={"symbols": symbols, "prediction_horizon": i % 30 + 1}),
            count // 2),
        "GET /health": percentiles(lambda i: client.get("/health"), count // 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=None, help="default: HOME/model_repository")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()
    prefix = f"measure-{uuid.uuid4().hex[:8]}"
    triton = start_triton(args.repository or args.home / "model_repository", args.home)
    port = free_port()
    env = {**os.environ, **UNLIMITED, "WIG80_HOME": str(args.home), "TRITON_URL": triton.address.grpc,
           "REDIS_URL": args.redis_url, "WIG80_TEST_REDIS_PREFIX": prefix}
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.gateway.app_factory:build",
               "--port", str(port), "--log-level", "warning"]
    gateway = spawn(command, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            for _ in range(150):
                try:
                    client.get("/metrics")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            symbols = [s["symbol"] for s in client.get("/symbols").json()["symbols"] if s["data_available"]][:6]
            results = measure(client, symbols, args.requests)
    finally:
        gateway.terminate()
        gateway.wait()
        triton.stop()
        if args.redis_url:
            store = redis.Redis.from_url(args.redis_url)
            keys = set(store.scan_iter(f"*{prefix}*"))
            if keys:
                store.delete(*keys)
    print(f"REDIS_URL={args.redis_url or '(unset: in-process)'}, {args.requests} sequential requests")
    print("| request | p50 ms | p95 ms |\n| --- | --- | --- |")
    for name, (p50, p95) in results.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
