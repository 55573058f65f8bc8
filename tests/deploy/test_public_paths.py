"""What is public: the gateway's routes split into public (the API, the dashboard, liveness, readiness) and
internal (/health's details, /metrics, the docs), and nginx.conf and the Ingress pass on exactly the public
ones. A new route fails here until it is put on one side (and, if public, into nginx.conf and the Ingress).
The real nginx routes them so in tests/gateway/test_nginx_tls.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"/", "/static", "/health/live", "/health/ready", "/analyze", "/batch_analyze", "/bars", "/symbols",
          "/models", "/dashboard/summary", "/spectrum/{symbol}", "/forecast/{symbol}", "/ws/realtime"}
INTERNAL = {"/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
EXAMPLES = {"/static": "/static/dashboard.js", "/spectrum/{symbol}": "/spectrum/ABE", "/forecast/{symbol}": "/forecast/ABE"}


def app_paths() -> set[str]:
    from gateway.main import create_app
    from settings import Settings

    app = create_app(Settings(_env_file=None, api_docs=True))
    paths = set()
    for route in app.routes:
        router = getattr(route, "original_router", None)  # an included router (FastAPI >= 0.165)
        paths |= {included.path for included in router.routes} if router is not None else {route.path}
    return paths


def example(path: str) -> str:
    return EXAMPLES.get(path, path)


def nginx_passes(path: str) -> bool:
    config = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    exact = re.findall(r"location = (\S+) \{", config)
    patterns = re.findall(r"location ~ (\S+) \{", config)
    assert exact and patterns and "return 404;" in config, "nginx.conf no longer has its public-path locations"
    return path in exact or any(re.search(pattern, path) for pattern in patterns)


def ingress_routes(path: str) -> bool:
    (ingress,) = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "ingress.yaml").read_text())
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            prefix = entry["path"]
            if entry["pathType"] == "Exact" and path == prefix:
                return True
            if entry["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
                return True
    return False


def test_every_route_of_the_gateway_is_public_or_internal():
    paths = app_paths()
    assert paths == PUBLIC | INTERNAL, f"unclassified: {sorted(paths - PUBLIC - INTERNAL)}; gone: {sorted(PUBLIC | INTERNAL - paths)}"


@pytest.mark.parametrize("path", sorted(PUBLIC))
def test_nginx_and_the_ingress_pass_on_the_public_paths(path):
    assert nginx_passes(example(path)), f"nginx.conf does not pass on {path}"
    assert ingress_routes(example(path)), f"ingress.yaml does not route {path}"


@pytest.mark.parametrize("path", sorted(INTERNAL | {"/metrics/", "/healthz", "/health/details", "/static"}))
def test_nginx_and_the_ingress_keep_the_internal_paths_inside(path):
    assert not nginx_passes(path), f"nginx.conf passes on {path}"
    if path != "/static":  # the Ingress routes the prefix /static (the gateway answers 404 for the folder)
        assert not ingress_routes(path), f"ingress.yaml routes {path}"
