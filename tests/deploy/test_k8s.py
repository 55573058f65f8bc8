"""Structure of the Kubernetes manifests: selectors match labels, probes and ports line up, each workload
reads a Secret of its own, every pod runs non-root with no capabilities on a read-only root filesystem, and
NetworkPolicies let only the ingress controller (and Prometheus) reach the gateway, only the gateway Triton's
gRPC and Redis, only Prometheus Triton's metrics. The schemas themselves: tests/deploy/test_scanners.py."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

import pytest
import yaml

from serving.contract import restriction_argument

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# the Secret each workload reads, with what it uses and no more (docs: configmap.yaml, README)
SECRET_OF = {"gateway": "wig80-gateway", "retrain": "wig80-lifecycle", "triton": "wig80-triton",
             "redis": "wig80-redis", "pocketbase": "wig80-pocketbase"}


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
    assert {"secretRef": {"name": "wig80-gateway"}} in container["envFrom"]


def test_no_credential_is_in_the_configmap():
    config = _find("ConfigMap", "wig80-config")["data"]
    for name in ("REDIS_URL", "MARKET_DB_URL", "WIG80_API_KEY", "WIG80_TRITON_ADMIN_KEY"):
        assert name not in config, f"{name} belongs in the Secret wig80-secrets"


def _secret_env(container: dict, name: str, secret: str) -> str:
    """The key of Secret `secret` that the container's environment variable `name` comes from."""
    [variable] = [env for env in container["env"] if env["name"] == name]
    reference = variable["valueFrom"]["secretKeyRef"]
    assert reference["name"] == secret
    return reference["key"]


def test_triton_model_control_needs_the_admin_header():
    container = _container(_find("Deployment", "triton"))
    restriction = restriction_argument("$(WIG80_TRITON_ADMIN_KEY)")  # every restricted API, as embedded
    assert f"--http-restricted-api={restriction}" in container["args"]
    assert f"--grpc-restricted-protocol={restriction}" in container["args"]
    assert _secret_env(container, "WIG80_TRITON_ADMIN_KEY", "wig80-triton") == "WIG80_TRITON_ADMIN_KEY"


def test_redis_requires_the_password_of_the_secret():
    container = _container(_find("Deployment", "redis"))
    args = container["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert _secret_env(container, "REDIS_PASSWORD", "wig80-redis") == "REDIS_PASSWORD"
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
    assert job["containers"][0]["envFrom"][1] == {"secretRef": {"name": "wig80-lifecycle"}}


def test_the_retraining_home_outlives_a_run():
    job = _find("CronJob", "retrain")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    home = {env["name"]: env.get("value") for env in job["containers"][0]["env"]}["WIG80_HOME"]
    [mount] = [m for m in job["containers"][0]["volumeMounts"] if m["mountPath"] == home]
    [volume] = [v for v in job["volumes"] if v["name"] == mount["name"]]
    claim = _find("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_only_prometheus_reaches_tritons_metrics():
    [peer] = _sources("triton", 8002)
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
    assert "namespaceSelector" in peer


def test_only_gateway_pods_reach_redis():
    assert _sources("redis", 6379) == [GATEWAY_PODS]


INGRESS_CONTROLLER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                      "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}


def test_only_the_ingress_controller_and_prometheus_reach_the_gateway():
    assert _sources("gateway", 8080) == [INGRESS_CONTROLLER, PROMETHEUS]


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


def _pods() -> dict[str, dict]:
    """Every workload's pod spec, by its app label."""
    pods = {}
    for doc in DOCS:
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
        else:
            continue
        pods[template["metadata"]["labels"]["app"]] = template["spec"]
    return pods


PODS = _pods()


def test_every_workload_is_covered():
    assert set(PODS) == set(SECRET_OF)


@pytest.mark.parametrize("app", sorted(PODS))
def test_every_pod_runs_non_root_without_capabilities_on_a_read_only_root(app):
    pod = PODS[app]
    assert pod["automountServiceAccountToken"] is False
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] > 0 and security["runAsGroup"] > 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "capabilities": {"drop": ["ALL"]}}, container["name"]
        # with a read-only root, whatever it writes is an explicit volume
        writable = {m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")}
        assert writable, f"{app} has no writable mount"
        assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]


@pytest.mark.parametrize("app", sorted(PODS))
def test_every_workload_reads_only_its_own_secret(app):
    pod = PODS[app]
    referenced = set()
    for container in pod["containers"]:
        referenced |= {ref["secretRef"]["name"] for ref in container.get("envFrom", []) if "secretRef" in ref}
        referenced |= {env["valueFrom"]["secretKeyRef"]["name"] for env in container.get("env", [])
                       if "secretKeyRef" in env.get("valueFrom", {})}
    assert referenced == {SECRET_OF[app]}


def test_images_carry_a_version_tag():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for app, pod in PODS.items():
        for container in pod["containers"]:
            name, _, tag = container["image"].rpartition(":")
            assert name and tag and tag != "latest", f"{app}: {container['image']}"
            if name.startswith("wig80/"):
                assert tag == version, f"{app}: {container['image']} (pyproject.toml is {version})"


def test_triton_is_ngc_25_07_or_later_and_listed_so():
    dockerfile = (ROOT / "deploy" / "triton.Dockerfile").read_text()
    assert "nvcr.io/nvidia/tritonserver:25.07-py3" in dockerfile
    assert "25.07" in (K8S / "triton.yaml").read_text()


def test_the_gateway_trusts_the_ingress_pods_and_passes_the_production_checks(monkeypatch):
    from settings import MIN_TRUSTED_PREFIX, Settings

    config = _find("ConfigMap", "wig80-config")["data"]
    for proxy in config["WIG80_TRUSTED_PROXIES"].split(","):
        network = ipaddress.ip_network(proxy.strip(), strict=False)
        assert network.prefixlen >= MIN_TRUSTED_PREFIX[network.version]
    pod = PODS["gateway"]
    env = {**config, **{e["name"]: e["value"] for e in pod["containers"][0]["env"] if "value" in e}}
    # what the Secret wig80-gateway holds (README's kubectl command), with test values
    env |= {"WIG80_API_KEY": "k" * 32, "WIG80_POCKETBASE_READER_PASSWORD": "p" * 32,
            "REDIS_URL": "redis://:r@redis:6379/0", "MARKET_DB_URL": "postgresql://u:q@questdb:8812/qdb"}
    for name in ("WIG80_TRITON_ADMIN_KEY", "WIG80_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.workload == "gateway" and settings.unsafe_for_production() == []
