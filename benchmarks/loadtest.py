"""`make loadtest`: the Locust load test against the running stack, started here if it is not up.

Without a running gateway on WIG80_API_HOST:WIG80_API_PORT this trains the quick profile and
exports it (only when the repository holds no model yet), starts `wig80 serve` with the rate
limits lifted (every Locust user shares one address, so the per-client limits would measure the
limiter, not the system), runs Locust headless, and stops what it started. Reports go to
benchmarks/results/: `load_*.csv`, `load.html`, and with `--sweep` a table of p99 against users.
Exit status: non-zero when a budget of benchmarks/budgets.toml is missed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.budgets import rows_from_csv
from processes.children import spawn
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
LOAD_TEST_SERVER_ENV = {
    "WIG80_RATE_LIMIT_PER_MINUTE": "100000000",
    "WIG80_RATE_LIMIT_BURST_PER_SECOND": "10000000",
    "WIG80_API_ACCESS_LOG": "false",  # a line per request costs the gateway CPU the test should measure
    # every Locust user connects from 127.0.0.1 and subscribes to every symbol each second
    "WIG80_WEBSOCKET_MAX_CONNECTIONS_PER_CLIENT": "10000",
    "WIG80_WEBSOCKET_MAX_SYMBOL_UPDATES_PER_SECOND": "1000",
    # the per-client message limit is keyed by address too (reconnecting must not reset it)
    "WIG80_WEBSOCKET_MESSAGES_PER_SECOND": "100000",
}


def gateway_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("model_loaded"))
    except OSError:
        return False


def home_environment(settings) -> dict[str, str]:
    """The children work in this home (absolute, whatever their working directory): its store, models and
    repository belong together, so the served model always has its bars."""
    return {**os.environ, "WIG80_HOME": str(Path(settings.home).resolve())}


def ensure_exported_model(settings) -> None:
    repository = settings.repository_dir
    if any(p.is_dir() and p.name.isdigit() for p in (repository / "mgdl").glob("*")):
        return
    print(f"[loadtest] no exported model in {repository}: training the quick profile and exporting it",
          flush=True)
    env = home_environment(settings)
    train = subprocess.run([BIN / "wig80", "train", "--profile", "quick"], check=True, stdout=subprocess.PIPE,
                           text=True, env=env)
    run_dir = train.stdout.strip().splitlines()[-1]
    subprocess.run([BIN / "wig80", "export", run_dir], check=True, env=env)


def start_stack(settings, url: str) -> subprocess.Popen:
    ensure_exported_model(settings)
    print("[loadtest] starting `wig80 serve` (rate limits lifted, access log off)", flush=True)
    server = spawn([BIN / "wig80", "serve"], env={**home_environment(settings), **LOAD_TEST_SERVER_ENV}, cwd=ROOT)
    deadline = time.monotonic() + 300
    while not gateway_ready(url):
        if server.poll() is not None or time.monotonic() > deadline:
            server.terminate()
            raise SystemExit(f"[loadtest] the stack did not come up (see {settings.home}/logs)")
        time.sleep(1)
    return server


def run_locust(url: str, users: int, spawn_rate: int, seconds: int, prefix: str, classes: list[str],
               grpc: str, scenario: str | None = None) -> int:
    command = [str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / "locustfile.py"), "--headless",
               "-u", str(users), "-r", str(spawn_rate), "-t", f"{seconds}s", "--host", url,
               "--csv", str(RESULTS / prefix), "--html", str(RESULTS / f"{prefix}.html"), "--only-summary",
               # ramp-up (users filling their cache entries, first /symbols) is not the steady state
               "--reset-stats",
               # let each user finish its request before stopping (a gRPC call cut short can hang close)
               "--stop-timeout", "10",
               *classes]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRITON_GRPC": grpc, "WIG80_LOAD_SCENARIO": scenario or ""}
    return subprocess.run(command, env=env, cwd=ROOT).returncode


def sweep(url: str, user_counts: list[int], seconds: int, grpc: str) -> list[dict]:
    """p99 of uncached /analyze as users grow: where it crosses 100 ms, and at what throughput."""
    table = []
    for users in user_counts:
        prefix = f"sweep_u{users}"
        run_locust(url, users, max(users // 2, 1), seconds, prefix, ["GatewayRestUser"], grpc)
        with (RESULTS / f"{prefix}_stats.csv").open(newline="") as handle:
            total = {row["Name"]: row for row in csv.DictReader(handle)}
        rows = {row.name: row for row in rows_from_csv(RESULTS / f"{prefix}_stats.csv")}
        uncached = rows.get("POST /analyze [uncached]")
        table.append({"users": users, "rps": float(total["Aggregated"]["Requests/s"]),
                      "uncached_p99_ms": uncached.p99_ms if uncached else None})
        print(f"[loadtest] sweep users={users}: {table[-1]}", flush=True)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-r", "--spawn-rate", type=int, default=10)
    parser.add_argument("-t", "--seconds", type=int, default=60)
    parser.add_argument("--sweep", nargs="*", type=int, help="also sweep these user counts (REST users only)")
    parser.add_argument("--scenario", choices=("heavy",), help="heavy: four times the pace, its own budgets")
    parser.add_argument("classes", nargs="*", help="Locust user classes (default: all)")
    args = parser.parse_args(argv)

    settings = Settings()
    url = f"http://{settings.api_host}:{settings.api_port}"
    grpc = settings.triton_url or f"{settings.triton_host}:{settings.triton_grpc_port}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = None if gateway_ready(url) else start_stack(settings, url)
    try:
        code = run_locust(url, args.users, args.spawn_rate, args.seconds, "load", args.classes, grpc, args.scenario)
        if args.sweep:
            table = sweep(url, args.sweep, args.seconds, grpc)
            (RESULTS / "sweep.json").write_text(json.dumps(table, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    return code


if __name__ == "__main__":
    sys.exit(main())
