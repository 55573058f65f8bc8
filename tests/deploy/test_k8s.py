"""Structure of the Kubernetes manifests: selectors match labels, probes and ports line up."""

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


@pytest.mark.parametrize("name", ["triton", "gateway", "redis"])
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
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    config = _find("ConfigMap", "wig80-config")["data"]
    assert config["REDIS_URL"].startswith("redis://redis:")
    assert config["TRITON_URL"] == "triton:8001"
    assert {"configMapRef": {"name": "wig80-config"}} in container["envFrom"]


def test_gateway_autoscaler_targets_the_gateway():
    hpa = _find("HorizontalPodAutoscaler", "gateway")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gateway")
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
