"""Structure of the Kubernetes manifests: selectors match labels, probes and ports line up, secrets come
from the Secret, and NetworkPolicies let only the gateway reach Triton's gRPC and Redis, only Prometheus
Triton's metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def _documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


DOCS = _documents()


def _find(kind: str, name: str) -> dict:
    matches = [doc for doc in DOCS if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def _container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_every_document_has_kind_apiversion_and_name():
    assert DOCS
    for doc in DOCS:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), doc


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("name", ["triton", "gateway", "redis", "pocketbase"])
def test_deployment_selector_matches_its_pods_and_service(name):
    deployment = _find("Deployment", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = _find("Service", name)
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {port["name"] for port in _container(deployment)["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names


def test_triton_requests_a_gpu_and_is_ready_on_v2_health():
    container = _container(_find("Deployment", "triton"))
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert {port["containerPort"] for port in container["ports"]} == {8000, 8001, 8002}


def test_gateway_replicas_share_redis_and_are_ready_on_health():
    deployment = _find("Deployment", "gateway")
    assert deployment["spec"]["replicas"] >= 2
    container = _container(deployment)
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    config = _find("ConfigMap", "wig80-config")["data"]
    assert config["TRITON_URL"] == "triton:8001"
    assert {"configMapRef": {"name": "wig80-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "wig80-secrets"}} in container["envFrom"]


def test_no_credential_is_in_the_configmap():
    config = _find("ConfigMap", "wig80-config")["data"]
    for name in ("REDIS_URL", "MARKET_DB_URL", "WIG80_API_KEY", "WIG80_TRITON_ADMIN_KEY"):
        assert name not in config, f"{name} belongs in the Secret wig80-secrets"


def _secret_env(container: dict, name: str) -> str:
    """The Secret key that the container's environment variable `name` comes from."""
    [variable] = [env for env in container["env"] if env["name"] == name]
    reference = variable["valueFrom"]["secretKeyRef"]
    assert reference["name"] == "wig80-secrets"
    return reference["key"]


def test_triton_model_control_needs_the_admin_header():
    container = _container(_find("Deployment", "triton"))
    restriction = "model-repository:wig80-admin-key=$(WIG80_TRITON_ADMIN_KEY)"
    assert f"--http-restricted-api={restriction}" in container["args"]
    assert f"--grpc-restricted-protocol={restriction}" in container["args"]
    assert _secret_env(container, "WIG80_TRITON_ADMIN_KEY") == "WIG80_TRITON_ADMIN_KEY"


def test_redis_requires_the_password_of_the_secret():
    container = _container(_find("Deployment", "redis"))
    args = container["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert _secret_env(container, "REDIS_PASSWORD") == "REDIS_PASSWORD"
    assert "PONG" in " ".join(container["readinessProbe"]["exec"]["command"])


def _policies_for(app: str) -> list[dict]:
    """The NetworkPolicies (Ingress) that select the pods labelled app=`app`."""
    return [
        doc for doc in DOCS
        if doc["kind"] == "NetworkPolicy" and "Ingress" in doc["spec"]["policyTypes"]
        and doc["spec"]["podSelector"].get("matchLabels", {}).items() <= {"app": app}.items()
    ]


def _sources(app: str, port: int) -> list[dict]:
    """Every `from` peer allowed to reach `port` of app=`app` pods; {} stands for anyone."""
    peers = []
    for policy in _policies_for(app):
        for rule in policy["spec"].get("ingress", []):
            if any(entry.get("port") == port for entry in rule.get("ports", [{"port": port}])):
                peers.extend(rule.get("from", [{}]))
    return peers


GATEWAY_PODS = {"podSelector": {"matchLabels": {"app": "gateway"}}}


def test_every_pod_is_denied_ingress_unless_a_policy_allows_it():
    [deny] = [doc for doc in DOCS if doc["kind"] == "NetworkPolicy" and doc["spec"]["podSelector"] == {}]
    assert deny["spec"]["policyTypes"] == ["Ingress"] and not deny["spec"].get("ingress")


RETRAIN_PODS = {"podSelector": {"matchLabels": {"app": "retrain"}}}


def test_only_gateway_pods_and_the_retraining_job_reach_tritons_grpc_and_nobody_its_http():
    # the retraining job's model control goes over gRPC (with the admin key)
    assert _sources("triton", 8001) == [GATEWAY_PODS, RETRAIN_PODS]
    assert _sources("triton", 8000) == []


def test_only_the_gateway_and_the_retraining_job_reach_the_registry():
    assert _sources("pocketbase", 8090) == [GATEWAY_PODS, RETRAIN_PODS]


def test_retraining_is_a_cronjob_one_at_a_time_running_wig80_retrain():
    cronjob = _find("CronJob", "retrain")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["wig80", "retrain"]
    assert job["containers"][0]["envFrom"][1] == {"secretRef": {"name": "wig80-secrets"}}


def test_only_prometheus_reaches_tritons_metrics():
    [peer] = _sources("triton", 8002)
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert "namespaceSelector" in peer


def test_only_gateway_pods_reach_redis():
    assert _sources("redis", 6379) == [GATEWAY_PODS]


def test_the_gateway_is_the_open_entry_point():
    assert _sources("gateway", 8080) == [{}]


def test_gateway_probes_split_liveness_from_readiness_and_outwait_the_handler():
    from gateway.api.routes.health import DEPENDENCY_CHECK_TIMEOUT_S

    container = _container(_find("Deployment", "gateway"))
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    for probe in ("livenessProbe", "readinessProbe"):
        # the kubelet's default timeout is 1 s, shorter than the handler's own dependency checks
        assert container[probe].get("timeoutSeconds", 1) > DEPENDENCY_CHECK_TIMEOUT_S, probe


def test_gateway_autoscaler_targets_the_gateway():
    hpa = _find("HorizontalPodAutoscaler", "gateway")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gateway")
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
