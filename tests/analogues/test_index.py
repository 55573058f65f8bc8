"""The index: the leakage rule, exact search, the approximate candidates' recall, the file round trip."""

from __future__ import annotations

import numpy as np
import pytest

from analogues.index import (
    FEATURE_CLIP,
    LEAKAGE_HORIZON,
    AnalogueIndex,
    IndexSpec,
    Scaling,
    Situations,
    admissible_before,
    standardise,
)
from training.analogue_index import INDEX_SPEC


def brute_force(index: AnalogueIndex, vectors: np.ndarray, dates: np.ndarray, k: int) -> list[np.ndarray]:
    """The k nearest rows among those the leakage rule admits, by numpy alone (the reference)."""
    out = []
    for vector, date in zip(vectors, dates, strict=True):
        before = admissible_before(date)
        allowed = np.flatnonzero((index.dates < before) & (index.outcome_end < date))
        distance = ((index.vectors[allowed] - vector) ** 2).sum(axis=1)
        out.append(allowed[np.argsort(distance, kind="stable")[:k]])
    return out


def query_rows(dataset, count: int = 120, seed: int = 0):
    """Queries spread over every split, so that some see few admissible rows and some all of them."""
    from training.dataset import Samples

    everything = Samples.concatenate([dataset.train, dataset.val, dataset.test])
    rows = np.random.default_rng(seed).choice(len(everything), size=count, replace=False)
    return everything.features[rows], everything.dates[rows]


def test_no_analogue_is_from_on_or_after_the_query_date_minus_the_horizon(tiny_index, tiny_dataset):
    features, dates = query_rows(tiny_dataset)
    found = tiny_index.search(tiny_index.standardise(features), dates, k=25)
    checked = 0
    for rows, date in zip(found.rows, dates, strict=True):
        rows = rows[rows >= 0]
        limit = np.busday_offset(date, -LEAKAGE_HORIZON, roll="backward")
        assert np.all(tiny_index.dates[rows] < limit), f"an analogue of {date} is from on or after {limit}"
        assert np.all(tiny_index.outcome_end[rows] < date), f"an analogue of {date} has an outcome not yet known"
        checked += len(rows)
    assert checked > 0.5 * 25 * len(dates)  # most queries did find analogues: the rule was exercised
    assert (found.rows < 0).any()  # and some early ones had fewer admissible rows than k


def test_the_leakage_rule_uses_only_known_outcomes_on_a_hand_made_calendar():
    """Rows on consecutive weekdays; a query on day q sees exactly the rows older than q - 30 weekdays."""
    days = np.busday_offset(np.datetime64("2024-01-01"), np.arange(100))
    ends = np.busday_offset(days, LEAKAGE_HORIZON)
    rows = Situations(np.zeros((100, 2)), np.array(["A"] * 100), days, ends, np.zeros((100, 3)))
    index = AnalogueIndex.build(rows, Scaling(("f0", "f1"), np.zeros(2), np.ones(2)), IndexSpec("flat"), k=100)
    query = days[60]
    found = index.search(np.zeros((1, 2), np.float32), np.array([query]), k=100).rows[0]
    assert sorted(index.dates[found[found >= 0]]) == list(days[: 60 - LEAKAGE_HORIZON])
    assert admissible_before(query) == days[60 - LEAKAGE_HORIZON]


def test_exact_search_finds_the_brute_force_neighbours(tiny_index, tiny_dataset):
    features, dates = query_rows(tiny_dataset, seed=1)
    vectors = tiny_index.standardise(features)
    found = tiny_index.search(vectors, dates, k=10)
    for got, expected, vector in zip(found.rows, brute_force(tiny_index, vectors, dates, 10), vectors, strict=True):
        got = got[got >= 0]
        assert len(got) == len(expected)
        # the same distances (ties may be ordered differently)
        np.testing.assert_allclose(np.sort(((tiny_index.vectors[got] - vector) ** 2).sum(axis=1)),
                                   np.sort(((tiny_index.vectors[expected] - vector) ** 2).sum(axis=1)), rtol=1e-4)


@pytest.mark.parametrize("spec", [INDEX_SPEC, IndexSpec("hnsw")], ids=["chosen", "hnsw"])
def test_recall_at_10_against_exact_search(tiny_dataset, spec):
    """The bar an index kind is held to: recall@10 >= 0.95 against brute-force exact search, with the
    leakage filter in force (the chosen kind, and HNSW, the approximate candidate that met it in
    benchmarks/analogues_bench.py)."""
    from training.analogue_index import index_of_dataset

    index = index_of_dataset(tiny_dataset, spec=spec)
    features, dates = query_rows(tiny_dataset, count=200, seed=2)
    vectors = index.standardise(features)
    truth, got = brute_force(index, vectors, dates, 10), index.search(vectors, dates, 10).rows
    hits = sum(len(set(t) & set(g[g >= 0])) for t, g in zip(truth, got, strict=True))
    assert hits / sum(len(t) for t in truth) >= 0.95


def test_standardising_is_the_models_own_scaling(tiny_dataset):
    from training.forecaster import FEATURE_CLIP as TRAINING_CLIP

    assert FEATURE_CLIP == TRAINING_CLIP
    raw = tiny_dataset.test.features.copy()
    raw[0, 3], raw[1, 5] = np.nan, 1e9  # NaN -> 0, far outliers clipped
    scaler = tiny_dataset.feature_scaler
    np.testing.assert_array_equal(standardise(raw, scaler.mean, scaler.scale), scaler.transform_features(raw))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_the_file_round_trip_answers_the_same(tiny_dataset, tmp_path, kind):
    from training.analogue_index import index_of_dataset

    index = index_of_dataset(tiny_dataset, run="tiny", spec=IndexSpec(kind))
    loaded = AnalogueIndex.load(index.save(tmp_path / "analogues.npz"))
    features, dates = query_rows(tiny_dataset, seed=3)
    assert loaded.header() == index.header()
    np.testing.assert_array_equal(loaded.search(loaded.standardise(features), dates).rows,
                                  index.search(index.standardise(features), dates).rows)
    assert not list(tmp_path.glob(".*partial"))


def test_a_file_that_is_not_an_index_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, header=np.frombuffer(b'{"format": "something-else"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not an analogue index"):
        AnalogueIndex.load(path)
