"""Exact or approximate analogue search: recall against exact search and speed beside it, in one run.

    python -m benchmarks.analogues_bench                               # synthetic market, 80 x 2000 days
    python -m benchmarks.analogues_bench --home /tmp/an_stooq          # the bars stored in that home

The rows are what the index holds: `compute_features` of every window (W = 256), standardised with a
scaler fitted on them. The index gets the rows of the first 90% of the dates; queries are rows of the last
10% (as in serving, every indexed row is then admissible). For each FAISS index kind: build time,
recall@10 and recall@300 against exact search (IndexFlatL2), and the time per query at batch 1 (one
symbol) and batch 80 (every symbol of a new bar, the gateway's precompute), as a speed-up over exact
search measured in the same run (each the best of 5 rounds, candidate and exact in turns). One FAISS thread, so the figures do not depend on the machine's load
from other processes as much. Results: benchmarks/results/analogues_bench.json and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from analogues.index import AnalogueIndex, IndexSpec, Scaling, Situations

RESULTS = Path(__file__).resolve().parent / "results" / "analogues_bench.json"
WINDOW = 256
K_FORECAST = 300
QUERIES = 400
ROUNDS = 5
CANDIDATES = (
    [IndexSpec("flat")]
    + [IndexSpec("hnsw", hnsw_ef_search=ef) for ef in (16, 32, 64, 128, 320)]
    + [IndexSpec("ivf", ivf_probes=p) for p in (4, 8, 16, 32)]
)


def market_rows(home: Path | None, symbols: int, days: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw feature rows, their dates) of every full window of the market."""
    from training.dataset import build_samples

    if home is None:
        from market_data.synthetic import synthesize

        series = synthesize(symbols, days, 7)
    else:
        from training.analogue_index import stored_series

        series = stored_series(None, home, None)
    samples, usable, _ = build_samples(series, WINDOW)
    samples = samples.subset(np.flatnonzero(usable))
    return samples.features, samples.dates


def split_by_date(features: np.ndarray, dates: np.ndarray) -> tuple[AnalogueIndex, np.ndarray, np.ndarray]:
    from training.dataset import Scaler

    cut = np.quantile(dates.astype("int64"), 0.9).astype("datetime64[D]")
    indexed, later = dates < cut, np.flatnonzero(dates >= cut)
    queries = np.random.default_rng(0).choice(later, size=min(QUERIES, len(later)), replace=False)
    scaler = Scaler.fit(features[indexed])
    n = int(indexed.sum())
    rows = Situations(features[indexed], np.array(["S"] * n), dates[indexed], dates[indexed], np.zeros((n, 3)))
    scaling = Scaling(tuple(f"f{i}" for i in range(features.shape[1])), scaler.mean, scaler.scale)
    exact = AnalogueIndex.build(rows, scaling, IndexSpec("flat"), K_FORECAST)
    return exact, exact.standardise(features[queries]), dates[queries]


def seconds_per_query(index: AnalogueIndex, vectors: np.ndarray, dates: np.ndarray, batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(vectors), batch):
        index.search(vectors[i : i + batch], dates[i : i + batch], K_FORECAST)
    return (time.perf_counter() - started) / len(vectors)


def timed_against_exact(exact: AnalogueIndex, index: AnalogueIndex, vectors: np.ndarray, dates: np.ndarray,
                        batch: int, rounds: int = ROUNDS) -> tuple[float, float]:
    """(candidate, exact) seconds per query, each the best of `rounds` taken in turns, so that a busy
    moment of the shared machine slows both sides alike."""
    candidate, reference = np.inf, np.inf
    for _ in range(rounds):
        reference = min(reference, seconds_per_query(exact, vectors, dates, batch))
        candidate = min(candidate, seconds_per_query(index, vectors, dates, batch))
    return candidate, reference


def recall(truth: np.ndarray, got: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(t[:k]) & set(g[:k])) / k for t, g in zip(truth, got, strict=True)]))


def measure(exact: AnalogueIndex, vectors: np.ndarray, dates: np.ndarray) -> list[dict]:
    truth = exact.search(vectors, dates, K_FORECAST).rows
    rows = []
    for spec in CANDIDATES:
        started = time.perf_counter()
        index = replace(exact, spec=spec, _faiss=spec.build(exact.vectors)) if spec.kind != "flat" else exact
        build = time.perf_counter() - started
        got = index.search(vectors, dates, K_FORECAST).rows
        row = {"kind": spec.kind, "parameter": _parameter(spec), "build_s": build,
               "recall_at_10": recall(truth, got, 10), "recall_at_300": recall(truth, got, K_FORECAST)}
        for batch in (1, 80):
            candidate, reference = timed_against_exact(exact, index, vectors, dates, batch)
            row |= {f"ms_per_query_batch_{batch}": 1e3 * candidate, f"exact_ms_per_query_batch_{batch}": 1e3 * reference,
                    f"speedup_batch_{batch}": reference / candidate}
        rows.append(row)
    return rows


def _parameter(spec: IndexSpec) -> str:
    return {"flat": "exact", "hnsw": f"M {spec.hnsw_m}, efSearch {spec.hnsw_ef_search}",
            "ivf": f"nprobe {spec.ivf_probes}"}[spec.kind]


def table(result: dict) -> list[str]:
    lines = [f"{result['rows']} indexed rows x {result['features']} features, {result['queries']} queries, "
             f"k {K_FORECAST}, 1 FAISS thread", "",
             "| index | parameter | build s | recall@10 | recall@300 | ms/query batch 1 (exact) | speed-up vs exact "
             "| ms/query batch 80 (exact) | speed-up vs exact |", "|" + " --- |" * 9]
    for r in result["candidates"]:
        lines.append(f"| {r['kind']} | {r['parameter']} | {r['build_s']:.2f} | {r['recall_at_10']:.3f} | "
                     f"{r['recall_at_300']:.3f} | {r['ms_per_query_batch_1']:.3f} ({r['exact_ms_per_query_batch_1']:.3f}) | "
                     f"{r['speedup_batch_1']:.2f}x | {r['ms_per_query_batch_80']:.3f} ({r['exact_ms_per_query_batch_80']:.3f}) | "
                     f"{r['speedup_batch_80']:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analogues_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="index the bars stored in this WIG80_HOME (embedded store)")
    parser.add_argument("--symbols", type=int, default=80)
    parser.add_argument("--days", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)
    features, dates = market_rows(args.home, args.symbols, args.days)
    exact, vectors, query_dates = split_by_date(features, dates)
    result = {"source": str(args.home) if args.home else f"synthetic {args.symbols} x {args.days} days",
              "rows": len(exact), "features": exact.vectors.shape[1], "queries": len(vectors),
              "candidates": measure(exact, vectors, query_dates)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join([f"source: {result['source']}", *table(result), f"written to {args.out}"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
