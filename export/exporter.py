"""One export: a training run -> checked ONNX file -> a new version in the Triton model repository."""

from __future__ import annotations

import datetime
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feature_kernels
from export import tensorrt
from export.onnx_export import OPSET, ParityReport, check_parity, export_onnx, random_rows
from export.parity_inputs import real_feature_rows
from export.repository import ServingShape, Target, write_version
from settings import Settings

LoadedForecaster = tuple[Any, dict]  # (torch module, metadata), as training.checkpoint.load_forecaster returns them


@dataclass
class ExportResult:
    repository: Path
    version: int
    run: str
    parity: ParityReport
    real_inputs: str  # where the real parity inputs came from
    tensorrt_error: str | None  # why --tensorrt built no engine, if it was asked for and could not


def say(message: str) -> None:
    print(f"[export] {message}", flush=True)


def horizon_count(metadata: dict) -> int:
    horizons = metadata["horizons"]
    return int(horizons) if isinstance(horizons, int) else len(horizons)


def check_feature_names(metadata: dict) -> tuple[str, ...]:
    trained = tuple(metadata["feature_names"])
    if trained != tuple(feature_kernels.FEATURE_NAMES):
        raise ValueError(
            f"run {metadata['run']} was trained on features {list(trained)}, "
            f"but feature_kernels now computes "
            f"{list(feature_kernels.FEATURE_NAMES)}: retrain before exporting"
        )
    return trained


def export_run(
    run_dir: Path,
    repository: Path | None = None,
    target: Target = "cpu",
    build_tensorrt: bool = False,
    *,
    settings: Settings,
    dynamic_batching: bool = True,
    loaded: LoadedForecaster | None = None,
) -> ExportResult:
    """Export `run_dir` into `repository` (default: the home's, settings.repository_dir); `loaded` is the
    run's forecaster when the caller has loaded it already (a retraining scored it), else it is loaded here.

    Raises ParityError when ONNX Runtime and PyTorch disagree; nothing is written then.
    """
    from training.checkpoint import load_forecaster

    repository = Path(repository or settings.repository_dir)
    module, metadata = loaded or load_forecaster(run_dir)
    feature_names = check_feature_names(metadata)
    shape = ServingShape(
        str(metadata["run"]),
        int(metadata["window"]),
        feature_names,
        horizon_count(metadata),
        settings.max_batch_size,
        settings.max_queue_delay_microseconds,
        dynamic_batching,
    )
    with tempfile.TemporaryDirectory(prefix="wig80-export-") as scratch:
        onnx_path = export_onnx(module, len(feature_names), Path(scratch) / "model.onnx")
        say(f"ONNX opset {OPSET}, {onnx_path.stat().st_size / 1024:.0f} KiB, onnx.checker passed")
        real, real_source = real_feature_rows(settings.market_db_url, settings.home, shape.window)
        inputs = {"random": random_rows(real, len(feature_names), settings.max_batch_size), "real": real}
        parity = check_parity(onnx_path, module, inputs, settings.max_batch_size)
        say(
            f"parity ORT vs PyTorch, batch 1..{settings.max_batch_size}: max |diff| "
            + ", ".join(f"{k} {v:.2e}" for k, v in parity.max_abs_diff.items())
            + f" (real inputs: {real_source})"
        )
        plan_path, tensorrt_error = None, None
        if build_tensorrt:
            tensorrt_error = tensorrt.unavailable_reason()
            if tensorrt_error is None:
                plan_path = tensorrt.build_engine(
                    onnx_path, Path(scratch) / "model.plan", len(feature_names), settings.max_batch_size
                )
        version = write_version(
            repository,
            shape,
            target,
            onnx_path,
            version_metadata(run_dir, metadata, parity, real_source, onnx_path, settings),
            plan_path,
        )
    say(f"wrote version {version} of features, mgdl, wig80 ({target}) to {repository}")
    return ExportResult(repository, version, shape.run, parity, real_source, tensorrt_error)


def version_metadata(
    run_dir: Path, metadata: dict, parity: ParityReport, real_source: str, onnx_path: Path, settings: Settings
) -> dict:
    return {
        "run": metadata["run"],
        "run_dir": str(Path(run_dir).resolve()),
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "metrics": metadata.get("metrics", {}),
        "feature_names": list(metadata["feature_names"]),
        "window": metadata["window"],
        "horizons": metadata["horizons"],
        "parity": {**parity.to_dict(), "real_inputs": real_source},
        "onnx": {
            "opset": OPSET,
            "bytes": onnx_path.stat().st_size,
            "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        },
        "max_batch_size": settings.max_batch_size,
        "max_queue_delay_microseconds": settings.max_queue_delay_microseconds,
    }
