"""The tiny training run's dataset (session fixture `tiny_run`), the rows every analogue test indexes."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tiny_run):
    from training.analogue_index import stored_series
    from training.checkpoint import load_forecaster
    from training.dataset import SplitDates, make_dataset

    _, metadata = load_forecaster(tiny_run.run_dir)
    series = stored_series(None, tiny_run.home, None)
    return make_dataset(series, tiny_run.window, split_dates=SplitDates.from_dict(metadata["split"]))


@pytest.fixture(scope="session")
def tiny_index(tiny_dataset):
    from training.analogue_index import index_of_dataset

    return index_of_dataset(tiny_dataset, run="tiny")
