"""docker-compose.yml is checked by Debian's docker-compose (1.29), which validates without an engine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"


def _volume(entry: str | dict) -> tuple[str, str]:
    """(source, target) of a volume, in the short `src:dst[:mode]` or the long form."""
    if isinstance(entry, dict):
        return entry.get("source", ""), entry["target"]
    source, target = entry.split(":")[:2]
    return source, target


def _compose_config(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (make test installs Debian's package when run as root)")
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", *extra],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    result = _compose_config(env={"WIG80_API_KEY": "test-key"})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid():
    result = _compose_config("-q", env={"WIG80_API_KEY": "test-key"})
    assert result.returncode == 0, result.stderr


def test_missing_api_key_is_refused_with_its_name():
    env = {key: value for key, value in os.environ.items() if key != "WIG80_API_KEY"}
    binary = shutil.which("docker-compose") or pytest.skip("docker-compose is not installed")
    result = subprocess.run([binary, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "WIG80_API_KEY" in result.stderr


def test_services_and_ports(compose):
    services = compose["services"]
    assert set(services) >= {"triton", "gateway", "redis", "questdb", "prometheus"}
    triton_ports = {int(port["target"]) for port in services["triton"]["ports"]}
    assert triton_ports == {8000, 8001, 8002}
    assert {int(port["target"]) for port in services["gateway"]["ports"]} == {8080}


def test_triton_gets_the_gpu_and_the_repository(compose):
    triton = compose["services"]["triton"]
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] and device["driver"] == "nvidia" for device in devices)
    assert any(_volume(volume)[1] == "/models" for volume in triton["volumes"])
    assert "--model-repository=/models" in triton["command"]
    assert "--model-control-mode=explicit" in triton["command"]


def test_gateway_starts_after_healthy_dependencies(compose):
    services = compose["services"]
    depends = services["gateway"]["depends_on"]
    for name in ("triton", "redis", "questdb"):
        assert depends[name]["condition"] == "service_healthy"
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    env = services["gateway"]["environment"]
    assert env["TRITON_URL"] == "triton:8001"
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["MARKET_DB_URL"].startswith("postgresql://") and "@questdb:8812/" in env["MARKET_DB_URL"]


def test_prometheus_scrapes_triton_and_gateway(compose):
    prometheus = compose["services"]["prometheus"]
    mounted = [_volume(v)[0] for v in prometheus["volumes"] if _volume(v)[1].endswith("prometheus.yml")]
    assert mounted, "prometheus.yml is not mounted"
    config = yaml.safe_load(Path(mounted[0]).read_text())
    targets = {target for job in config["scrape_configs"] for group in job["static_configs"]
               for target in group["targets"]}
    assert {"triton:8002", "gateway:8080"} <= targets


def test_dockerfiles_exist_for_built_services(compose):
    for name in ("triton", "gateway"):
        build = compose["services"][name]["build"]
        assert (Path(build["context"]) / build["dockerfile"]).is_file()
