"""docker-compose.yml is checked by Debian's docker-compose (1.29), which validates without an engine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.programs import require_program

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OPERATOR_OVERRIDE = ROOT / "deploy" / "compose.operator.yml"
# every secret the file needs, none with a default; test values only
SECRETS = {
    "WIG80_API_KEY": "test-key",
    "WIG80_TRITON_ADMIN_KEY": "test-triton-admin-key",
    "WIG80_POCKETBASE_ADMIN_PASSWORD": "test-pocketbase-password",
    "REDIS_PASSWORD": "test-redis-password",
    "QUESTDB_USER": "test-questdb-user",
    "QUESTDB_PASSWORD": "test-questdb-password",
}
ENTRY_POINTS = {"gateway", "nginx"}  # the only services that may publish a port on the host


def _volume(entry: str | dict) -> tuple[str, str]:
    """(source, target) of a volume, in the short `src:dst[:mode]` or the long form."""
    if isinstance(entry, dict):
        return entry.get("source", ""), entry["target"]
    source, target = entry.split(":")[:2]
    return source, target


def _compose_config(*extra: str, env: dict[str, str] | None = None,
                    files: tuple[Path, ...] = (COMPOSE_FILE,)) -> subprocess.CompletedProcess:
    binary = require_program("docker-compose", "docker-compose")
    return subprocess.run(
        [binary, *(arg for path in files for arg in ("-f", str(path))), "config", *extra],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    result = _compose_config(env=SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid():
    result = _compose_config("-q", env=SECRETS)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("secret", SECRETS)
def test_a_missing_secret_is_refused_with_its_name(secret):
    env = {key: value for key, value in {**os.environ, **SECRETS}.items() if key != secret}
    binary = require_program("docker-compose", "docker-compose")
    result = subprocess.run([binary, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert secret in result.stderr


def test_only_the_entry_point_is_published(compose):
    services = compose["services"]
    assert set(services) >= {"triton", "gateway", "redis", "questdb", "prometheus"}
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}, "nginx is the only entry point; the gateway replicas sit behind it"
    assert {int(port["target"]) for port in services["nginx"]["ports"]} == {80}
    # nothing published by other means either
    assert not any(service.get("network_mode") == "host" for service in services.values())


def test_triton_model_control_needs_the_admin_header(compose):
    command = compose["services"]["triton"]["command"]
    restriction = f"model-repository:wig80-admin-key={SECRETS['WIG80_TRITON_ADMIN_KEY']}"
    assert f"--http-restricted-api={restriction}" in command
    assert f"--grpc-restricted-protocol={restriction}" in command
    gateway = compose["services"]["gateway"]["environment"]
    assert gateway["WIG80_TRITON_ADMIN_KEY"] == SECRETS["WIG80_TRITON_ADMIN_KEY"]


def test_redis_and_questdb_use_the_given_credentials(compose):
    services = compose["services"]
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1] == SECRETS["REDIS_PASSWORD"]
    questdb = services["questdb"]["environment"]
    assert (questdb["QDB_PG_USER"], questdb["QDB_PG_PASSWORD"]) == (
        SECRETS["QUESTDB_USER"], SECRETS["QUESTDB_PASSWORD"])
    gateway = services["gateway"]["environment"]
    assert gateway["REDIS_URL"] == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
    assert gateway["MARKET_DB_URL"] == (
        f"postgresql://{SECRETS['QUESTDB_USER']}:{SECRETS['QUESTDB_PASSWORD']}@questdb:8812/qdb")


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


def test_the_gateway_environment_passes_the_production_checks(compose, monkeypatch):
    from settings import Settings

    for name, value in compose["services"]["gateway"]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = Settings(_env_file=None)
    assert settings.environment == "production" and settings.unsafe_for_production() == []


def _host_address(port: str | dict) -> str:
    """The host address a published port binds to, in the short `[ip:]host:container` or the long form."""
    if isinstance(port, dict):
        return port.get("host_ip", "0.0.0.0")
    parts = str(port).split(":")
    return parts[0] if len(parts) == 3 else "0.0.0.0"


def test_the_operator_override_publishes_on_localhost_only():
    result = _compose_config(env=SECRETS, files=(COMPOSE_FILE, OPERATOR_OVERRIDE))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name, service in services.items():
        if name not in ENTRY_POINTS:
            assert all(_host_address(port) == "127.0.0.1" for port in service.get("ports", [])), name
    assert {name for name, service in services.items() if service.get("ports")} - ENTRY_POINTS == {
        "questdb", "prometheus"}


def test_nginx_fronts_the_gateway_which_trusts_only_its_address(compose):
    services = compose["services"]
    nginx = services["nginx"]
    mounted = {_volume(volume) for volume in nginx["volumes"]}
    assert any(source.endswith("deploy/nginx/nginx.conf") and target == "/etc/nginx/nginx.conf"
               for source, target in mounted)
    address = nginx["networks"]["default"]["ipv4_address"]
    assert services["gateway"]["environment"]["WIG80_TRUSTED_PROXIES"] == address
    assert nginx["depends_on"]["gateway"]["condition"] == "service_healthy"


def test_the_registry_and_the_retraining_service(compose):
    services = compose["services"]
    assert services["gateway"]["environment"]["POCKETBASE_URL"] == "http://pocketbase:8090"
    assert "ports" not in services["pocketbase"]
    retrain = services["retrain"]
    assert retrain["command"] == ["wig80", "retrain"] and retrain["profiles"] == ["retrain"]
    # it writes the versions into the repository that Triton serves
    triton_source = next(_volume(v)[0] for v in services["triton"]["volumes"] if _volume(v)[1] == "/models")
    home_source = next(_volume(v)[0] for v in retrain["volumes"])
    assert triton_source == f"{home_source}/model_repository"
