"""Champion/challenger retraining, promotion and rollback against a real PocketBase and a real Triton,
with a gRPC client looping through every switch."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from export.parity_inputs import stored_windows
from lifecycle.deploy import record_served
from lifecycle.publish import export_registered
from lifecycle.retrain import retrain
from lifecycle.rollback import RollbackRefused, rollback
from registry.records import deployed_version, deployments
from tests.fixtures.registry import READER_EMAIL, READER_PASSWORD
from tests.fixtures.triton import start_triton
from tests.gateway.conftest import gateway_env
from tests.gateway.process import GatewayProcess
from tests.serving.conftest import in_process
from tests.serving.test_reload_and_cli import ClientLoop, settings_feature_names, wait_for_answers
from training.checkpoint import write_untrained_run

pytestmark = pytest.mark.triton


def untrained(tiny_run, path: Path, seed: int, with_split: bool = True) -> Path:
    """A random network with the tiny run's features and window (and its stored split): a model made bad on purpose."""
    split = stored_split(tiny_run.run_dir) if with_split else None
    return write_untrained_run(path, settings_feature_names(tiny_run), window=tiny_run.window, seed=seed,
                               split=split).parent


def stored_split(run_dir: Path) -> dict:
    return json.loads((run_dir / "model_metadata.json").read_text())["split"]


class GatewayLoop(threading.Thread):
    """POST /analyze over and over through the gateway; every non-200 answer is a failure."""

    def __init__(self, url: str, symbol: str):
        super().__init__(daemon=True)
        self.url, self.symbol = url, symbol
        self.stop = threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            threshold = 0
            while not self.stop.is_set():
                threshold = threshold % 97 + 1  # a new request each time: a cache miss goes to Triton
                response = client.post("/analyze", json={"symbol": self.symbol,
                                                         "confidence_threshold": threshold / 100})
                if response.status_code == 200:
                    self.versions.append(response.json()["model_version"])
                else:
                    self.failures.append(f"{response.status_code} {response.text}")


def models_when(gateway_url: str, version: int, timeout: float = 6.0) -> dict:
    """GET /models once the gateway reports `version` (its model info is at most 5 s old; 1 s of slack)."""
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{gateway_url}/models", timeout=10.0).json()
        if body["served_by_triton"] == str(version) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def served_version(address: str) -> int:
    client = grpcclient.InferenceServerClient(address)
    try:
        return int(client.get_model_config("wig80", as_json=True)["config"]["version_policy"]["specific"]["versions"][0])
    finally:
        client.close()


def test_a_better_challenger_is_promoted_a_worse_one_rejected_and_rollback_restores(tiny_run, registry_env, tmp_path):
    repository = tmp_path / "repo"
    settings = tiny_run.settings(model_repository=repository, retrain_profile="tiny")
    windows = stored_windows(None, tiny_run.home, tiny_run.window)[:1]
    registry = registry_env.client()
    registry.ensure_collections()
    registry.ensure_reader(READER_EMAIL, READER_PASSWORD)  # the gateway's account, as `wig80 serve` sets it
    export_registered(registry, untrained(tiny_run, tmp_path / "random_champion", seed=3), settings)
    server = start_triton(repository, tmp_path / "home")
    settings = settings.model_copy(update={"triton_grpc_port": server.grpc_port, "triton_admin_key": server.admin_key})
    loop = ClientLoop(server.address.grpc, windows)
    env = gateway_env(tiny_run.home, server.address.grpc, None, **registry_env.env)
    gateway = GatewayProcess(env, "unused", tmp_path / "gateway.log")
    try:
        assert record_served(registry, repository) == 1  # `wig80 serve` records the initial deployment
        gateway.start()
        symbol = next(s["symbol"] for s in httpx.get(f"{gateway.url}/symbols").json()["symbols"]
                      if s["data_available"])
        rest_loop = GatewayLoop(gateway.url, symbol)
        models_before = models_when(gateway.url, 1)
        loop.start()
        rest_loop.start()
        wait_for_answers(loop, 3)
        promoted = retrain(settings, registry, challenger_run=tiny_run.run_dir)  # trained beats random
        wait_for_answers(loop, 3)
        after_promotion = served_version(server.address.grpc)
        models_promoted = models_when(gateway.url, 2)
        rejected = retrain(settings, registry, challenger_run=untrained(tiny_run, tmp_path / "worse", seed=5))
        failed = retrain(settings, registry, challenger_run=tmp_path / "no_such_run")
        after_rejections = served_version(server.address.grpc)
        rollback(registry, settings, 1)
        wait_for_answers(loop, 3)
        after_rollback = served_version(server.address.grpc)
        models_rolled_back = models_when(gateway.url, 1)
        refusals = []
        for version in (1, 3):  # 1 is served; 3 is the rejected challenger, exported by hand afterwards
            if version == 3:
                export_registered(registry, tmp_path / "worse", settings)
            try:
                rollback(registry, settings, version)
            except RollbackRefused as error:
                refusals.append(str(error))
        after_refusals = served_version(server.address.grpc)
        history = deployments(registry)
        evaluations = registry.records("evaluations", sort="created")
        active = deployed_version(registry)
    finally:
        for client_loop in (loop, locals().get("rest_loop")):
            if client_loop is not None:
                client_loop.stop.set()
                client_loop.join(timeout=30)
        gateway.stop()
        server.stop()
        registry.close()
    assert (promoted.decision, promoted.promoted_version, promoted.champion_version) == ("promoted", 2, 1), promoted
    assert "Diebold-Mariano p" in promoted.reason and "rows of" in promoted.reason, promoted
    assert rejected.decision == "rejected" and "NLL" in rejected.reason, rejected
    # rollback to the served version, or to a rejected challenger, is refused without --force; nothing changed
    assert len(refusals) == 2 and "already served" in refusals[0] and "rejected" in refusals[1], refusals
    assert all("--force" in r for r in refusals) and after_refusals == 1
    assert failed.decision == "failed" and "no_such_run" in failed.reason
    # Triton and the registry agree at every step; the rejected and the failed runs changed nothing
    assert (after_promotion, after_rejections, after_rollback) == (2, 2, 1)
    assert [(d["to_version"], d["reason"]) for d in reversed(history)] == [
        (1, "initial"), (2, "promoted"), (1, "rollback")
    ]
    assert active == 1
    assert [e["decision"] for e in evaluations] == ["promoted", "rejected", "failed"]
    scored = evaluations[0]
    assert scored["challenger_metrics"]["nll"] < scored["champion_metrics"]["nll"]
    assert scored["rows"]["count"] > 0 and "random_walk" in scored["champion_metrics"]["baselines"]
    assert scored["challenger_metrics"]["nll_test"]["p_value"] < 0.10
    # every scored row lies after the validation end + purge of the split both runs stored
    assert np.datetime64(scored["rows"]["first"]) >= np.datetime64(stored_split(tiny_run.run_dir)["test"][0])
    assert evaluations[2]["error"]
    # the looping client: no failed request, every answer the numbers of its labelled version
    assert loop.failures == []
    versions = [v for v, _ in loop.answers]
    assert [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]] == ["1", "2", "1"]
    expected = {v: in_process(repository, windows, v)["MEAN"] for v in (1, 2)}
    for version, mean in loop.answers:
        np.testing.assert_allclose(mean, expected[int(version)], atol=1e-5)
    # the gateway: /models agrees with Triton at each step (within the 5 s its model info may be old),
    # with the run's metrics and the history; a REST client looping through it all lost no request
    for body, version, reasons in ((models_before, 1, ["initial"]), (models_promoted, 2, ["promoted", "initial"]),
                                   (models_rolled_back, 1, ["rollback", "promoted", "initial"])):
        assert body["served_by_triton"] == str(version) and body["active"]["version"] == version, body
        assert [d["reason"] for d in body["deployments"]] == reasons
    assert models_promoted["active"]["run"] == tiny_run.run_dir.name
    assert "mgdl" in models_promoted["active"]["metrics_test"] and models_promoted["active"]["split"]["test"]
    assert rest_loop.failures == [] and len(rest_loop.versions) > 0
    assert {v.rsplit("/v", 1)[-1] for v in rest_loop.versions} <= {"1", "2"}


def test_the_rollback_refusal_can_be_forced(tiny_run, registry_env, tmp_path):
    """`force` serves a refused target: the version already served is loaded again and recorded."""
    repository = tmp_path / "repo"
    settings = tiny_run.settings(model_repository=repository)
    registry = registry_env.client()
    registry.ensure_collections()
    export_registered(registry, tiny_run.run_dir, settings)
    server = start_triton(repository, tmp_path / "home")
    settings = settings.model_copy(update={"triton_grpc_port": server.grpc_port, "triton_admin_key": server.admin_key})
    try:
        record_served(registry, repository)
        with pytest.raises(RollbackRefused, match="already served"):
            rollback(registry, settings, 1)
        rollback(registry, settings, 1, force=True)
        history = deployments(registry)
    finally:
        server.stop()
        registry.close()
    assert [(d["to_version"], d["reason"]) for d in reversed(history)] == [(1, "initial"), (1, "rollback")]
    assert history[0]["note"].startswith("forced: version 1 is already served")


def _champion(registry, run_dir: Path) -> None:
    from registry.records import record_deployment, register_run

    registry.ensure_collections()
    register_run(registry, run_dir)
    registry.create("model_versions", {"version": 1, "run": run_dir.name})
    record_deployment(registry, 1, "initial")


def test_scored_rows_lie_after_both_runs_validation_and_purge(tiny_run, pocketbase, tmp_path):
    """A challenger trained with another split than the champion's: every scored row is after the later of the
    two validation ends + purges (its stored split, not a new split of the store), and a lower NLL that is not
    significant (here: no p-value can be below 0) does not promote."""
    from training.config import TrainConfig
    from training.dataset import SplitConfig
    from training.pipeline import train_run

    home = tmp_path / "home"
    shutil.copytree(tiny_run.home / "data", home / "data")
    config = TrainConfig.for_profile("tiny", home=home, split=SplitConfig(train_fraction=0.72, val_fraction=0.16))
    challenger = train_run(config)
    settings = tiny_run.settings(home=home, retrain_max_p_value=0.0, retrain_eval_days=500)
    with pocketbase.client() as registry:
        _champion(registry, tiny_run.run_dir)
        outcome = retrain(settings, registry, challenger_run=challenger)
        [evaluation] = registry.records("evaluations")
        assert deployed_version(registry) == 1
    assert outcome.decision == "rejected" and ("not significant" in outcome.reason or "not lower" in outcome.reason)
    rows = evaluation["rows"]
    first = np.datetime64(rows["first"])
    for split in (stored_split(tiny_run.run_dir), stored_split(challenger)):
        assert first > np.datetime64(split["val"][1]) and first >= np.datetime64(split["test"][0])
    assert first == np.datetime64(stored_split(challenger)["test"][0])  # the later boundary is the challenger's
    assert f"{rows['count']} rows of {rows['dates']} dates {rows['first']}..{rows['last']}" in outcome.reason


def test_a_run_without_a_stored_split_is_neither_challenger_nor_champion(tiny_run, pocketbase, tmp_path):
    settings = tiny_run.settings()
    with pocketbase.client() as registry:
        _champion(registry, tiny_run.run_dir)
        as_challenger = retrain(settings, registry, challenger_run=untrained(tiny_run, tmp_path / "c", 1, False))
    with pocketbase.client() as registry:
        registry._request("DELETE", "/api/collections/deployments")
        registry._request("DELETE", "/api/collections/model_versions")
        registry._request("DELETE", "/api/collections/training_runs")
        _champion(registry, untrained(tiny_run, tmp_path / "champion", 2, False))
        as_champion = retrain(settings, registry, challenger_run=tiny_run.run_dir)
        assert deployed_version(registry) == 1
    for outcome, role in ((as_challenger, "challenger"), (as_champion, "serving version 1's")):
        assert outcome.decision == "failed" and f"the {role} run" in outcome.reason, outcome
        assert "no stored split" in outcome.reason


def test_the_challenger_trains_with_the_champions_profile_unless_set(tiny_run, pocketbase):
    from lifecycle.retrain import challenger_profile
    from registry.records import record_deployment, register_run

    with pocketbase.client() as registry:
        registry.ensure_collections()
        register_run(registry, tiny_run.run_dir)
        registry.create("model_versions", {"version": 1, "run": tiny_run.run_dir.name})
        record_deployment(registry, 1, "initial")
        assert challenger_profile(tiny_run.settings(retrain_profile=None), registry, 1) == "tiny"
        assert challenger_profile(tiny_run.settings(retrain_profile="quick"), registry, 1) == "quick"
        assert challenger_profile(tiny_run.settings(retrain_profile=None), registry, None) == "quick"


def test_a_promotion_whose_load_fails_leaves_the_champions_configs(tiny_run, pocketbase, tmp_path):
    """The export and the deployment of a promotion are one repository transaction: Triton refusing the load
    (here: nothing listens on its HTTP port) puts back the configs the promotion found, so a restart serves
    the champion; the challenger's registered version stays on disk and in the registry, undeployed."""
    from export.repository import pinned_version
    from lifecycle.deploy import DeployError
    from lifecycle.retrain import promote
    from tests.fixtures.services import free_port
    from training.checkpoint import load_forecaster

    repository = tmp_path / "repo"
    settings = tiny_run.settings(model_repository=repository, triton_url=None, triton_http_port=free_port())
    with pocketbase.client() as registry:
        registry.ensure_collections()
        export_registered(registry, tiny_run.run_dir, settings)  # the champion's version 1, pinned
        champion_configs = {p.name: (repository / p.name / "config.pbtxt").read_text() for p in repository.iterdir()}
        with pytest.raises(DeployError, match="did not load version 2"):
            promote(settings, registry, tiny_run.run_dir, load_forecaster(tiny_run.run_dir), 1, "a test")
        assert deployed_version(registry) is None and registry.first("model_versions", "version = 2") is not None
    assert pinned_version(repository) == 1
    assert {name: (repository / name / "config.pbtxt").read_text() for name in champion_configs} == champion_configs
    assert (repository / "wig80" / "2" / "model_metadata.json").is_file()
