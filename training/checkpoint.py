"""The model file `best_model.pth` (and `final_model.pth`): weights, scalers, the whole config, feature
names and metrics in one dict of plain types and tensors, so `torch.load(weights_only=True)` reads it
and a checkpoint explains itself.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from training.forecaster import HORIZONS, Architecture, Forecaster, build_network

MODEL_FORMAT = "wig80-mgdl-forecaster/2"  # /2: the network outputs steps summed by the term structure
OLD_FORMATS = ("wig80-mgdl-forecaster/1",)
BEST_MODEL = "best_model.pth"


def save_forecaster(path: Path, model: Forecaster, arch: Architecture, metadata: dict) -> Path:
    """`metadata` must hold `run`, `feature_names`, `window`; plain JSON-like values only."""
    missing = {"run", "feature_names", "window"} - metadata.keys()
    if missing:
        raise ValueError(f"model metadata lacks {sorted(missing)}")
    payload = {"format": MODEL_FORMAT, "architecture": asdict(arch), "state_dict": model.state_dict(),
               "metadata": {"horizons": arch.horizons, "metrics": {}, **metadata}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # a reader never sees half a file
    return path


def read_payload(path: Path, expected_format: str | tuple[str, ...], missing: str) -> dict:
    """A torch file written by this package, checked to be of `expected_format` (or one of them) before use."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {missing}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    formats = (expected_format,) if isinstance(expected_format, str) else expected_format
    if not isinstance(payload, dict) or payload.get("format") not in formats:
        raise ValueError(f"{path}: not a {formats[0]} file")
    return payload


def read_model_file(path: Path) -> dict:
    payload = read_payload(path, (MODEL_FORMAT, *OLD_FORMATS),
                           f"no model file (expected {BEST_MODEL} inside a training run directory)")
    if payload["format"] != MODEL_FORMAT:
        raise ValueError(f"{path}: a {payload['format']} file, whose network gives each horizon its own variance; "
                         f"this version reads {MODEL_FORMAT} (variance summed over steps): train the run again")
    return payload


def load_forecaster(run_dir: str | Path) -> tuple[Forecaster, dict]:
    """A run directory (or a model file) -> (Forecaster in eval mode, metadata).

    metadata holds at least run, feature_names, window, horizons, metrics, plus architecture and config.
    """
    path = Path(run_dir)
    payload = read_model_file(path / BEST_MODEL if path.is_dir() else path)
    arch = Architecture(**payload["architecture"])
    model = Forecaster.empty(arch)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    metadata = {**payload["metadata"], "architecture": payload["architecture"]}
    if len(metadata["feature_names"]) != arch.in_features:
        raise ValueError(f"{path}: {len(metadata['feature_names'])} feature names for {arch.in_features} inputs")
    return model, metadata


def write_untrained_run(run_dir: Path, feature_names: list[str], window: int = 256, seed: int = 0,
                        width: int = 32, grades: int = 2, split: dict | None = None) -> Path:
    """A run directory holding a randomly initialised (untrained) forecaster: for export/serving plumbing only.
    `split` (SplitDates.as_dict()) is stored with it when given: retraining takes no run without one."""
    generator = torch.Generator().manual_seed(seed)
    arch = Architecture(len(feature_names), width, 2, grades, HORIZONS)
    network = build_network(arch)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    n = len(feature_names)
    model = Forecaster(network, np.zeros(n), np.ones(n), np.zeros(HORIZONS), np.full(HORIZONS, 0.02))
    return save_forecaster(run_dir / BEST_MODEL, model, arch,
                           {"run": run_dir.name, "feature_names": list(feature_names), "window": window,
                            "untrained": True, **({"split": split} if split else {})})
