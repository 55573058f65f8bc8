"""feature_kernels benchmarks: each kernel vs TA-Lib, the whole feature vector vs the plain
TA-Lib + numpy.fft composition, single-window latency, and cold start.

    .venv/bin/python -m benchmarks.feature_kernels_bench            # full run, ~1-2 min
    .venv/bin/python -m benchmarks.feature_kernels_bench --quick    # smaller series, fewer runs

Writes benchmarks/results/feature_kernels.json and prints a table. `regression_ratios()` is the
quick subset that `make bench-check` compares against its baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import talib

from feature_kernels import BAND_EDGES, FEATURE_NAMES, compute_features
from feature_kernels import indicators as ind

RESULTS_PATH = Path(__file__).with_name("results") / "feature_kernels.json"
BATCH, DAYS = 80, 256


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up (and JIT compile on first use)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_bars(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 20.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    return np.column_stack([open_, high, low, close, rng.lognormal(10.0, 1.0, n)])


def talib_volatility(close: np.ndarray, period: int) -> np.ndarray:
    log_returns = np.concatenate([[np.nan], np.log(close[1:] / close[:-1])])
    return talib.STDDEV(log_returns, period, 1.0) * np.sqrt(period / (period - 1))


def indicator_pairs(bars: np.ndarray) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    o, h, lo, c, v = (np.ascontiguousarray(bars[:, k]) for k in range(5))
    return {
        "sma_20": (lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        "ema_20": (lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20)),
        "rsi_14": (lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        "macd_12_26_9": (lambda: ind.macd(c, 12, 26, 9), lambda: talib.MACD(c, 12, 26, 9)),
        "bollinger_20_2": (lambda: ind.bollinger(c, 20, 2.0, 2.0), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        "atr_14": (lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
        "obv": (lambda: ind.obv(c, v), lambda: talib.OBV(c, v)),
        "volatility_20": (lambda: ind.volatility(c, 20), lambda: talib_volatility(c, 20)),
    }


def paired_seconds(ours: Callable[[], object], reference: Callable[[], object], runs: int) -> tuple[float, float]:
    """Fastest time of each, the two taking turns call by call, so that a busy spell of the machine
    lands on both alike; the fastest of many short calls is the least disturbed one."""
    ours(), reference()  # warm-up (and JIT compile on first use)
    ours_times, reference_times = [], []
    for _ in range(runs):
        for fn, times in ((ours, ours_times), (reference, reference_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return min(ours_times), min(reference_times)


def bench_indicators(n: int, runs: int) -> dict[str, dict]:
    results = {}
    for name, (ours, reference) in indicator_pairs(random_bars(n)).items():
        ours_s, ref_s = paired_seconds(ours, reference, runs)
        results[name] = {"ours_ms": ours_s * 1e3, "talib_ms": ref_s * 1e3, "speedup": ref_s / ours_s}
        print(f"[feature_kernels_bench] {name:<16} ours {ours_s * 1e3:8.3f} ms  talib {ref_s * 1e3:8.3f} ms",
              flush=True)
    return results


def composed_features(window: np.ndarray) -> np.ndarray:
    """The feature vector as a user would write it without this package: TA-Lib per
    indicator, numpy for the rest, numpy.fft for the spectrum."""
    o, h, lo, c, v = (window[:, k].astype(np.float64) for k in range(5))
    log_c = np.log(c)
    r = np.diff(log_c)
    f: list[float] = [log_c[-1] - log_c[-1 - k] for k in (1, 5, 10, 20, 60)]
    f += [np.log(o[-1] / c[-2]), (h[-1] - lo[-1]) / c[-1],
          (c[-1] - lo[-1]) / (h[-1] - lo[-1]) if h[-1] > lo[-1] else 0.5]
    f += [c[-1] / talib.SMA(c, p)[-1] for p in (5, 10, 20, 50)]
    f += [c[-1] / talib.EMA(c, p)[-1] for p in (12, 26)]
    f += [talib.RSI(c, p)[-1] for p in (7, 14, 28)]
    f += [x[-1] / c[-1] for x in talib.MACD(c, 12, 26, 9)]
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    width = upper[-1] - lower[-1]
    f += [(c[-1] - lower[-1]) / width if width > 0 else 0.5, width / middle[-1]]
    f.append(talib.ATR(h, lo, c, 14)[-1] / c[-1])
    vols = [r[-p:].std(ddof=1) for p in (5, 10, 20, 60)]
    f += vols + [vols[0] / vols[2] if vols[2] > 1e-12 else 1.0, vols[2] / vols[3] if vols[3] > 1e-12 else 1.0]
    f.append(np.sqrt(np.sum(np.log(h[-20:] / lo[-20:]) ** 2) / (4 * np.log(2) * 20)))
    d = r[-60:] - r[-60:].mean()
    m2 = np.mean(d**2)
    f += [np.mean(d**3) / m2**1.5, np.mean(d**4) / m2**2 - 3] if m2 > 1e-24 else [0.0, 0.0]
    f.append(np.log(c[-1] / c[-60:].max()))
    f += [v[-1] / v[-p:].mean() if v[-p:].mean() > 0 else 1.0 for p in (5, 20)]
    f += [(v[-1] - v[-p:].mean()) / v[-p:].std() if v[-p:].std() > 1e-9 * v[-p:].mean() else 0.0
          for p in (20, 60)]
    obv = talib.OBV(c, v)
    f.append((obv[-1] - obv[-21]) / v[-20:].sum() if v[-20:].sum() > 0 else 0.0)
    f += composed_spectral(log_c)
    return np.asarray(f, dtype=np.float32)


def composed_spectral(log_c: np.ndarray) -> list[float]:
    n = log_c.size
    t = np.arange(n)
    slope, intercept = np.polyfit(t, log_c, 1)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * t / n)
    power = np.abs(np.fft.rfft((log_c - slope * t - intercept) * w)) ** 2 / (n * np.sum(w**2))
    power[1:] *= 2.0
    if n % 2 == 0:
        power[-1] /= 2.0
    power, freqs = power[1:], np.fft.rfftfreq(n)[1:]
    total = power.sum()
    if total < 1e-20:
        return [slope] + [0.0] * 12
    bands = [power[freqs < BAND_EDGES[0]].sum(), power[(freqs >= BAND_EDGES[0]) & (freqs < BAND_EDGES[1])].sum(),
             power[freqs >= BAND_EDGES[1]].sum()]
    p = power / total
    p = p[p > 0]
    return [slope, total, *bands, np.sum(freqs * power) / total,
            freqs[np.argmax(np.cumsum(power) >= 0.85 * total)],
            np.exp(np.mean(np.log(np.maximum(power, 1e-30)))) / np.mean(power),
            -np.sum(p * np.log(p)) / np.log(power.size), freqs[np.argmax(power)],
            *(b / total for b in bands)]


def batch_windows(batch: int = BATCH, days: int = DAYS) -> np.ndarray:
    bars = random_bars(batch * days + days, seed=1)
    return np.stack([bars[i * days:(i + 1) * days] for i in range(batch)]).astype(np.float32)


def bench_feature_vector(runs: int) -> dict[str, float]:
    windows = batch_windows()
    composed = np.stack([composed_features(w) for w in windows])
    ours = compute_features(windows)
    if composed.shape != ours.shape or not np.allclose(composed, ours, rtol=1e-4, atol=1e-5):
        worst = int(np.argmax(np.max(np.abs(composed - ours), axis=0)))
        raise RuntimeError(f"the composition disagrees with compute_features at {FEATURE_NAMES[worst]}")
    ours_s = median_seconds(lambda: compute_features(windows), runs)
    composed_s = median_seconds(lambda: [composed_features(w) for w in windows], max(3, runs // 10))
    serial_s = median_seconds(lambda: compute_features(windows, parallel=False), runs)
    single = windows[:1].copy()
    single_s = median_seconds(lambda: compute_features(single), runs * 20)
    print(f"[feature_kernels_bench] {BATCH}x{DAYS} ours {ours_s * 1e3:.3f} ms (one thread {serial_s * 1e3:.3f} ms)"
          f"  composed {composed_s * 1e3:.2f} ms  single window {single_s * 1e6:.1f} us", flush=True)
    return {"batch_ms": ours_s * 1e3, "batch_one_thread_ms": serial_s * 1e3, "composed_ms": composed_s * 1e3,
            "speedup": composed_s / ours_s, "speedup_one_thread": composed_s / serial_s,
            "single_window_us": single_s * 1e6}


_COLD_START_SCRIPT = """
import time
started = time.perf_counter()
import numpy as np
from feature_kernels import compute_features
imported = time.perf_counter()
compute_features(np.ones((1, 256, 5), np.float32))
done = time.perf_counter()
print(imported - started, done - imported)
"""


def bench_cold_start() -> dict[str, float]:
    """Two fresh processes sharing a new, empty Numba cache directory: the first compiles,
    the second loads the cache (what the Triton `features` model pays at load)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        runs = []
        for label in ("compile", "cached"):
            print(f"[feature_kernels_bench] cold start ({label}) ...", flush=True)
            out = subprocess.run([sys.executable, "-c", _COLD_START_SCRIPT], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            runs.append((float(out[0]), float(out[1])))
    (import_s, compile_s), (cached_import_s, cached_call_s) = runs
    return {"import_s": import_s, "first_call_compile_s": compile_s, "cached_import_s": cached_import_s,
            "cached_first_call_s": cached_call_s, "cached_total_s": cached_import_s + cached_call_s}


def regression_ratios() -> dict[str, dict]:
    """Kernel time / reference time measured in this run (lower is better); ~10 s."""
    ratios = {}
    for name, result in bench_indicators(200_000, 60).items():
        ratios[f"{name}_time_vs_talib"] = {"value": 1.0 / result["speedup"], "higher_is_better": False}
    vector = bench_feature_vector(20)
    ratios["feature_vector_time_vs_talib_numpy"] = {"value": 1.0 / vector["speedup_one_thread"],
                                                    "higher_is_better": False}
    return ratios


def print_table(results: dict) -> None:
    print(f"\n{'indicator (' + format(results['series_length'], ',') + ' bars)':<28} {'ours ms':>9} {'TA-Lib ms':>10} {'speedup':>8}")
    for name, r in results["indicators"].items():
        print(f"{name:<28} {r['ours_ms']:9.3f} {r['talib_ms']:10.3f} {r['speedup']:7.2f}x")
    v, c = results["feature_vector"], results["cold_start"]
    print(f"\nfeature vector {BATCH}x{DAYS}: {v['batch_ms']:.3f} ms ({v['speedup']:.1f}x), one thread "
          f"{v['batch_one_thread_ms']:.3f} ms ({v['speedup_one_thread']:.1f}x), vs TA-Lib+numpy "
          f"{v['composed_ms']:.2f} ms; single window {v['single_window_us']:.1f} us")
    print(f"cold start: import {c['import_s']:.2f} s + compile {c['first_call_compile_s']:.2f} s; "
          f"cache warm: {c['cached_total_s']:.2f} s (import {c['cached_import_s']:.2f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200,000 bars and fewer runs")
    args = parser.parse_args(argv)
    n, runs = (200_000, 15) if args.quick else (1_000_000, 41)
    results = {
        "series_length": n,
        "runs": runs,
        "indicators": bench_indicators(n, runs),
        "feature_vector": bench_feature_vector(runs),
        "cold_start": bench_cold_start(),
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nwrote {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
