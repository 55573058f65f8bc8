"""The Triton model repository: render the configs, add a numbered version of every model.

Layout (one export adds version N to all three models, so their numbers line up):

    <repository>/features/config.pbtxt      rendered from config.template.pbtxt
    <repository>/features/N/model.py         + model_metadata.json
    <repository>/mgdl/config.pbtxt           from config.cpu.template.pbtxt or config.gpu.template.pbtxt
    <repository>/mgdl/configs/tensorrt_plan.pbtxt   (gpu target, only when a model.plan was built)
    <repository>/mgdl/N/model.onnx           + model_metadata.json, model.py (cpu target),
                                             model.plan (gpu target with --tensorrt)
    <repository>/wig80/config.pbtxt          gpu: the ensemble features -> mgdl; cpu: one Python-backend
                                             model doing both in one execute (same tensors)
    <repository>/wig80/N/model_metadata.json + (cpu target) model.py, features_model.py (a copy of
                                             features/model.py) and this version's own model.onnx

The templates and `model.py` files are source in the project's `model_repository/`, which is never a
repository itself: the one Triton serves is rendered under `WIG80_HOME/model_repository` (build output,
beside the home's data, models and registry), and the templates are copied there too, so any repository
explains itself.

Versions cannot lie: the `wig80` ensemble pins its steps to its own version N and loads that one version
only (an ensemble's config is shared by all its versions), while `features` and `mgdl` load N and the
version N replaced (in a rollback that one is higher). `wig80` has the active version only, so a
request without a version gets it. `activate` re-renders the configs for an older version (a rollback). Older version folders stay
on disk until removed by hand.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import string
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import feature_kernels
from serving.contract import ENSEMBLE_MODEL, FEATURES_MODEL, LOAD_ORDER, NETWORK_MODEL

SOURCE_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"
Target = Literal["cpu", "gpu"]
TARGETS: tuple[Target, ...] = ("cpu", "gpu")
TEMPLATES: dict[Target, dict[str, str]] = {
    "cpu": {
        FEATURES_MODEL: "config.template.pbtxt",
        NETWORK_MODEL: "config.cpu.template.pbtxt",
        ENSEMBLE_MODEL: "config.cpu.template.pbtxt",
    },
    "gpu": {
        FEATURES_MODEL: "config.template.pbtxt",
        NETWORK_MODEL: "config.gpu.template.pbtxt",
        ENSEMBLE_MODEL: "config.template.pbtxt",
    },
}
PLAN_TEMPLATE = "config.tensorrt_plan.template.pbtxt"
PLAN_CONFIG_NAME = "tensorrt_plan"  # tritonserver --model-config-name=tensorrt_plan
PYTHON_MODELS = {"cpu": LOAD_ORDER, "gpu": (FEATURES_MODEL,)}
# on cpu the ensemble's name is one Python-backend model doing features + network, with these files beside it
FUSED_FEATURES_FILE = "features_model.py"
TRT_ENGINE_CACHE = "/tmp/wig80_trt_engine_cache"
DYNAMIC_BATCHING_BLOCK = re.compile(r"^dynamic_batching \{.*?^\}\n", re.MULTILINE | re.DOTALL)
PINNED_VERSION = re.compile(r"^version_policy: \{ specific: \{ versions: \[ (\d+) \] \} \}", re.MULTILINE)


@dataclass(frozen=True)
class ServingShape:
    """Everything the configs need to know about the exported model and the serving settings."""

    run: str
    window: int
    feature_names: tuple[str, ...]
    horizon_count: int
    max_batch_size: int
    max_queue_delay_microseconds: int
    dynamic_batching: bool = True

    def template_values(self, version: int, loaded: tuple[int, ...]) -> dict[str, object]:
        return {
            "run": self.run,
            "model_version": version,
            "loaded_versions": ", ".join(str(v) for v in loaded),
            "window": self.window,
            "feature_count": len(self.feature_names),
            "feature_names": ",".join(self.feature_names),
            "band_share_names": ",".join(feature_kernels.BAND_SHARE_NAMES),
            "band_edges": ",".join(f"{edge:g}" for edge in feature_kernels.BAND_EDGES),
            "min_window": feature_kernels.MIN_WINDOW,
            "horizon_count": self.horizon_count,
            "max_batch_size": self.max_batch_size,
            "max_queue_delay_microseconds": self.max_queue_delay_microseconds,
            "opt_batch_size": max(1, self.max_batch_size // 2),
            "trt_engine_cache_path": TRT_ENGINE_CACHE,
        }


def render(template: str, shape: ServingShape, version: int, loaded: tuple[int, ...] | None = None) -> str:
    text = string.Template(template).substitute(shape.template_values(version, loaded or (version,)))
    return text if shape.dynamic_batching else DYNAMIC_BATCHING_BLOCK.sub("", text)


def render_configs(
    shape: ServingShape,
    target: Target,
    version: int,
    source: Path = SOURCE_REPOSITORY,
    loaded: tuple[int, ...] | None = None,
) -> dict[str, str]:
    """model name -> config.pbtxt text for `target`, version `version` active, `loaded` kept loaded."""
    return {
        model: render((source / model / name).read_text(), shape, version, loaded)
        for model, name in TEMPLATES[target].items()
    }


def render_plan_config(
    shape: ServingShape, version: int, source: Path = SOURCE_REPOSITORY, loaded: tuple[int, ...] | None = None
) -> str:
    return render((source / NETWORK_MODEL / PLAN_TEMPLATE).read_text(), shape, version, loaded)


def pinned_version(repository: Path) -> int | None:
    """The version the rendered `wig80` config serves (the one its steps are pinned to), None before any export."""
    config = repository / ENSEMBLE_MODEL / "config.pbtxt"
    match = PINNED_VERSION.search(config.read_text()) if config.is_file() else None
    return int(match.group(1)) if match else None


def versions_to_load(previous: int | None, active: int) -> tuple[int, ...]:
    """The parts' versions to keep loaded: the active one and the one it replaced.

    Dropping the replaced one in the same load would unload the ensemble version still pinned to it
    before its successor is ready (Triton reloads an ensemble whose steps change): measured as 1.5 s of
    "wig80 has no available versions" in a rollback. The next switch drops it.
    """
    return tuple(sorted({v for v in (previous, active) if v is not None}))


def existing_versions(repository: Path) -> list[int]:
    return sorted(
        {
            int(p.name)
            for model in LOAD_ORDER
            if (repository / model).is_dir()
            for p in (repository / model).iterdir()
            if p.is_dir() and p.name.isdigit()
        }
    )


def next_version(repository: Path) -> int:
    versions = existing_versions(repository)
    return versions[-1] + 1 if versions else 1


def refuse_source_tree(repository: Path, source: Path = SOURCE_REPOSITORY) -> None:
    """Version folders are build output of one home; the source tree's model_repository/ holds templates only."""
    if repository.resolve() == source.resolve():
        raise ValueError(
            f"{repository} is the source tree's template folder, not a repository: export into "
            "WIG80_HOME/model_repository (the default) or pass another --repository"
        )


def copy_sources(repository: Path, source: Path = SOURCE_REPOSITORY) -> None:
    """Templates and model.py next to the rendered configs, so any repository explains itself."""
    for model in LOAD_ORDER:
        (repository / model).mkdir(parents=True, exist_ok=True)
        for path in (source / model).iterdir():
            if path.is_file() and (path.name.endswith(".template.pbtxt") or path.name == "model.py"):
                shutil.copy2(path, repository / model / path.name)


def write_version(
    repository: Path,
    shape: ServingShape,
    target: Target,
    onnx_path: Path,
    metadata: dict,
    plan_path: Path | None = None,
    source: Path = SOURCE_REPOSITORY,
) -> int:
    """Add version N (returned) of every model and rewrite the configs; a reader never sees half a version."""
    refuse_source_tree(repository, source)
    repository.mkdir(parents=True, exist_ok=True)
    copy_sources(repository, source)
    version = next_version(repository)
    loaded = versions_to_load(pinned_version(repository), version)
    configs = render_configs(shape, target, version, source, loaded)  # fails before anything is written
    metadata = {**metadata, "model_version": version, "target": target, "serving_shape": asdict(shape)}
    for model in LOAD_ORDER:
        staging = repository / model / f".{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if model in PYTHON_MODELS[target]:
            shutil.copy2(source / model / "model.py", staging / "model.py")
        if model == ENSEMBLE_MODEL and model in PYTHON_MODELS[target]:
            shutil.copy2(source / FEATURES_MODEL / "model.py", staging / FUSED_FEATURES_FILE)
            shutil.copy2(onnx_path, staging / "model.onnx")
        if model == NETWORK_MODEL:
            shutil.copy2(onnx_path, staging / "model.onnx")
            if plan_path is not None:
                shutil.copy2(plan_path, staging / "model.plan")
        (staging / "model_metadata.json").write_text(
            json.dumps({**metadata, "model": model}, indent=2, default=str) + "\n"
        )
        staging.rename(repository / model / str(version))
    write_configs(repository, configs, shape, version, loaded, source)
    return version


def write_configs(
    repository: Path,
    configs: dict[str, str],
    shape: ServingShape,
    version: int,
    loaded: tuple[int, ...],
    source: Path = SOURCE_REPOSITORY,
) -> None:
    for model, text in configs.items():
        write_text_atomically(repository / model / "config.pbtxt", text)
    plan_config = repository / NETWORK_MODEL / "configs" / f"{PLAN_CONFIG_NAME}.pbtxt"
    if (repository / NETWORK_MODEL / str(version) / "model.plan").is_file():
        plan_config.parent.mkdir(exist_ok=True)
        write_text_atomically(plan_config, render_plan_config(shape, version, source, loaded))
    elif plan_config.exists():
        plan_config.unlink()  # a stale plan config would point at a version without a model.plan


def version_metadata(repository: Path, version: int) -> dict:
    """What the export stored about `version` (run, metrics, target, serving shape); ValueError if absent."""
    path = repository / ENSEMBLE_MODEL / str(version) / "model_metadata.json"
    missing = [m for m in LOAD_ORDER if not (repository / m / str(version)).is_dir()]
    if missing or not path.is_file():
        raise ValueError(f"{repository} has no complete version {version} (missing: {', '.join(missing) or path})")
    return json.loads(path.read_text())


def activate(repository: Path, version: int, source: Path = SOURCE_REPOSITORY) -> tuple[int, ...]:
    """Render the configs so that `version` (already on disk) is the one served; returns the versions to load.

    A rollback: Triton loads them on the next explicit load (features, mgdl, then wig80).
    """
    metadata = version_metadata(repository, version)
    stored = metadata["serving_shape"]
    shape = ServingShape(**{**stored, "feature_names": tuple(stored["feature_names"])})
    loaded = versions_to_load(pinned_version(repository), version)
    configs = render_configs(shape, metadata["target"], version, source, loaded)
    write_configs(repository, configs, shape, version, loaded, source)
    return loaded


def config_paths(repository: Path) -> list[Path]:
    return [repository / m / "config.pbtxt" for m in LOAD_ORDER] + [
        repository / NETWORK_MODEL / "configs" / f"{PLAN_CONFIG_NAME}.pbtxt"
    ]


def snapshot_configs(repository: Path) -> dict[Path, str | None]:
    """The rendered configs as they are now (None: absent), to put back with `remove_version`."""
    return {path: path.read_text() if path.is_file() else None for path in config_paths(repository)}


def remove_version(repository: Path, version: int, configs: dict[Path, str | None]) -> None:
    """Undo an export: its version folders go, the configs return to `configs` (a snapshot from before)."""
    remove_version_folders(repository, version)
    restore_configs(repository, configs)


def remove_version_folders(repository: Path, version: int) -> None:
    for model in LOAD_ORDER:
        shutil.rmtree(repository / model / str(version), ignore_errors=True)


class RepositoryTransaction:
    """Changes to one repository undone together: the rendered configs are snapshot once, when it begins,
    and `undo` puts them back and removes the versions written meanwhile that were not kept (an export
    whose registration failed); a kept version's folders stay. As a context manager, an exception undoes it."""

    def __init__(self, repository: Path) -> None:
        self.repository = Path(repository)
        self.configs = snapshot_configs(self.repository)
        self._unkept: list[int] = []

    def written(self, version: int) -> None:
        """`version` was written by this transaction: `undo` removes it unless it is kept."""
        self._unkept.append(version)

    def keep(self, version: int) -> None:
        self._unkept.remove(version)

    def undo(self) -> None:
        for version in self._unkept:
            remove_version_folders(self.repository, version)
        restore_configs(self.repository, self.configs)

    def __enter__(self) -> RepositoryTransaction:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None:
            self.undo()


@contextlib.contextmanager
def repository_transaction(repository: Path, joined: RepositoryTransaction | None = None
                           ) -> Iterator[RepositoryTransaction]:
    """`joined` (the caller's transaction: it undoes what fails), else one of our own over `repository`."""
    if joined is not None:
        yield joined
        return
    with RepositoryTransaction(repository) as own:
        yield own


def restore_configs(repository: Path, configs: dict[Path, str | None]) -> None:
    """The configs as `snapshot_configs` saw them."""
    for path, text in configs.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            write_text_atomically(path, text)


def write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
