"""The registry contract against a real PocketBase: collections once, runs and versions with their
metrics, no half-registered version when the registry fails at export, and data only its user reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from registry.client import RegistryError
from registry.records import active_model, deployed_version, record_deployment
from registry.schema import COLLECTIONS, READERS
from tests.fixtures.registry import READER_EMAIL, READER_PASSWORD, start_pocketbase
from wig80.cli import main as wig80_main


def test_collections_are_created_once(pocketbase):
    with pocketbase.client() as registry:
        assert registry.ensure_collections() == [READERS, *COLLECTIONS]
        assert registry.ensure_collections() == []
        names = [c["name"] for c in registry._request("GET", "/api/collections", params={"perPage": 500})["items"]]
    assert sorted(n for n in names if n in COLLECTIONS) == sorted(COLLECTIONS)


def test_the_reader_account_reads_what_the_gateway_shows_and_nothing_else(pocketbase):
    """The gateway's account: runs, versions and deployments readable; no write, no evaluations, no accounts,
    no collection changes; an anonymous client sees no record."""
    with pocketbase.client() as registry:
        registry.ensure_collections()
        registry.ensure_reader(READER_EMAIL, "an-older-password-0123456789")
        registry.ensure_reader(READER_EMAIL, READER_PASSWORD)  # a second call sets the password given now
        record_deployment(registry, 1, "initial")
        registry.create("evaluations", {"decision": "failed", "reason": "test"})
    with pocketbase.reader() as reader:
        assert [d["to_version"] for d in reader.records("deployments")] == [1]
        assert reader.records("model_versions") == [] and reader.records("training_runs") == []
        assert active_model(reader) is None  # version 1 is not registered: nothing to show, nothing refused
        refusals = [lambda: reader.records("evaluations"), lambda: reader.records(READERS),
                    lambda: record_deployment(reader, 2, "manual"), reader.ensure_collections,
                    lambda: reader.ensure_reader("someone@wig80.test", "x" * 32)]
        for call in refusals:
            with pytest.raises(RegistryError, match="403"):
                call()
    anonymous = httpx.get(f"{pocketbase.url}/api/collections/deployments/records")
    assert anonymous.status_code == 200 and anonymous.json()["items"] == []


def test_a_train_and_an_export_appear_with_their_metrics(tiny_run, registry_env, tmp_path, monkeypatch):
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.home))
    repository = tmp_path / "repo"
    assert wig80_main(["export", str(tiny_run.run_dir), "--repository", str(repository)]) == 0
    stored = json.loads((repository / "wig80" / "1" / "model_metadata.json").read_text())
    trained = json.loads((tiny_run.run_dir / "model_metadata.json").read_text())
    with registry_env.client() as registry:
        [run] = registry.records("training_runs")
        [version] = registry.records("model_versions")
        assert registry.records("deployments") == []  # exported, not yet served
    assert run["run"] == tiny_run.run_dir.name and run["profile"] == "tiny"
    assert run["split"] == trained["split"]
    assert run["data_range"]["first"] == trained["split"]["train"][0]
    # the model's metrics stand beside the baselines', as training wrote them
    assert run["metrics_test"] == trained["metrics"]["test"]
    assert {"mgdl", "random_walk", "always_up"} <= set(run["metrics_test"])
    assert version["version"] == 1 and version["run"] == run["run"] and version["target"] == "cpu"
    assert version["onnx_sha256"] == stored["onnx"]["sha256"]
    assert version["parity"]["passed"] is True


def test_registry_down_at_export_leaves_no_version(tiny_run, registry_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.home))
    registry_env.server.stop()
    repository = tmp_path / "repo"
    assert wig80_main(["export", str(tiny_run.run_dir), "--repository", str(repository)]) == 1
    assert "unreachable" in capsys.readouterr().err
    assert not (repository / "wig80").exists()


def test_a_version_the_registry_refuses_is_undone(tiny_run, registry_env, tmp_path, monkeypatch, capsys):
    """A registration that fails after the export (here: the registry already holds a version 1, a real
    unique-index refusal) removes the exported version and restores the configs."""
    monkeypatch.setenv("WIG80_HOME", str(tiny_run.home))
    repository = tmp_path / "repo"
    with registry_env.client() as registry:
        registry.ensure_collections()
        registry.create("model_versions", {"version": 1, "run": "someone-else"})
    assert wig80_main(["export", str(tiny_run.run_dir), "--repository", str(repository)]) == 1
    assert "export was undone" in capsys.readouterr().err
    for model in ("features", "mgdl", "wig80"):
        assert not (repository / model / "1").exists()
        assert not (repository / model / "config.pbtxt").exists()


def test_deployments_name_the_deployed_version(pocketbase):
    with pocketbase.client() as registry:
        registry.ensure_collections()
        assert deployed_version(registry) is None
        record_deployment(registry, 1, "initial")
        record_deployment(registry, 2, "promoted")
        last = record_deployment(registry, 1, "rollback")
        assert deployed_version(registry) == 1
    assert (last["from_version"], last["to_version"], last["sequence"]) == (2, 1, 3)


def test_fields_added_to_the_schema_reach_a_registry_created_before(pocketbase):
    """A registry created by an older version lacks the newer fields; ensure_collections adds them, records kept."""
    older = {"fields": [f for f in COLLECTIONS["training_runs"]["fields"]
                        if f["name"] not in ("var_backtest_test", "served_model")],
             "indexes": COLLECTIONS["training_runs"]["indexes"]}
    with pocketbase.client() as registry:
        registry._request("POST", "/api/collections", json={"name": "training_runs", "type": "base", **older})
        registry.create("training_runs", {"run": "old_run"})
        assert "training_runs" in registry.ensure_collections()  # created or extended: both are named
        registry.create("training_runs", {"run": "new_run", "served_model": {"linear_only": True}})
        runs = {r["run"]: r for r in registry.records("training_runs")}
    assert runs["new_run"]["served_model"] == {"linear_only": True}
    assert runs["old_run"]["served_model"] is None


def modes_under(directory: Path) -> dict[str, int]:
    """Permission bits of `directory` and of everything in it, by path relative to it."""
    paths = [directory, *directory.rglob("*")]
    return {str(path.relative_to(directory)): stat.S_IMODE(path.lstat().st_mode) for path in paths}


def test_the_data_directory_is_0700_and_its_files_0600_also_after_an_older_start(tmp_path):
    data_dir = tmp_path / "pocketbase"
    running = start_pocketbase(data_dir)
    try:
        running.client().ensure_collections()  # writes to the databases
        first = modes_under(data_dir)
    finally:
        running.server.stop()
    assert "data.db" in first, first
    assert all(mode == (0o700 if (data_dir / path).is_dir() else 0o600) for path, mode in first.items()), first
    # a home from before this change: the directory 0755, the databases 0644
    data_dir.chmod(0o755)
    for database in data_dir.glob("*.db"):
        database.chmod(0o644)
    running = start_pocketbase(data_dir)
    running.server.stop()
    again = modes_under(data_dir)
    assert all(mode & 0o077 == 0 for mode in again.values()), again
    assert again["."] == 0o700 and again["data.db"] == 0o600
