"""deploy/k8s/ingress.yaml: HTTPS with the certificate of the Secret wig80-tls, the public paths routed to the
gateway Service's port (which ones: test_public_paths.py), the WebSocket timeouts and the gateway's body
limit, and the gateway trusts forwarded addresses."""

from __future__ import annotations

from pathlib import Path

import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
HOUR_S = 3600  # the longest update_frequency of a WebSocket subscription


def _load(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def test_the_ingress_routes_only_to_the_gateway_service():
    (ingress,) = _load("ingress.yaml")
    service = next(doc for doc in _load("gateway.yaml") if doc["kind"] == "Service")
    (rule,) = ingress["spec"]["rules"]
    assert rule["http"]["paths"], "no path routed"
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert path["pathType"] in {"Exact", "Prefix"}
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    assert "ingress.yaml" in (K8S / "kustomization.yaml").read_text()


def test_the_ingress_serves_https_only_with_the_certificate_of_a_secret():
    (ingress,) = _load("ingress.yaml")
    (tls,) = ingress["spec"]["tls"]
    (rule,) = ingress["spec"]["rules"]
    assert tls["secretName"] == "wig80-tls" and rule["host"] in tls["hosts"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


def test_the_ingress_keeps_websockets_open_and_limits_bodies_like_the_gateway():
    from settings import Settings

    (ingress,) = _load("ingress.yaml")
    annotations = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert int(annotations[prefix + "proxy-read-timeout"]) > HOUR_S
    assert int(annotations[prefix + "proxy-send-timeout"]) > HOUR_S
    assert annotations[prefix + "proxy-http-version"] == "1.1"
    limit = int(annotations[prefix + "proxy-body-size"])
    gateway_limit = Settings.model_fields["max_request_body_bytes"].default
    assert limit == gateway_limit


def test_the_gateway_trusts_forwarded_addresses_from_the_ingress():
    (configmap,) = _load("configmap.yaml")
    assert configmap["data"]["WIG80_TRUSTED_PROXIES"]
