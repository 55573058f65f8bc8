"""A registered export: the run and the new version land in the registry, or the export is undone."""

from __future__ import annotations

from pathlib import Path

from export.exporter import ExportResult, export_run
from export.repository import Target, analogue_index_path, remove_version, snapshot_configs, version_metadata
from registry.client import Registry, RegistryError
from registry.records import register_run, register_version
from wig80.settings import Settings


class RegistrationError(RuntimeError):
    """The registry refused or was unreachable; the message says what was undone."""


def export_registered(
    registry: Registry,
    run_dir: Path,
    settings: Settings,
    target: Target = "cpu",
    repository: Path | None = None,
    build_tensorrt: bool = False,
) -> ExportResult:
    """Register the run, export it as version N, register N; a failed registration removes N again."""
    repository = Path(repository or settings.repository_dir)
    try:
        register_run(registry, run_dir)
    except RegistryError as error:
        raise RegistrationError(f"{error}; nothing was exported") from error
    before = snapshot_configs(repository)
    result = export_run(run_dir, repository, target, build_tensorrt=build_tensorrt, settings=settings)
    metadata = version_metadata(repository, result.version)
    try:
        register_version(registry, metadata, repository, analogue_index_path(repository, result.version, metadata))
    except RegistryError as error:
        remove_version(repository, result.version, before)
        raise RegistrationError(
            f"{error}; version {result.version} could not be registered, so the export was undone "
            f"(its folders removed from {repository}, the configs restored)"
        ) from error
    return result
