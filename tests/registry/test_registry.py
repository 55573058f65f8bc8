"""The registry contract against a real PocketBase: collections once, runs and versions with their
metrics, and no half-registered version when the registry fails at export."""

from __future__ import annotations

import json

from registry.records import deployed_version, record_deployment
from registry.schema import COLLECTIONS
from wig80.cli import main as wig80_main


def test_collections_are_created_once(pocketbase):
    with pocketbase.client() as registry:
        assert registry.ensure_collections() == list(COLLECTIONS)
        assert registry.ensure_collections() == []
        names = [c["name"] for c in registry._request("GET", "/api/collections", params={"perPage": 500})["items"]]
    assert sorted(n for n in names if n in COLLECTIONS) == sorted(COLLECTIONS)


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
