"""The gateway's query: the nearest analogues listed, the forecast over all k, on a hand-checked case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analogues.query import AnalogueQuery
from tests.fixtures.analogues import hand_index


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
