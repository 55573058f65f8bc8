"""The analogue forecast and its scores on a hand-checked case."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analogues.baseline import analogue_forecast, score_split
from analogues.index import AnalogueIndex, IndexSpec, Scaling, Situations
from analogues.query import AnalogueQuery

OUTCOMES_H1 = (0.01, 0.03, -0.01)  # of the three rows nearest the query


def hand_index() -> AnalogueIndex:
    """One feature; rows 0..2 sit at 1.0, 1.1, 0.9 (nearest a query at 1.0), row 3 far away at 9."""
    days = np.busday_offset(np.datetime64("2020-01-01"), [0, 1, 2, 3])
    outcomes = np.array([[OUTCOMES_H1[0], 0.1, 0.2], [OUTCOMES_H1[1], 0.1, 0.2], [OUTCOMES_H1[2], -0.1, -0.2],
                         [0.5, 0.5, 0.5]], np.float32)
    rows = Situations(np.array([[1.0], [1.1], [0.9], [9.0]]), np.array(["A", "B", "C", "D"]), days,
                      np.busday_offset(days, 30), outcomes)
    return AnalogueIndex.build(rows, Scaling(("f",), np.zeros(1), np.ones(1)), IndexSpec("flat"), k=3, run="hand")


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


def test_a_query_lists_the_nearest_and_summarises_all_k():
    query = AnalogueQuery(hand_index(), listed=2)
    context = query.context("X", np.datetime64("2021-06-01").astype(object), np.array([1.0], np.float32))
    assert [a.symbol for a in context.analogues] == ["A", "B"]  # distance 0, then 0.1
    assert context.analogues[0].similarity == 1.0 and context.analogues[1].similarity == pytest.approx(1 / 1.1)
    assert context.analogues[1].returns == {"h1": pytest.approx(0.03), "h5": pytest.approx(0.1), "h30": pytest.approx(0.2)}
    h1 = context.forecast[0]
    assert (context.k, h1.horizon) == (3, 1)
    assert h1.mean == pytest.approx(0.01) and h1.std == pytest.approx(0.02)
    # numpy's linear quantiles of (-0.01, 0.01, 0.03): q05 at position 0.1 -> -0.008
    assert h1.quantiles["q05"] == pytest.approx(-0.008) and h1.quantiles["q50"] == pytest.approx(0.01)
    assert h1.up_fraction == pytest.approx(2 / 3)
    json.dumps(context.as_dict())  # ready to serialise


def test_a_query_before_any_outcome_is_known_gets_no_analogues():
    context = AnalogueQuery(hand_index()).context("X", np.datetime64("2020-01-10").astype(object),
                                                  np.array([1.0], np.float32))
    assert context.analogues == [] and context.forecast == [] and context.k == 0
