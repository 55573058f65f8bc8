"""`wig80 train` and `wig80 evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train the MGDL forecaster; prints the run directory last")
    train.add_argument("--profile", choices=("tiny", "quick", "full"), default="quick")
    train.add_argument("--config", type=Path, help="JSON file overriding training settings")
    train.add_argument("--symbols", nargs="+", help="train on these tickers only (default: every stored symbol)")
    train.add_argument("--experiment", help="run directory prefix (default: mgdl)")
    train.add_argument("--resume", type=Path, help="a checkpoint_epoch_N.pth to continue from")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser("evaluate", help="recompute a run's metrics and training_report.md")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.set_defaults(handler=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from settings import Settings
    from training.config import TrainConfig, load_config_file
    from training.pipeline import resume_run, train_run

    settings = Settings()
    try:
        if args.resume is not None:
            run_dir = resume_run(args.resume)
        else:
            config = TrainConfig.from_settings(settings, args.profile)
            # progress bars (on a terminal only: tqdm's disable=None); a --config file may turn them off
            config.mgdl = dataclasses.replace(config.mgdl, show_progress=True)
            if args.config is not None:
                config = load_config_file(args.config, config)
            if args.symbols:
                config.symbols = [s.upper() for s in args.symbols]
            if args.experiment:
                config.experiment = args.experiment
            run_dir = train_run(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"wig80 train: {error}", file=sys.stderr)
        return 2
    register_run_or_warn(run_dir, settings)
    print(run_dir)
    return 0


def register_run_or_warn(run_dir: Path, settings) -> None:
    """The run goes into the registry; when it cannot, the run stays valid (export registers it again)."""
    from registry.client import RegistryError
    from registry.records import register_run
    from wig80.commands.registry_session import open_registry

    try:
        with open_registry(settings) as registry:
            register_run(registry, run_dir)
    except RegistryError as error:
        print(f"wig80 train: the run is not registered ({error}); `wig80 export` registers it", file=sys.stderr)


def run_evaluate(args: argparse.Namespace) -> int:
    from settings import Settings
    from training.pipeline import evaluate_run

    settings = Settings()
    try:
        report = evaluate_run(args.run_dir, settings.market_db_url, settings.home)
    except (ValueError, FileNotFoundError) as error:
        print(f"wig80 evaluate: {error}", file=sys.stderr)
        return 2
    print_headline(report.parent)
    print(report)
    return 0


def print_headline(run_dir: Path) -> None:
    """The test distribution scores at horizon 1 and the Diebold-Mariano tests, before the report's path."""
    import json

    from training.artifacts import METADATA_FILE, summary_lines

    metrics = json.loads((run_dir / METADATA_FILE).read_text())["metrics"]
    print("\n".join(summary_lines(metrics)))
