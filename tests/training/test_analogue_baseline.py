"""The analogue forecast scored as a baseline of the training report, on a hand-checked case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.fixtures.analogues import hand_index
from training.analogue_baseline import analogue_forecast, score_split


def test_the_forecast_and_its_scores_match_a_hand_computation():
    index = hand_index()
    query_day = np.datetime64("2021-06-01")
    found = index.search(index.standardise(np.array([[1.0], [1.02]])), np.array([query_day, query_day + 1]), 3)
    assert sorted(index.symbols[found.rows[0]]) == ["A", "B", "C"]
    mean, std = analogue_forecast(index, found.rows)
    # by hand: mean 0.01, sample std sqrt((0 + 0.02^2 + 0.02^2) / 2) = 0.02
    np.testing.assert_allclose(mean[:, 0], [0.01, 0.01], atol=1e-7)
    np.testing.assert_allclose(std[:, 0], [0.02, 0.02], atol=1e-7)
    target = np.array([[0.03, 0.0, 0.0], [-0.01, 0.0, 0.0]])
    scores = score_split(mean, std, target, np.array([query_day, query_day + 1]))
    # NLL of N(0.01, 0.02^2) at 0.03 and at -0.01: both one std away
    nll = 0.5 * math.log(2 * math.pi * 0.02**2) + 0.5
    assert scores["distribution"]["h1"]["nll"] == pytest.approx(nll, rel=1e-5)
    # CRPS of a Gaussian one std away: sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)) with z = 1
    crps = 0.02 * (1 * (2 * 0.8413447461 - 1) + 2 * 0.2419707245 - 1 / math.sqrt(math.pi))
    assert scores["distribution"]["h1"]["crps"] == pytest.approx(crps, rel=1e-5)
    assert scores["distribution"]["h1"]["coverage"]["95"] == 1.0 and scores["distribution"]["h1"]["coverage"]["50"] == 0.0
    # mean 0.01 > 0: right on the 0.03 day, wrong on the -0.01 day; h5/h30 targets of 0 are not counted
    assert scores["directional_accuracy"]["h1"] == 0.5 and scores["directional_se"]["h1"] == pytest.approx(0.5 / math.sqrt(2))
    assert scores["directional_accuracy"]["h5"] is None
    assert scores["rows"] == 2 and scores["rows_without_analogues"] == 0
