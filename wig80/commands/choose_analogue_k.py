"""How many analogues a forecast is made of, chosen on the validation rows of a run.

`python -m wig80.commands.choose_analogue_k RUN_DIR`.

Builds the run's index from the store of the current settings (WIG80_HOME / MARKET_DB_URL) on its stored
split, then scores the analogue forecast for every k of the grid on the validation rows (the choice) and
on the test rows (shown, not used), and prints a markdown table. k is then
`training.analogue_index.DEFAULT_K`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analogues.index import HORIZONS
from settings import Settings
from training.analogue_baseline import analogue_forecast, score_split
from training.analogue_index import dataset_scaling, index_of_samples, indexed_samples, stored_series

GRID = (10, 20, 50, 100, 200, 300, 500, 1000)


def score_grid(run_dir: Path, market_db_url: str | None, home: Path, grid: tuple[int, ...] = GRID) -> dict:
    from training.checkpoint import load_forecaster
    from training.dataset import SplitDates, make_dataset

    _, metadata = load_forecaster(run_dir)
    series = stored_series(market_db_url, home, metadata["config"].get("symbols"))
    dataset = make_dataset(series, int(metadata["window"]), split_dates=SplitDates.from_dict(metadata["split"]))
    index = index_of_samples(indexed_samples(dataset), dataset_scaling(dataset), k=max(grid))
    columns = [h - 1 for h in HORIZONS]
    scores: dict = {}
    for split in ("val", "test"):
        samples = getattr(dataset, split)
        found = index.search(index.standardise(samples.features), samples.dates, max(grid))
        for k in grid:  # the k nearest are the first k columns of the largest search
            mean, std = analogue_forecast(index, found.rows[:, :k])
            scores.setdefault(k, {})[split] = score_split(mean, std, samples.targets[:, columns], samples.dates)
    return {"run": metadata["run"], "index_rows": len(index), "scores": scores}


def table(result: dict) -> list[str]:
    keys = [f"h{h}" for h in HORIZONS]
    lines = ["| k | " + " | ".join(f"val NLL {key}" for key in keys) + " | val NLL mean | val dir. h1 | "
             + " | ".join(f"test NLL {key}" for key in keys) + " | test dir. h1 |", "|" + " --- |" * 10]
    for k, splits in result["scores"].items():
        val, test = splits["val"], splits["test"]
        nll = [val["distribution"][key]["nll"] for key in keys]
        lines.append(f"| {k} | " + " | ".join(f"{x:.4f}" for x in nll) + f" | {sum(nll) / len(nll):.4f} | "
                     f"{val['directional_accuracy']['h1']:.3f} | "
                     + " | ".join(f"{test['distribution'][key]['nll']:.4f}" for key in keys)
                     + f" | {test['directional_accuracy']['h1']:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wig80.commands.choose_analogue_k", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args(argv)
    settings = Settings()
    result = score_grid(args.run_dir, settings.market_db_url, settings.home)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    best = min(result["scores"], key=lambda k: sum(
        result["scores"][k]["val"]["distribution"][f"h{h}"]["nll"] for h in HORIZONS))
    print("\n".join([f"run {result['run']}, index of {result['index_rows']} rows", *table(result),
                     f"lowest mean validation NLL: k = {best}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
