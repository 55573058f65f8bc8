"""A registered export: the run and the new version land in the registry, or the export is undone."""

from __future__ import annotations

from pathlib import Path

from export.exporter import ExportResult, LoadedForecaster, export_run
from export.repository import (
    RepositoryTransaction,
    Target,
    analogue_index_path,
    repository_transaction,
    version_metadata,
)
from lifecycle.repository_lock import repository_lock
from registry.client import Registry, RegistryError
from registry.records import register_run, register_version
from settings import Settings


class RegistrationError(RuntimeError):
    """The registry refused or was unreachable; the message says what was undone."""


def export_registered(
    registry: Registry,
    run_dir: Path,
    settings: Settings,
    target: Target = "cpu",
    repository: Path | None = None,
    build_tensorrt: bool = False,
    *,
    loaded: LoadedForecaster | None = None,
    transaction: RepositoryTransaction | None = None,
) -> ExportResult:
    """Register the run, export it as version N, register N; a failed registration removes N again.

    `loaded`: the run's forecaster as `training.checkpoint.load_forecaster` returned it, if the caller has
    it already. `transaction`: the caller's change of the repository (a promotion), which undoes N.
    """
    repository = Path(repository or settings.repository_dir)
    with repository_lock(settings.home, "export"):  # the next version number is this export's alone
        return _export_registered(registry, run_dir, settings, target, repository, build_tensorrt, loaded,
                                  transaction)


def _export_registered(registry: Registry, run_dir: Path, settings: Settings, target: Target, repository: Path,
                       build_tensorrt: bool, loaded: LoadedForecaster | None,
                       transaction: RepositoryTransaction | None) -> ExportResult:
    try:
        register_run(registry, run_dir)
    except RegistryError as error:
        raise RegistrationError(f"{error}; nothing was exported") from error
    with repository_transaction(repository, transaction) as change:
        result = export_run(run_dir, repository, target, build_tensorrt=build_tensorrt, settings=settings,
                            loaded=loaded)
        change.written(result.version)
        metadata = version_metadata(repository, result.version)
        try:
            register_version(registry, metadata, repository, analogue_index_path(repository, result.version, metadata))
        except RegistryError as error:
            raise RegistrationError(
                f"{error}; version {result.version} could not be registered, so the export was undone "
                f"(its folders removed from {repository}, the configs restored)"
            ) from error
        change.keep(result.version)
    return result
