"""The gateway under `wrk`, side by side with two references started in the same run.

    .venv/bin/python -m benchmarks.gateway_bench                 # ~1 min: 5 loads x 6 s
    .venv/bin/python -m benchmarks.gateway_bench --seconds 3 --workers 2
    .venv/bin/python -m benchmarks.gateway_bench --seconds 6 --write README.md   # README's two gateway rows

Starts everything it needs in a temporary home: a synthetic market of every sWIG80 symbol, an untrained
network of the quick profile's architecture (timing does not depend on the weights), the embedded Triton
on the exported CPU repository, the gateway (uvicorn, in-process cache, rate limits lifted) and the two
references of `benchmarks.reference_apps` (bare FastAPI echo; the in-process peer). Then `wrk -t1 -c32`
drives, in turn:

- echo: the bare reference, one symbol;
- peer_mixed: the in-process peer on the mixed load (every symbol x horizons 1..30 x thresholds);
- analyze_one: the gateway's /analyze, one symbol;
- analyze_mixed: the gateway on the mixed load;
- batch: the gateway's /batch_analyze, 8 symbols per request.

Prints req/s, p50 and p99 and the ratios; writes benchmarks/results/gateway_bench.json. `wrk` is the
Debian package (`make bench` installs it when missing and allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from benchmarks.export_bench import benchmark_run
from benchmarks.serving_bench import free_port
from export.exporter import export_run
from market_data.stores import open_store
from market_data.synthetic import synthesize
from serving.tritonserver import TritonServer
from settings import Settings

RESULTS_PATH = Path(__file__).with_name("results") / "gateway_bench.json"
REPO_ROOT = Path(__file__).resolve().parent.parent
SYMBOLS, DAYS, SEED = 80, 400, 3
THRESHOLDS = (0.5, 0.55, 0.6, 0.7, 0.8)
BATCH_SYMBOLS = 8
CONNECTIONS = 32
START_TIMEOUT_S = 120.0
WARM_UP_S = 2
PIDS: dict[str, int] = {}  # base URL -> uvicorn's pid, for --profile
UNLIMITED = {"WIG80_RATE_LIMIT_PER_MINUTE": "100000000", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "100000000"}


class WrkMissing(RuntimeError):
    """`wrk` is not on PATH."""


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed: `make bench` installs it (Debian package `wrk`), or apt-get install wrk")
    return path


@contextmanager
def server_process(command: list[str], port: int, env: dict[str, str], log: Path):
    """A server process listening on `port`, until the block ends; yields its base URL once it answers."""
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=output,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    PIDS[url] = process.pid
    try:
        wait_until_answering(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def uvicorn_process(app: str, env: dict[str, str], log: Path):
    """A reference app on uvicorn's command line (no access log), on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    return server_process(command, port, env, log)


def gateway_process(env: dict[str, str], log: Path, workers: int = 1, server: str = "uvicorn"):
    """The gateway as its image and `wig80 serve` start it (`wig80.commands.gateway_worker`: the uvicorn
    options of `gateway.server`, the access log as WIG80_API_ACCESS_LOG says), on a free port; with
    `server="granian"`, the same app on granian (the comparison of docs/serving.md; granian is not a
    dependency: `pip install granian` first)."""
    port = free_port()
    env = {**env, "WIG80_API_HOST": "127.0.0.1", "WIG80_API_PORT": str(port), "WIG80_API_WORKERS": str(workers)}
    command = [sys.executable, "-m", "wig80.commands.gateway_worker"]
    if server == "granian":
        access_log = "--access-log" if Settings().api_access_log else "--no-access-log"
        command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(workers), "--log-level", "warning", access_log,
                   "wig80.commands.gateway_worker:build_app"]
    return server_process(command, port, env, log)


def wait_until_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            body = {"symbol": "-", "prediction_horizon": 1}
            if httpx.post(f"{url}/analyze", json=body, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}")


def lua_script(path: str, bodies: list[dict]) -> str:
    """A wrk script cycling through `bodies` as POSTs to `path`."""
    quoted = ",\n".join("[[" + json.dumps(body) + "]]" for body in bodies)
    return (
        f"local bodies = {{\n{quoted}\n}}\nlocal i = 0\n"
        "wrk.headers['Content-Type'] = 'application/json'\n"
        "request = function()\n  i = i % #bodies + 1\n"
        f"  return wrk.format('POST', '{path}', nil, bodies[i])\nend\n"
    )


def mixed_bodies(symbols: list[str]) -> list[dict]:
    """Every symbol x horizon 1..30, with a threshold that varies along the sequence."""
    bodies = [
        {"symbol": s, "prediction_horizon": h, "confidence_threshold": THRESHOLDS[(i + h) % len(THRESHOLDS)]}
        for i, s in enumerate(symbols) for h in range(1, 31)
    ]
    order = sorted(range(len(bodies)), key=lambda k: (k * 7919) % len(bodies))  # symbols interleaved
    return [bodies[k] for k in order]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    percentiles = {f"p{p}_ms": _milliseconds(v) for p, v in re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.M)}
    if set(percentiles) != {"p50_ms", "p99_ms"}:
        raise TypeError("no 50% / 99% latency lines")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.M)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        **percentiles,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def failed_requests(row: dict) -> int:
    """Non-2xx answers plus wrk's socket errors ("connect 0, read 0, write 0, timeout 3")."""
    return row["non_2xx"] + sum(int(count) for count in re.findall(r"\d+", row["socket_errors"]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its children processes (uvicorn's workers), from /proc."""
    import psutil

    process = psutil.Process(pid)
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def resident_mb(pid: int) -> float:
    """Resident memory of `pid` and its children (uvicorn's workers), in MiB."""
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in (process, *process.children(recursive=True))) / 2**20


def run_wrk(url: str, path: str, bodies: list[dict], seconds: float, scratch: Path, name: str,
            profile: Path | None = None) -> dict:
    """One wrk load; with `profile`, py-spy samples the server meanwhile (raw collapsed stacks there)."""
    script = scratch / f"{name}.lua"
    script.write_text(lua_script(path, bodies))
    command = [wrk_binary(), "-t1", f"-c{CONNECTIONS}", f"-d{max(int(seconds), 1)}s", "--latency", "-s", str(script), url]
    sampler = None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        sampler = subprocess.Popen(["py-spy", "record", "-p", str(PIDS[url]), "-d", str(max(int(seconds) - 1, 1)),
                                    "-f", "raw", "-o", str(profile / f"{name}.txt"), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu_before = cpu_seconds(PIDS[url])
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(PIDS[url]) - cpu_before
    if sampler is not None:
        sampler.wait(timeout=60)
    try:
        row = {"load": name, **parse_wrk(output)}
    except (AttributeError, TypeError) as error:
        raise RuntimeError(f"wrk output not understood ({error}):\n{output}") from error
    # CPU time the server spent per request: what a busy, shared machine changes least
    row["server_cpu_us_per_request"] = 1e6 * cpu / max(row["requests_per_s"] * max(int(seconds), 1), 1.0)
    print(f"[gateway_bench] {name:<14} {row['requests_per_s']:9.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
          f"p99 {row['p99_ms']:7.2f} ms  server CPU {row['server_cpu_us_per_request']:6.0f} us/request  "
          f"non-2xx {row['non_2xx']}", flush=True)
    return row


async def fill_store(home: Path) -> list[str]:
    market = synthesize(SYMBOLS, DAYS, SEED)
    async with open_store(None, home) as store:
        await store.append_many(market)
    return [series.symbol for series in market]


def hold_for_outside_runs(seconds: float, urls: dict[str, str], scratch: Path) -> None:
    """Keep the servers up so that `wrk` run by hand (the issue's "outside" run) can be compared."""
    print(f"[gateway_bench] holding {seconds:.0f} s for outside runs; wrk scripts in {scratch}:", flush=True)
    for name, url in urls.items():
        print(f"[gateway_bench]   {name}: {url}", flush=True)
    time.sleep(seconds)


def compare(seconds: float = 6.0, workers: int = 1, window: int = 256, redis_url: str | None = None,
            profile: Path | None = None, hold_s: float = 0.0, server: str = "uvicorn") -> dict:
    wrk_binary()
    with tempfile.TemporaryDirectory(prefix="wig80-gateway-bench-") as scratch_dir, ExitStack() as stack:
        scratch = Path(scratch_dir)
        symbols = asyncio.run(fill_store(scratch))
        settings = Settings().model_copy(update={"home": scratch, "market_db_url": None})
        repository = scratch / "model_repository"
        export_run(benchmark_run(scratch, window), repository, "cpu", settings=settings)
        triton = stack.enter_context(TritonServer(repository, free_port(), free_port(), free_port(), home=scratch))
        onnx = next((repository / "wig80").glob("*/model.onnx"))
        gateway_env = {"WIG80_HOME": str(scratch), "TRITON_URL": triton.address.grpc, "MARKET_DB_URL": "",
                       "REDIS_URL": redis_url or "", **UNLIMITED}
        peer_env = {"WIG80_BENCH_HOME": str(scratch), "WIG80_BENCH_ONNX": str(onnx), "WIG80_BENCH_WINDOW": str(window)}
        echo = stack.enter_context(uvicorn_process("benchmarks.reference_apps:echo_app", {}, scratch / "echo.log"))
        peer = stack.enter_context(uvicorn_process("benchmarks.reference_apps:in_process_app", peer_env,
                                                   scratch / "peer.log"))
        gateway = stack.enter_context(gateway_process(gateway_env, scratch / "gateway.log", workers, server))
        one = [{"symbol": symbols[0], "prediction_horizon": 5, "confidence_threshold": 0.6}]
        mixed = mixed_bodies(symbols)
        batches = [{"symbols": symbols[i:i + BATCH_SYMBOLS], "prediction_horizon": 1 + i % 30}
                   for i in range(0, len(symbols), BATCH_SYMBOLS)]
        for url, bodies in ((echo, one), (peer, mixed), (gateway, mixed)):
            run_wrk(url, "/analyze", bodies, WARM_UP_S, scratch, "warm-up")
        rows = [
            run_wrk(echo, "/analyze", one, seconds, scratch, "echo"),
            run_wrk(peer, "/analyze", mixed, seconds, scratch, "peer_mixed"),
            run_wrk(gateway, "/analyze", one, seconds, scratch, "analyze_one", profile),
            run_wrk(gateway, "/analyze", mixed, seconds, scratch, "analyze_mixed", profile),
            run_wrk(gateway, "/batch_analyze", batches, seconds, scratch, "batch"),
        ]
        gateway_rss_mb = resident_mb(PIDS[gateway])
        if hold_s > 0:
            hold_for_outside_runs(hold_s, {"echo": echo, "peer": peer, "gateway": gateway}, scratch)
    by_load = {row["load"]: row for row in rows}
    return {
        "seconds": seconds, "connections": CONNECTIONS, "gateway_workers": workers, "window": window,
        "symbols": len(symbols), "redis": bool(redis_url),
        "gateway_access_log": Settings().api_access_log, "gateway_server": server, "load_average": os.getloadavg(), "gateway_rss_mb": gateway_rss_mb, "rows": rows,
        "ratios": {
            "analyze_one_vs_echo": by_load["analyze_one"]["requests_per_s"] / by_load["echo"]["requests_per_s"],
            "analyze_mixed_vs_peer": by_load["analyze_mixed"]["requests_per_s"] / by_load["peer_mixed"]["requests_per_s"],
            "peer_mixed_vs_echo": by_load["peer_mixed"]["requests_per_s"] / by_load["echo"]["requests_per_s"],
            "batch_symbols_vs_echo": BATCH_SYMBOLS * by_load["batch"]["requests_per_s"] / by_load["echo"]["requests_per_s"],
        },
    }


def print_table(results: dict) -> None:
    print(f"\nwrk -t1 -c{results['connections']}, {results['seconds']:.0f} s per load, gateway workers "
          f"{results['gateway_workers']}, {results['symbols']} symbols, window {results['window']}")
    echo = next(r for r in results["rows"] if r["load"] == "echo")["requests_per_s"]
    print(f"{'load':<14} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | {'vs echo':>7} | "
          f"{'CPU us/req':>10} | non-2xx")
    for r in results["rows"]:
        print(f"{r['load']:<14} | {r['requests_per_s']:9.1f} | {r['p50_ms']:7.2f} | {r['p99_ms']:7.2f} | "
              f"{r['requests_per_s'] / echo:7.2f} | {r['server_cpu_us_per_request']:10.0f} | {r['non_2xx']}")
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in results["ratios"].items()))
    print(f"gateway resident memory after the loads: {results['gateway_rss_mb']:.0f} MiB")


ONE_ROW = "| gateway `POST /analyze`, one symbol, vs bare FastAPI echo"
MIXED_ROW = "| gateway, mixed load"
AIM_ONE_VS_ECHO, AIM_CPU_VS_ECHO, AIM_MIXED_VS_PEER = 0.6, 1.5, 1.2


def readme_rows(results: dict) -> dict[str, str]:
    """README's two gateway rows of the Benchmarks table from one run, by the start of each row."""
    rows = {row["load"]: row for row in results["rows"]}
    echo, one, peer, mixed = rows["echo"], rows["analyze_one"], rows["peer_mixed"], rows["analyze_mixed"]
    ratio_one, ratio_mixed = results["ratios"]["analyze_one_vs_echo"], results["ratios"]["analyze_mixed_vs_peer"]
    cpu = one["server_cpu_us_per_request"] / echo["server_cpu_us_per_request"]
    met_one = "met" if ratio_one >= AIM_ONE_VS_ECHO and cpu <= AIM_CPU_VS_ECHO else "**not met**"
    met_mixed = "met" if ratio_mixed >= AIM_MIXED_VS_PEER else "**not met**"
    load = "load average {:.1f}".format(results["load_average"][0]) if "load_average" in results else "load unknown"
    access = "access log on" if results.get("gateway_access_log", True) else "access log off"
    access += ", Redis" if results.get("redis") else ", in-process cache"
    command = f"`python -m benchmarks.gateway_bench --seconds {results['seconds']:g} --write README.md`"
    return {
        ONE_ROW: f"{ONE_ROW} (`wrk -t1 -c{results['connections']}`, same run; gateway as its image starts it, "
                 f"{access}) | {one['requests_per_s']:,.0f} vs {echo['requests_per_s']:,.0f} req/s "
                 f"(**{ratio_one:.2f}x**), p99 {one['p99_ms']:.1f} vs {echo['p99_ms']:.1f} ms; server CPU "
                 f"{one['server_cpu_us_per_request']:.0f} vs {echo['server_cpu_us_per_request']:.0f} µs per request "
                 f"({cpu:.2f}x); {load} | >= {AIM_ONE_VS_ECHO}x, CPU <= {AIM_CPU_VS_ECHO}x the echo's ({met_one}) "
                 f"| {command} |",
        MIXED_ROW: f"{MIXED_ROW} ({results['symbols']} symbols x horizons 1..30 x thresholds) vs the in-process peer "
                   f"(windows in memory, features + ONNX per request) | {mixed['requests_per_s']:,.0f} vs "
                   f"{peer['requests_per_s']:,.0f} req/s (**{ratio_mixed:.2f}x**), p99 {mixed['p99_ms']:.1f} vs "
                   f"{peer['p99_ms']:.1f} ms; {load} | >= {AIM_MIXED_VS_PEER}x ({met_mixed}) | same |",
    }


def write_rows(path: Path, rows: dict[str, str]) -> None:
    """Replace the lines of `path` that start with each row's start (no figure typed by hand)."""
    lines = path.read_text().splitlines(keepends=True)
    for start, row in rows.items():
        found = [i for i, line in enumerate(lines) if line.startswith(start)]
        if len(found) != 1:
            raise ValueError(f"{path}: expected one line starting with {start!r}, found {len(found)}")
        lines[found[0]] = row + "\n"
    path.write_text("".join(lines))


def regression_ratios() -> dict[str, dict]:
    """Gateway req/s over the two references' in the same run (higher is better); ~40 s."""
    results = compare(seconds=3.0)
    failed = [f"{r['load']} ({failed_requests(r)})" for r in results["rows"] if failed_requests(r)]
    if failed:
        raise RuntimeError(f"gateway_bench: failed requests (non-2xx answers or socket errors) under {', '.join(failed)}")
    return {name: {"value": results["ratios"][name], "higher_is_better": True}
            for name in ("analyze_one_vs_echo", "analyze_mixed_vs_peer")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per load")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the gateway")
    parser.add_argument("--window", type=int, default=256, help="bars per window")
    parser.add_argument("--redis-url", help="give the gateway this Redis (default: in-process cache)")
    parser.add_argument("--profile", type=Path, help="py-spy the gateway under its loads; stacks into this folder")
    parser.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                        help="keep the servers up this long after the loads, for wrk runs by hand")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn",
                        help="what serves the gateway (the references stay on uvicorn)")
    parser.add_argument("--write", type=Path, action="append", default=[], metavar="README",
                        help="rewrite the gateway rows of this file's Benchmarks table from this run")
    args = parser.parse_args(argv)
    try:
        results = compare(args.seconds, args.workers, args.window, args.redis_url, args.profile, args.hold,
                          args.server)
    except WrkMissing as error:
        print(f"gateway_bench: {error}", file=sys.stderr)
        return 2
    print_table(results)
    for path in args.write:
        write_rows(path, readme_rows(results))
        print(f"rows rewritten: {path}")
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
