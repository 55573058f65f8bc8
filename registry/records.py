"""What the lifecycle writes to the registry, and what the gateway reads back from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from registry.client import Registry

RUN_METADATA = "model_metadata.json"  # written by training into every run directory


def _quoted(value: str) -> str:
    return json.dumps(str(value))  # a PocketBase filter string literal


def run_record_fields(run_dir: Path) -> dict:
    """A training run's record from its directory: config, data range and split, metrics beside baselines."""
    path = Path(run_dir) / RUN_METADATA
    # a run written without training (tests' untrained networks) has only its model file: name and path
    metadata = json.loads(path.read_text()) if path.is_file() else {"run": Path(run_dir).name}
    config, split, data = metadata.get("config", {}), metadata.get("split", {}), metadata.get("data", {})
    metrics = metadata.get("metrics", {})
    first = min((dates[0] for key, dates in split.items() if key != "purge_days"), default=None)
    last = max((dates[1] for key, dates in split.items() if key != "purge_days"), default=None)
    return {
        "run": metadata["run"],
        "experiment": config.get("experiment", ""),
        "profile": config.get("profile", ""),
        "config": config,
        "data_range": {"first": first, "last": last, "source": data.get("source"), "rows": data.get("rows")},
        "split": split,
        "symbols": config.get("symbols") or data.get("symbols"),
        "metrics_val": metrics.get("val", {}),
        "metrics_test": metrics.get("test", {}),
        "artifact_path": str(Path(run_dir).resolve()),
        "trained_at": metadata.get("created", ""),
    }


def register_run(registry: Registry, run_dir: Path) -> dict:
    """The run's record, created once (a second call returns the existing one)."""
    fields = run_record_fields(run_dir)
    existing = registry.first("training_runs", f"run = {_quoted(fields['run'])}")
    return existing or registry.create("training_runs", fields)


def register_version(registry: Registry, version_metadata: dict, repository: Path) -> dict:
    """A model version's record from the metadata the export wrote into its version folder."""
    return registry.create("model_versions", {
        "version": version_metadata["model_version"],
        "run": version_metadata["run"],
        "target": version_metadata.get("target", ""),
        "onnx_sha256": version_metadata.get("onnx", {}).get("sha256", ""),
        "parity": version_metadata.get("parity", {}),
        "exported_at": version_metadata.get("exported_at", ""),
        "repository": str(Path(repository).resolve()),
    })


def version_record(registry: Registry, version: int) -> dict | None:
    return registry.first("model_versions", f"version = {int(version)}")


def run_record(registry: Registry, run: str) -> dict | None:
    return registry.first("training_runs", f"run = {_quoted(run)}")


def deployments(registry: Registry, limit: int = 50) -> list[dict]:
    """The deployment history, newest first."""
    return registry.records("deployments", sort="-sequence", limit=limit)


def deployed_version(registry: Registry) -> int | None:
    """The version the last deployment record switched to (None before any deployment)."""
    last = registry.first("deployments", sort="-sequence")
    return int(last["to_version"]) if last else None


def record_deployment(registry: Registry, to_version: int, reason: str, note: str = "") -> dict:
    last = registry.first("deployments", sort="-sequence")
    return registry.create("deployments", {
        "sequence": int(last["sequence"]) + 1 if last else 1,
        "from_version": int(last["to_version"]) if last else 0,
        "to_version": int(to_version),
        "reason": reason,
        "note": note,
    })


@dataclass(frozen=True)
class ActiveModel:
    """What GET /models shows: the served version, its run, and the deployment history."""

    version: dict
    run: dict | None
    history: list[dict]


def active_model(registry: Registry) -> ActiveModel | None:
    history = deployments(registry)
    if not history:
        return None
    version = version_record(registry, int(history[0]["to_version"]))
    if version is None:
        return None
    return ActiveModel(version, run_record(registry, version["run"]), history)
