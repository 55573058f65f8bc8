"""docker-compose.yml as Debian's docker-compose (1.29) renders it, without an engine: each service gets its
own secrets and no other's, only nginx publishes (HTTPS), the services sit on an internal network, every
service of ours runs non-root with no capabilities on a read-only root filesystem, and images carry version
tags. `make compose-test` (tests/deploy/compose_stack/) runs the same file for real."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from serving.contract import restriction_argument
from tests.fixtures.programs import require_program

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OPERATOR_OVERRIDE = ROOT / "deploy" / "compose.operator.yml"
CPU_OVERRIDE = ROOT / "deploy" / "compose.cpu.yml"
# every secret the file needs, none with a default; test values only (32+ characters, as production wants)
SECRETS = {
    "WIG80_API_KEY": "test-api-key-0123456789abcdefghijkl",
    "WIG80_TRITON_ADMIN_KEY": "test-triton-admin-key-0123456789abcd",
    "WIG80_POCKETBASE_ADMIN_PASSWORD": "test-pocketbase-password-0123456789",
    "WIG80_POCKETBASE_READER_PASSWORD": "test-pocketbase-reader-password-0123",
    "REDIS_PASSWORD": "test-redis-password-0123456789abcdef",
    "QUESTDB_USER": "test-questdb-user",
    "QUESTDB_PASSWORD": "test-questdb-password-0123456789abcd",
    "WIG80_TLS_CERT_FILE": "/etc/wig80-test/tls.crt",
    "WIG80_TLS_KEY_FILE": "/etc/wig80-test/tls.key",
}
# the secrets each service may see (in its environment, command or mounts), and no other
SECRETS_OF = {
    "triton": {"WIG80_TRITON_ADMIN_KEY"},
    "redis": {"REDIS_PASSWORD"},
    "questdb": {"QUESTDB_USER", "QUESTDB_PASSWORD"},
    "gateway": {"WIG80_API_KEY", "WIG80_POCKETBASE_READER_PASSWORD", "REDIS_PASSWORD", "QUESTDB_USER",
                "QUESTDB_PASSWORD"},
    "pocketbase": {"WIG80_POCKETBASE_ADMIN_PASSWORD"},
    "retrain": {"WIG80_TRITON_ADMIN_KEY", "WIG80_POCKETBASE_ADMIN_PASSWORD", "WIG80_POCKETBASE_READER_PASSWORD",
                "QUESTDB_USER", "QUESTDB_PASSWORD"},
    "nginx": {"WIG80_TLS_CERT_FILE", "WIG80_TLS_KEY_FILE"},
    "prometheus": set(),
}
OUR_IMAGES = {"gateway", "pocketbase", "retrain", "triton"}  # built from this repository's Dockerfiles
EXTERNAL_IMAGES_RUN_AS = {"redis", "nginx"}  # official images, started as a non-root `user:`


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


def _services(*files: Path) -> dict:
    result = _compose_config(env=SECRETS, files=(COMPOSE_FILE, *files))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


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


def _rendered(service: dict) -> str:
    """Everything of a service that can carry a secret: environment, command, volumes."""
    return yaml.safe_dump({key: service.get(key) for key in ("environment", "command", "volumes", "entrypoint")})


@pytest.mark.parametrize("name", SECRETS_OF)
def test_each_service_gets_its_own_secrets_and_no_other(compose, name):
    service = compose["services"][name]
    seen = {secret for secret, value in SECRETS.items() if value in _rendered(service)}
    assert seen == SECRETS_OF[name], f"{name}: sees {sorted(seen)}"


def test_the_gateway_never_holds_the_triton_admin_key(compose):
    gateway = compose["services"]["gateway"]
    assert "WIG80_TRITON_ADMIN_KEY" not in gateway["environment"]
    assert gateway["environment"]["WIG80_WORKLOAD"] == "gateway"
    assert compose["services"]["retrain"]["environment"]["WIG80_WORKLOAD"] == "lifecycle"


@pytest.mark.parametrize(("service", "workload"), [("gateway", "gateway"), ("retrain", "lifecycle")])
def test_each_workload_environment_passes_the_production_checks(compose, monkeypatch, service, workload):
    from settings import Settings

    for name in ("WIG80_API_KEY", "WIG80_TRITON_ADMIN_KEY", "WIG80_POCKETBASE_ADMIN_PASSWORD",
                 "WIG80_POCKETBASE_READER_PASSWORD", "WIG80_WORKLOAD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in compose["services"][service]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = Settings(_env_file=None)
    assert (settings.environment, settings.workload) == ("production", workload)
    assert settings.unsafe_for_production() == []


def test_only_nginx_is_published_over_https(compose):
    services = compose["services"]
    assert set(services) >= {"triton", "gateway", "redis", "questdb", "prometheus", "pocketbase", "nginx"}
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}, "nginx is the only entry point; the gateway replicas sit behind it"
    assert {int(port["target"]) for port in services["nginx"]["ports"]} == {8443}
    assert not any(service.get("network_mode") == "host" for service in services.values())
    mounts = {target: source for source, target in map(_volume, services["nginx"]["volumes"])}
    assert mounts["/etc/nginx/tls/tls.crt"] == SECRETS["WIG80_TLS_CERT_FILE"]
    assert mounts["/etc/nginx/tls/tls.key"] == SECRETS["WIG80_TLS_KEY_FILE"]
    assert mounts["/etc/nginx/nginx.conf"].endswith("deploy/nginx/nginx.conf")


def test_the_services_network_has_no_way_out_and_only_nginx_joins_the_edge(compose):
    networks = compose["networks"]
    assert networks["default"]["internal"] is True
    assert not networks["edge"].get("internal")
    on_edge = {name for name, service in compose["services"].items() if "edge" in (service.get("networks") or {})}
    assert on_edge == {"nginx"}


def test_triton_model_control_needs_the_admin_header(compose):
    command = compose["services"]["triton"]["command"]
    restriction = restriction_argument(SECRETS["WIG80_TRITON_ADMIN_KEY"])  # every restricted API, as embedded
    assert f"--http-restricted-api={restriction}" in command
    assert f"--grpc-restricted-protocol={restriction}" in command


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


def test_triton_gets_the_gpu_and_the_repository_read_only(compose):
    triton = compose["services"]["triton"]
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] and device["driver"] == "nvidia" for device in devices)
    assert "model-repository:/models:ro" in triton["volumes"]
    assert "--model-repository=/models" in triton["command"]
    assert "--model-control-mode=explicit" in triton["command"]


def test_triton_is_ngc_25_07_or_later():
    dockerfile = (ROOT / "deploy" / "triton.Dockerfile").read_text()
    year, month = map(int, re.search(r"nvcr\.io/nvidia/tritonserver:(\d+)\.(\d+)-py3", dockerfile).groups())
    assert (year, month) >= (25, 7), "Triton before 25.07 has the advisories CVE-2025-23310/23311/23319/23320/23334"


def test_gateway_starts_after_healthy_dependencies(compose):
    services = compose["services"]
    depends = services["gateway"]["depends_on"]
    for name in ("triton", "redis", "questdb", "pocketbase"):
        assert depends[name]["condition"] == "service_healthy"
    for name in ("triton", "redis", "questdb"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    assert "HEALTHCHECK" in (ROOT / "deploy" / "pocketbase.Dockerfile").read_text()
    assert services["gateway"]["environment"]["TRITON_URL"] == "triton:8001"


def test_prometheus_scrapes_triton_and_every_gateway_replica(compose):
    prometheus = compose["services"]["prometheus"]
    mounted = [_volume(v)[0] for v in prometheus["volumes"] if _volume(v)[1].endswith("prometheus.yml")]
    assert mounted, "prometheus.yml is not mounted"
    jobs = {job["job_name"]: job for job in yaml.safe_load(Path(mounted[0]).read_text())["scrape_configs"]}
    assert jobs["triton"]["static_configs"][0]["targets"] == ["triton:8002"]
    # one A record per replica (--scale gateway=N), each scraped
    assert jobs["gateway"]["dns_sd_configs"] == [{"names": ["gateway"], "type": "A", "port": 8080,
                                                  "refresh_interval": "30s"}]


def _last_user(dockerfile: Path) -> str:
    return re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), flags=re.M)[-1]


@pytest.mark.parametrize("name", sorted(OUR_IMAGES | EXTERNAL_IMAGES_RUN_AS | {"prometheus"}))
def test_services_run_non_root_without_capabilities_on_a_read_only_root(compose, name):
    service = compose["services"][name]
    assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"]
    if name in OUR_IMAGES:
        user = _last_user(ROOT / service["build"]["context"] / service["build"]["dockerfile"])
    else:
        user = service.get("user", "65534")  # prom/prometheus runs as nobody
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{name} runs as {user}: a numeric non-root user"
    if name != "triton":  # NGC's entrypoint has not been run read-only here (no GPU)
        assert service["read_only"] is True


def test_images_carry_the_projects_version_not_latest(compose):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in compose["services"].items():
        image = service["image"]
        assert not image.endswith(":latest") and ":" in image, f"{name}: {image}"
        if name in OUR_IMAGES:
            assert image.endswith(f":{version}"), f"{name}: {image} (pyproject.toml is {version})"


def test_the_operator_override_publishes_on_localhost_only():
    services = _services(OPERATOR_OVERRIDE)
    for name, service in services.items():
        if name != "nginx":
            assert all(_host_address(port) == "127.0.0.1" for port in service.get("ports", [])), name
    opened = {name for name, service in services.items() if service.get("ports")} - {"nginx"}
    assert opened == {"questdb", "prometheus"}
    assert all("edge" in services[name]["networks"] for name in opened), "a published port needs the edge network"


def _host_address(port: str | dict) -> str:
    """The host address a published port binds to, in the short `[ip:]host:container` or the long form."""
    if isinstance(port, dict):
        return port.get("host_ip", "0.0.0.0")
    parts = str(port).split(":")
    return parts[0] if len(parts) == 3 else "0.0.0.0"


def test_nginx_fronts_the_gateway_which_trusts_only_its_address(compose):
    services = compose["services"]
    nginx = services["nginx"]
    address = nginx["networks"]["default"]["ipv4_address"]
    assert services["gateway"]["environment"]["WIG80_TRUSTED_PROXIES"] == address
    assert nginx["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert nginx["user"] == "101:101"


def test_the_registry_and_the_retraining_service_keep_their_data_in_named_volumes(compose):
    services = compose["services"]
    assert services["gateway"]["environment"]["POCKETBASE_URL"] == "http://pocketbase:8090"
    assert "ports" not in services["pocketbase"]
    retrain = services["retrain"]
    assert retrain["command"] == ["wig80", "retrain"] and retrain["profiles"] == ["retrain"]
    mounts = {target: source for source, target in map(_volume, retrain["volumes"])}
    # its home outlives a run (the next one finds the champion's artifacts); it writes the versions
    # into the repository that Triton serves
    assert mounts == {"/var/lib/wig80": "retrain-home", "/models": "model-repository"}
    assert {"retrain-home", "model-repository", "pocketbase-data"} <= set(compose["volumes"])
    lifecycle = (ROOT / "deploy" / "lifecycle.Dockerfile").read_text()
    assert "WIG80_HOME=/var/lib/wig80" in lifecycle and "WIG80_MODEL_REPOSITORY=/models" in lifecycle


def test_the_cpu_override_serves_the_embedded_triton_through_the_projects_launcher():
    triton = _services(CPU_OVERRIDE)["triton"]
    assert triton["command"] == ["wig80", "serve", "--triton-only"]
    assert triton["build"]["dockerfile"] == "deploy/lifecycle.Dockerfile"
    assert triton["environment"]["WIG80_MODEL_REPOSITORY"] == "/models"
    assert "model-repository:/models:ro" in triton["volumes"]
