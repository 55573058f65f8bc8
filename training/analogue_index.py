"""The historical-analogue index of a training run: its samples before the test start, standardised with
the model's scaler (the index itself, its search and its file: `analogues.index`).

The rows are the run's train and validation samples (`training.dataset`), i.e. every sample whose last
outcome bar lies before the test start; the training report scores the index built here from the same
dataset (`training.analogue_baseline`), and `wig80 export` builds it again from the store with the run's
stored split dates and scaler (`index_of_run`), so the served index is the scored one when the bars are
the same. `training.dataset` (torch) is imported by the functions that need it: the exporter imports this
module at its top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analogues.index import HORIZONS, AnalogueIndex, IndexSpec, Scaling, Situations, file_facts

INDEX_FILE = "analogues.npz"
# exact search: chosen on benchmarks/analogues_bench.py (docs/analogues.md, "Exact or approximate")
INDEX_SPEC = IndexSpec("flat")
# analogues behind a forecast, chosen on the stooq validation NLL (`python -m wig80.commands.choose_analogue_k`,
# docs/analogues.md "How many analogues"); a query lists the nearest analogues.query.LISTED of them
DEFAULT_K = 300


class NoIndex(ValueError):
    """The run cannot have an index (no stored split or scaler, no bars); the message says why."""


def index_of_samples(samples, scaling: Scaling, run: str = "", spec: IndexSpec = INDEX_SPEC,
                     k: int = DEFAULT_K) -> AnalogueIndex:
    """`samples`: a `training.dataset.Samples` (raw features, 30 targets, symbols, dates, target_end)."""
    columns = [h - 1 for h in HORIZONS]
    rows = Situations(samples.features, samples.symbols, samples.dates, samples.target_end,
                      samples.targets[:, columns])
    return AnalogueIndex.build(rows, scaling, spec, k, run)


def indexed_samples(dataset):
    """The samples of a `training.dataset.MarketDataset` whose outcomes all end before its test start."""
    from training.dataset import Samples

    return Samples.concatenate([dataset.train, dataset.val])


def index_of_dataset(dataset, run: str = "", spec: IndexSpec = INDEX_SPEC, k: int = DEFAULT_K) -> AnalogueIndex:
    return index_of_samples(indexed_samples(dataset), dataset_scaling(dataset), run, spec, k)


def dataset_scaling(dataset) -> Scaling:
    return Scaling(dataset.feature_names, dataset.feature_scaler.mean, dataset.feature_scaler.scale)


def check_metadata(metadata: dict) -> dict:
    """The model file's metadata (`training.checkpoint.load_forecaster`), checked to name what an index needs."""
    missing = [key for key in ("split", "scaler", "config", "window", "feature_names") if key not in metadata]
    if missing:
        untrained = " (an untrained run)" if metadata.get("untrained") else ""
        raise NoIndex(f"run {metadata.get('run')}{untrained} has no {', '.join(missing)} in its model file")
    return metadata


def index_of_run(metadata: dict, market_db_url: str | None, home: Path) -> AnalogueIndex:
    """The index of the run whose model file holds `metadata`, from the bars in the store at
    (`market_db_url`, `home`), on the run's stored split dates, with its stored feature scaler."""
    from training.dataset import SplitDates, make_dataset

    check_metadata(metadata)
    series = stored_series(market_db_url, home, metadata["config"].get("symbols"))
    if not series:
        raise NoIndex(f"the bar store ({market_db_url or home}) is empty")
    try:
        dataset = make_dataset(series, int(metadata["window"]), split_dates=SplitDates.from_dict(metadata["split"]))
    except ValueError as error:  # a store without the run's history
        raise NoIndex(str(error)) from error
    scaler = metadata["scaler"]["features"]
    scaling = Scaling(tuple(metadata["feature_names"]), np.asarray(scaler["mean"], np.float32),
                      np.asarray(scaler["scale"], np.float32))
    return index_of_samples(indexed_samples(dataset), scaling, str(metadata["run"]))


def stored_series(market_db_url: str | None, home: Path, symbols: list[str] | None) -> list:
    """Every stored symbol's bars (or those of `symbols` that are stored); never writes to the store."""
    from market_data.stores import open_store
    from market_data.stores.sync import run_sync

    async def read() -> list:
        async with open_store(market_db_url, home) as store:
            stored = await store.list_symbols()
            wanted = [s for s in (symbols or sorted(stored)) if s in stored]
            return [await store.read_range(symbol, None, None) for symbol in wanted]

    return run_sync(read())


def write_run_index(metadata: dict, market_db_url: str | None, home: Path,
                    directory: Path) -> tuple[Path | None, dict]:
    """The run's index written to `directory` and what the registry records of it (`file_facts`); a run
    that cannot have one gets (None, {"missing": why}) and is exported without it."""
    try:
        index = index_of_run(metadata, market_db_url, home)
    except NoIndex as error:
        return None, {"missing": str(error)}
    path = index.save(Path(directory) / INDEX_FILE)
    return path, file_facts(path)


def analogue_summary(facts: dict) -> str:
    if "missing" in facts:
        return f"no analogue index: {facts['missing']}"
    return (f"analogue index: {facts['rows']} rows of {facts['symbols']} symbols, {facts['first_date']} to "
            f"{facts['last_date']}, {facts['bytes'] / 2**20:.1f} MiB, {facts['kind']} search, k {facts['k']}")
