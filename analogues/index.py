"""The analogue index: every indexed (symbol, day)'s standardised feature vector with what followed it.

A row is one sample of the training data (`training.dataset`): the 51 features of
`feature_kernels.compute_features` at day t, standardised with the model's train-only feature scaler
(the exported network's own arithmetic: `(f - mean) / scale`, NaN -> 0, clipped to +-FEATURE_CLIP), and
the realised forward log returns log(close[t+h] / close[t]) at h = 1, 5, 30 trading days.

Leakage rule: a row may answer a query of day q only if its outcomes were all known before q, i.e.
its day t lies before q minus the largest indexed horizon (H = 30 weekdays: t < busday_offset(q, -H))
and its last outcome bar (t+H trading days of its own symbol) lies before q. Each row carries the first
query day it may answer (`usable_from`); rows are stored sorted by it, so the rows a query may see are a
prefix of the index and FAISS filters them with one `IDSelectorRange`.

The gateway loads and queries this module: it imports numpy and faiss only (no torch, no Numba).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

FORMAT = "wig80-analogue-index/1"
HORIZONS = (1, 5, 30)  # the outcomes kept per row
LEAKAGE_HORIZON = max(HORIZONS)  # an analogue must be this many trading days older than the query
FEATURE_CLIP = 10.0  # training.forecaster.FEATURE_CLIP (that module imports torch; a test keeps them equal)
SYMBOL_DTYPE = "<U16"
EXACT_CHUNK = 256  # queries per exact-search step
IndexKind = Literal["flat", "hnsw", "ivf"]


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index: `flat` is exact L2 search; `hnsw` and `ivf` are approximate (benchmarks/analogues_bench.py)."""

    kind: IndexKind = "flat"
    hnsw_m: int = 32
    hnsw_ef_search: int = 64
    hnsw_ef_construction: int = 80
    ivf_lists: int = 0  # 0: 4 sqrt(N)
    ivf_probes: int = 16

    def build(self, vectors: np.ndarray) -> faiss.Index:
        dim = vectors.shape[1]
        if self.kind == "flat":
            index = faiss.IndexFlatL2(dim)
        elif self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, self.hnsw_m)
            index.hnsw.efConstruction = self.hnsw_ef_construction
        elif self.kind == "ivf":
            lists = self.ivf_lists or max(1, int(4 * np.sqrt(len(vectors))))
            index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, min(lists, len(vectors)))
            index.train(vectors)
        else:
            raise ValueError(f"unknown index kind {self.kind!r}; choose flat, hnsw or ivf")
        index.add(vectors)
        return index

    def search_parameters(self, selector: faiss.IDSelector | None) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.hnsw_ef_search)
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.ivf_probes)
        return faiss.SearchParameters(sel=selector)


def standardise(features: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Raw feature rows (N, F) -> the index's units: the model's scaling, NaN -> 0, clipped."""
    with np.errstate(invalid="ignore"):
        scaled = (np.asarray(features, dtype=np.float32) - mean) / scale
    return np.ascontiguousarray(np.clip(np.nan_to_num(scaled, nan=0.0), -FEATURE_CLIP, FEATURE_CLIP),
                                dtype=np.float32)


def usable_from(dates: np.ndarray, outcome_end: np.ndarray, horizon: int = LEAKAGE_HORIZON) -> np.ndarray:
    """The first query day each row may answer: after `horizon` weekdays and after its last outcome bar."""
    after_horizon = np.busday_offset(dates.astype("datetime64[D]"), horizon + 1, roll="forward")
    return np.maximum(after_horizon, outcome_end.astype("datetime64[D]") + np.timedelta64(1, "D"))


def admissible_before(query_date: np.datetime64, horizon: int = LEAKAGE_HORIZON) -> np.datetime64:
    """Analogues must be from days strictly before this one: the query day minus `horizon` weekdays."""
    return np.busday_offset(np.datetime64(query_date, "D"), -horizon, roll="backward")


@dataclass(frozen=True)
class Scaling:
    """The model's train-only feature scaler and the feature names it applies to."""

    feature_names: tuple[str, ...]
    mean: np.ndarray  # float32 (F,)
    scale: np.ndarray  # float32 (F,)


@dataclass(frozen=True)
class Situations:
    """Rows to index, in any order: raw features of (symbol, day t) and what followed."""

    features: np.ndarray  # (N, F) raw, as compute_features gives them
    symbols: np.ndarray  # (N,)
    dates: np.ndarray  # datetime64[D] (N,): t
    outcome_end: np.ndarray  # datetime64[D] (N,): the bar t+30 of the row's symbol
    outcomes: np.ndarray  # (N, len(HORIZONS)): realised log returns


@dataclass(frozen=True)
class Neighbours:
    rows: np.ndarray  # int64 (Q, k): index rows, nearest first; -1 where fewer than k rows were admissible
    distances: np.ndarray  # float32 (Q, k): Euclidean distance in standardised units; inf where rows is -1


@dataclass
class AnalogueIndex:
    vectors: np.ndarray  # float32 (N, F), standardised, sorted by usable_from
    symbols: np.ndarray  # <U16 (N,)
    dates: np.ndarray  # datetime64[D] (N,): the day t of each row
    outcome_end: np.ndarray  # datetime64[D] (N,): the day t+30 of its symbol
    usable_from: np.ndarray  # datetime64[D] (N,), ascending
    outcomes: np.ndarray  # float32 (N, len(HORIZONS)): realised log returns
    scaling: Scaling
    spec: IndexSpec
    k: int  # the analogues a query returns by default
    run: str = ""
    _faiss: faiss.Index | None = None

    @classmethod
    def build(cls, rows: Situations, scaling: Scaling, spec: IndexSpec, k: int, run: str = "") -> AnalogueIndex:
        if len(rows.features) == 0:
            raise ValueError("no rows to index: the run has no samples before its test start")
        scaling = Scaling(tuple(scaling.feature_names), np.asarray(scaling.mean, np.float32),
                          np.asarray(scaling.scale, np.float32))
        usable = usable_from(rows.dates, rows.outcome_end)
        order = np.lexsort((rows.symbols.astype(str), rows.dates, usable))
        index = cls(standardise(rows.features, scaling.mean, scaling.scale)[order],
                    rows.symbols.astype(SYMBOL_DTYPE)[order], rows.dates.astype("datetime64[D]")[order],
                    rows.outcome_end.astype("datetime64[D]")[order], usable[order],
                    np.asarray(rows.outcomes, np.float32)[order], scaling, spec, int(k), run)
        index._faiss = spec.build(index.vectors)
        return index

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def date_range(self) -> tuple[str, str]:
        return str(self.dates.min()), str(self.dates.max())

    def standardise(self, features: np.ndarray) -> np.ndarray:
        return standardise(np.atleast_2d(features), self.scaling.mean, self.scaling.scale)

    def admissible_count(self, query_dates: np.ndarray) -> np.ndarray:
        """Per query day, how many rows (a prefix of the index) its outcomes-known rule admits."""
        return np.searchsorted(self.usable_from, np.asarray(query_dates, dtype="datetime64[D]"), side="right")

    def search(self, vectors: np.ndarray, query_dates: np.ndarray, k: int | None = None) -> Neighbours:
        """The k nearest admissible rows of each standardised query vector (Q, F), query days (Q,)."""
        k = k or self.k
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        rows = np.full((len(vectors), k), -1, dtype=np.int64)
        squared = np.full((len(vectors), k), np.inf, dtype=np.float32)
        counts = self.admissible_count(query_dates)
        search = self._exact if self.spec.kind == "flat" else self._filtered
        search(vectors, counts, k, rows, squared)
        return Neighbours(rows, np.sqrt(np.maximum(squared, 0.0)))

    def _filtered(self, vectors: np.ndarray, counts: np.ndarray, k: int, rows: np.ndarray,
                  squared: np.ndarray) -> None:
        """One FAISS search per distinct admissible prefix, restricted to it by an IDSelectorRange."""
        for count in np.unique(counts[counts > 0]):
            group = np.flatnonzero(counts == count)
            selector = None if count == len(self) else faiss.IDSelectorRange(0, int(count))
            found_squared, found = self._faiss.search(vectors[group], k,
                                                      params=self.spec.search_parameters(selector))
            rows[group], squared[group] = found, np.where(found >= 0, found_squared, np.inf)

    def _exact(self, vectors: np.ndarray, counts: np.ndarray, k: int, rows: np.ndarray, squared: np.ndarray) -> None:
        """Exact search in chunks of queries sorted by admissible prefix: FAISS's BLAS kNN over the prefix all
        of a chunk may see, and the few rows that only some of them may see scored directly and masked.

        (A search per distinct prefix, as for the approximate kinds, runs a few queries at a time without
        BLAS: 30 s instead of ~3 for the stooq validation split.)"""
        order = np.argsort(counts, kind="stable")
        for start in range(0, len(order), EXACT_CHUNK):
            chunk = order[start : start + EXACT_CHUNK]
            low, high = int(counts[chunk].min()), int(counts[chunk].max())
            candidates, candidate_rows = [], []
            if low > 0:
                found_squared, found = faiss.knn(vectors[chunk], self.vectors[:low], min(k, low))
                candidates.append(found_squared)
                candidate_rows.append(found)
            if high > low:
                tail = self.vectors[low:high]
                tail_squared = (np.sum(vectors[chunk] ** 2, axis=1)[:, None] + np.sum(tail**2, axis=1)[None, :]
                                - 2.0 * vectors[chunk] @ tail.T)
                tail_rows = np.broadcast_to(np.arange(low, high), tail_squared.shape)
                candidates.append(np.where(tail_rows < counts[chunk][:, None], tail_squared, np.inf))
                candidate_rows.append(tail_rows)
            if not candidates:
                continue
            all_squared, all_rows = np.hstack(candidates), np.hstack(candidate_rows)
            take = min(k, all_squared.shape[1])
            nearest = np.argsort(all_squared, axis=1, kind="stable")[:, :take]
            best = np.take_along_axis(all_squared, nearest, axis=1)
            rows[chunk, :take] = np.where(np.isfinite(best), np.take_along_axis(all_rows, nearest, axis=1), -1)
            squared[chunk, :take] = best

    # ---- the file -------------------------------------------------------------------------------------

    def header(self) -> dict:
        first, last = self.date_range
        return {"format": FORMAT, "run": self.run, "rows": len(self), "first_date": first, "last_date": last,
                "symbols": int(len(np.unique(self.symbols))), "horizons": list(HORIZONS),
                "leakage_horizon": LEAKAGE_HORIZON, "feature_names": list(self.scaling.feature_names), "k": self.k,
                "spec": asdict(self.spec)}

    def save(self, path: Path) -> Path:
        """One .npz file (no pickled objects); an approximate index keeps its FAISS structure too."""
        arrays = {"vectors": self.vectors, "symbols": self.symbols, "dates": self.dates,
                  "outcome_end": self.outcome_end, "usable_from": self.usable_from, "outcomes": self.outcomes,
                  "scaler_mean": self.scaling.mean, "scaler_scale": self.scaling.scale,
                  "header": np.frombuffer(json.dumps(self.header()).encode(), dtype=np.uint8)}
        if self.spec.kind != "flat":  # an exact index is its vectors; the others keep their graph or lists
            arrays["faiss"] = faiss.serialize_index(self._faiss)
        path = Path(path)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> AnalogueIndex:
        with np.load(Path(path), allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            if header.get("format") != FORMAT:
                raise ValueError(f"{path}: not an analogue index of format {FORMAT} ({header.get('format')!r})")
            spec = IndexSpec(**header["spec"])
            scaling = Scaling(tuple(header["feature_names"]), data["scaler_mean"], data["scaler_scale"])
            index = cls(data["vectors"], data["symbols"], data["dates"], data["outcome_end"], data["usable_from"],
                        data["outcomes"], scaling, spec, int(header["k"]), header.get("run", ""))
            index._faiss = faiss.deserialize_index(data["faiss"]) if "faiss" in data else spec.build(index.vectors)
        return index


def file_facts(path: Path) -> dict:
    """What the registry records about an index file: name, size, checksum, rows and date range."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path), "rows": header["rows"],
            "first_date": header["first_date"], "last_date": header["last_date"], "symbols": header["symbols"],
            "kind": header["spec"]["kind"], "k": header["k"]}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
