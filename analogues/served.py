"""How a process without the Triton model repository (the gateway) gets the served version's index.

The export uploads the index into the version's registry record (`model_versions.analogue_index`, a
protected file field, with its facts in `model_versions.analogues`). `served_index` looks the record
up, and keeps the file in a local cache named by its checksum (`WIG80_HOME/cache/analogues/<sha256>.npz`):
a replica downloads each version's index once, a restart reuses it, and a file whose checksum does not
match the record is fetched again. Imports numpy, faiss and httpx (through the registry client) only.
"""

from __future__ import annotations

from pathlib import Path

from analogues.index import AnalogueIndex, sha256_of
from registry.client import Registry, RegistryError
from registry.records import ANALOGUE_INDEX_FIELD, version_record

CACHE_SUBDIR = Path("cache") / "analogues"


def cache_dir(home: Path) -> Path:
    return Path(home) / CACHE_SUBDIR


def fetch_index_file(registry: Registry, version: int, directory: Path) -> Path | None:
    """The checked local copy of `version`'s index file; None when that version was exported without one."""
    record = version_record(registry, version)
    if record is None:
        raise RegistryError(f"version {version} is not in the registry")
    checksum = (record.get("analogues") or {}).get("sha256")
    if not record.get(ANALOGUE_INDEX_FIELD) or not checksum:
        return None
    path = Path(directory) / f"{checksum}.npz"
    if path.is_file() and sha256_of(path) == checksum:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    registry.download("model_versions", record, ANALOGUE_INDEX_FIELD, path)
    if sha256_of(path) != checksum:
        path.unlink()
        raise RegistryError(f"the analogue index of version {version} does not match its recorded sha256 {checksum}")
    return path


def served_index(registry: Registry, version: int, home: Path) -> AnalogueIndex | None:
    """`version`'s analogue index, from the local cache or the registry; None if it has none."""
    path = fetch_index_file(registry, version, cache_dir(home))
    return AnalogueIndex.load(path) if path is not None else None
