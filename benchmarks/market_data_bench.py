"""Bar store benchmark: bulk append rows/s into each store and latency of reading the last 256 bars.

Run: `.venv/bin/python -m benchmarks.market_data_bench [--symbols 40 --days 2500 --reads 2000]`.
Writes benchmarks/results/market_data.json and prints a table. PostgreSQL is measured when
127.0.0.1:5432 answers (or WIG80_TEST_POSTGRES_URL), in a throw-away table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from market_data.bars import BarSeries
from market_data.stores import BarStore, open_store
from market_data.synthetic import synthesize

RESULTS = Path(__file__).parent / "results" / "market_data.json"
POSTGRES_URL = os.environ.get("WIG80_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
READ_BARS = 256


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            return True
    except OSError:
        return False


def _percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples), q))


async def measure_append(store: BarStore, market: list[BarSeries]) -> dict:
    rows = sum(len(series) for series in market)
    start = time.perf_counter()
    result = await store.append_many(market)
    append_s = time.perf_counter() - start
    assert result.stored == rows, result
    return {"rows": rows, "append_rows_per_s": rows / append_s}


async def measure_reads(stores: dict[str, BarStore], symbol: str, reads: int) -> dict[str, dict]:
    """Latency of reading the last 256 bars, the stores taking turns read by read, so that a busy
    spell of the machine lands on every store alike and their ratio stays meaningful."""
    for store in stores.values():
        for _ in range(20):  # warm caches and prepared statements
            await store.last_bars(symbol, READ_BARS)
    latencies: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(reads):
        for name, store in stores.items():
            start = time.perf_counter()
            series = await store.last_bars(symbol, READ_BARS)
            latencies[name].append((time.perf_counter() - start) * 1e3)
            assert len(series) == READ_BARS
    return {name: {"read_last_256_p50_ms": _percentile(samples, 50),
                   "read_last_256_p99_ms": _percentile(samples, 99),
                   "read_last_256_mean_ms": statistics.fmean(samples)}
            for name, samples in latencies.items()}


def raw_sqlite_insert_rows_per_s(market: list[BarSeries]) -> float:
    """Reference: plain sqlite3 executemany of the same rows into an in-memory table, no store around it."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE bars (symbol TEXT, day INTEGER, o REAL, h REAL, l REAL, c REAL, v REAL,"
                       " PRIMARY KEY (symbol, day)) WITHOUT ROWID")
    rows = [(s.symbol, int(d), *row) for s in market for d, row in zip(s.dates.astype(np.int64), s.ohlcv.tolist(),
                                                                         strict=True)]
    start = time.perf_counter()
    with connection:
        connection.executemany("INSERT INTO bars VALUES (?,?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - start
    connection.close()
    return len(rows) / elapsed


async def postgres_executemany_rows_per_s(market: list[BarSeries]) -> float:
    """Reference: row-by-row prepared INSERT (executemany) of the same rows, what COPY replaces."""
    import asyncpg

    table = f"wig80_bench_ref_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f"CREATE TABLE {table} (symbol TEXT, ts TIMESTAMP, open FLOAT8, high FLOAT8,"
                                 " low FLOAT8, close FLOAT8, volume FLOAT8, PRIMARY KEY (symbol, ts))")
        records = [(s.symbol, d, *row) for s in market
                   for d, row in zip(s.dates.astype("datetime64[us]").astype(object), s.ohlcv.tolist(), strict=True)]
        start = time.perf_counter()
        async with connection.transaction():
            await connection.executemany(f"INSERT INTO {table} VALUES ($1,$2,$3,$4,$5,$6,$7)"
                                         " ON CONFLICT DO NOTHING", records)
        return len(records) / (time.perf_counter() - start)
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()


async def run(symbols: int, days: int, reads: int) -> dict:
    market = synthesize(symbols, days, seed=0)
    symbol = market[len(market) // 2].symbol
    results: dict = {"symbols": symbols, "days": days, "reads": reads, "stores": {}}
    with tempfile.TemporaryDirectory() as home:
        async with open_store(None, Path(home)) as embedded:
            stores: dict[str, BarStore] = {"embedded": embedded}
            results["stores"]["embedded"] = await measure_append(embedded, market)
            results["stores"]["embedded"]["reference_raw_sqlite_rows_per_s"] = raw_sqlite_insert_rows_per_s(market)
            postgres = None
            if _postgres_reachable():
                postgres = open_store(f"{POSTGRES_URL}?table=wig80_bench_{uuid.uuid4().hex[:10]}", Path("."))
                stores["postgres"] = postgres
            else:
                print("PostgreSQL not reachable on 127.0.0.1:5432: only the embedded store is measured")
            try:
                if postgres is not None:
                    results["stores"]["postgres"] = await measure_append(postgres, market)
                    results["stores"]["postgres"]["reference_executemany_rows_per_s"] = \
                        await postgres_executemany_rows_per_s(market)
                for name, figures in (await measure_reads(stores, symbol, reads)).items():
                    results["stores"][name].update(figures)
            finally:
                if postgres is not None:
                    await postgres.drop_table()
                    await postgres.close()
    return results


def regression_ratios() -> dict[str, dict]:
    """Ratios against references measured in the same run (quick: a few seconds)."""
    results = asyncio.run(run(symbols=10, days=2000, reads=300))
    embedded = results["stores"]["embedded"]
    ratios = {
        "market_data_embedded_append_vs_raw_sqlite": {
            "value": embedded["append_rows_per_s"] / embedded["reference_raw_sqlite_rows_per_s"],
            "higher_is_better": True,
        }
    }
    if "postgres" in results["stores"]:
        postgres = results["stores"]["postgres"]
        ratios["market_data_postgres_copy_vs_executemany"] = {
            "value": postgres["append_rows_per_s"] / postgres["reference_executemany_rows_per_s"],
            "higher_is_better": True,
        }
        # The median, not the p99: the p99 of a few hundred reads is a handful of samples, too few to
        # gate on; the p99 is still measured and printed.
        ratios["market_data_postgres_read_p50_vs_embedded"] = {
            "value": postgres["read_last_256_p50_ms"] / embedded["read_last_256_p50_ms"],
            "higher_is_better": False,
        }
    return ratios


def print_table(results: dict) -> None:
    print(f"{results['symbols']} symbols x {results['days']} days, {results['reads']} reads of the last {READ_BARS} bars")
    print(f"{'store':<10} {'rows':>8} {'append rows/s':>14} {'reference rows/s':>17} {'read p50 ms':>12} {'read p99 ms':>12}")
    for name, r in results["stores"].items():
        reference = r.get("reference_raw_sqlite_rows_per_s") or r.get("reference_executemany_rows_per_s")
        print(f"{name:<10} {r['rows']:>8} {r['append_rows_per_s']:>14,.0f} {reference:>17,.0f} "
              f"{r['read_last_256_p50_ms']:>12.3f} {r['read_last_256_p99_ms']:>12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--days", type=int, default=2500)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    results = asyncio.run(run(args.symbols, args.days, args.reads))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
