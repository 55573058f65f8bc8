"""The figures docs/market_data.md quotes on splits in the repository's real files (../shared/data/wig80).

    .venv/bin/python scripts/split_figures.py [--window 256]

1. The split-like days found in each GPW archive and stooq file, with their evidence and verdict.
2. Training samples on the files as they come (the raw GPW archive's APATOR unadjusted) against the
   same files imported through `wig80 data import` (APATOR back-adjusted): samples dropped, the 1-day
   target's standard deviation and how many targets exceed |log return| 1, before and after the drop.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import numpy as np

from market_data.bars import BarSeries
from market_data.importer import import_paths
from market_data.sources import read_bar_file
from market_data.splits import INDEX_SYMBOL, find_jumps
from market_data.stores import open_store
from training.dataset import build_samples

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wig80"
FILES = sorted((DATA / "gpw_archive").glob("*.csv")) + sorted((DATA / "stooq").glob("*.csv"))


def file_series(path: Path) -> BarSeries:
    return BarSeries.from_bars(read_bar_file(path).bars)


def target_figures(label: str, series: list[BarSeries], window: int, index: BarSeries) -> None:
    samples, keep, dropped = build_samples(series, window, index=index)
    one_day = samples.targets[:, 0].astype(np.float64)
    for name, rows in (("all samples", np.ones(len(keep), dtype=bool)), ("kept samples", keep)):
        print(f"{label}, {name}: {int(rows.sum())} samples, 1-day target std {one_day[rows].std():.4f}, "
              f"targets with |log return| > 1: {int((np.abs(samples.targets[rows]) > 1).sum())}")
    print(f"{label}: {dropped.describe()}")


async def imported(window: int, index: BarSeries) -> None:
    with tempfile.TemporaryDirectory() as home:
        async with open_store(None, Path(home)) as store:
            report = await import_paths([DATA / "indices" / "wig_d.csv", DATA / "gpw_archive", DATA / "stooq"], store)
            for action in report.actions:
                print(f"import recorded: {action.describe()}: {action.note}")
            symbols = [s for s in await store.list_symbols() if s != INDEX_SYMBOL]
            series = [await store.read_range(symbol) for symbol in symbols]
    target_figures("imported (adjusted)", series, window, index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=int, default=256)
    args = parser.parse_args()
    index = file_series(DATA / "indices" / "wig_d.csv")
    for path in FILES:
        for jump in find_jumps(file_series(path), index):
            print(f"{path.parent.name}/{path.name}: {jump.describe()}")
    target_figures("files as they come (raw)", [file_series(path) for path in FILES], args.window, index)
    asyncio.run(imported(args.window, index))


if __name__ == "__main__":
    main()
