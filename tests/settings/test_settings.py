import os

import pytest
from pydantic import ValidationError

from settings import DEVELOPMENT_TRITON_ADMIN_KEY, MIN_SECRET_LENGTH, Settings

API_KEY = "an-api-key-of-thirty-two-chars.."
TRITON_ADMIN_KEY = "a-triton-admin-key-of-32-chars.."
POCKETBASE_PASSWORD = "a-pocketbase-password-of-32-char"
READER_PASSWORD = "a-registry-reader-password-of-32"


def test_service_urls_keep_their_conventional_names(monkeypatch):
    monkeypatch.setenv("MARKET_DB_URL", "postgresql://u@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/0")
    monkeypatch.setenv("TRITON_URL", "h:8001")
    monkeypatch.setenv("WIG80_HOME", "/tmp/w80")
    settings = Settings(_env_file=None)
    assert settings.market_db_url == "postgresql://u@h/db"
    assert settings.redis_url == "redis://h:6379/0"
    assert settings.triton_url == "h:8001"
    assert str(settings.home) == "/tmp/w80"


def test_defaults_are_the_embedded_ones(monkeypatch):
    for name in ("MARKET_DB_URL", "REDIS_URL", "TRITON_URL", "WIG80_HOME"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.market_db_url is None and settings.redis_url is None and settings.triton_url is None
    assert settings.cache_ttl_seconds == 300 and settings.max_batch_size == 32
    assert settings.api_port == 8080


def test_production_refuses_a_missing_api_key(monkeypatch):
    monkeypatch.setenv("WIG80_ENVIRONMENT", "production")
    monkeypatch.delenv("WIG80_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="WIG80_API_KEY"):
        Settings(_env_file=None)


def test_bad_value_is_refused_with_the_field_name(monkeypatch):
    monkeypatch.setenv("WIG80_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="batch_size"):
        Settings(_env_file=None)


def test_the_model_repository_follows_the_home(monkeypatch, tmp_path):
    monkeypatch.delenv("WIG80_MODEL_REPOSITORY", raising=False)
    monkeypatch.setenv("WIG80_HOME", str(tmp_path / "a"))
    settings = Settings(_env_file=None)
    assert settings.repository_dir == tmp_path / "a" / "model_repository"
    # a copy made for another home (as the tests and the benchmarks make them) follows that home
    assert settings.model_copy(update={"home": tmp_path / "b"}).repository_dir == tmp_path / "b" / "model_repository"
    monkeypatch.setenv("WIG80_MODEL_REPOSITORY", str(tmp_path / "elsewhere"))
    assert Settings(_env_file=None).repository_dir == tmp_path / "elsewhere"


def production(monkeypatch, **env: str | None) -> Settings:
    """Settings of a production environment that is safe except for what `env` changes (None: unset)."""
    safe = {
        "WIG80_ENVIRONMENT": "production",
        "WIG80_API_KEY": API_KEY,
        "WIG80_TRITON_ADMIN_KEY": TRITON_ADMIN_KEY,
        "WIG80_POCKETBASE_ADMIN_PASSWORD": POCKETBASE_PASSWORD,
        "WIG80_POCKETBASE_READER_PASSWORD": READER_PASSWORD,
        "REDIS_URL": "redis://:a-password@redis:6379/0",
        "MARKET_DB_URL": "postgresql://wig80:a-password@questdb:8812/qdb",
    }
    for name, value in {**safe, **env}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_production_accepts_set_secrets(monkeypatch):
    settings = production(monkeypatch)
    assert settings.environment == "production" and settings.triton_admin_key == TRITON_ADMIN_KEY
    assert all(len(key) == MIN_SECRET_LENGTH for key in (API_KEY, TRITON_ADMIN_KEY, POCKETBASE_PASSWORD))


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("WIG80_TRITON_ADMIN_KEY", DEVELOPMENT_TRITON_ADMIN_KEY, "WIG80_TRITON_ADMIN_KEY"),
        ("WIG80_TRITON_ADMIN_KEY", "short", "WIG80_TRITON_ADMIN_KEY"),
        ("WIG80_API_KEY", "x", "WIG80_API_KEY"),
        ("WIG80_API_KEY", API_KEY[:-1], "WIG80_API_KEY"),  # 31 characters
        ("WIG80_POCKETBASE_ADMIN_PASSWORD", POCKETBASE_PASSWORD[:-1], "WIG80_POCKETBASE_ADMIN_PASSWORD"),
        ("WIG80_POCKETBASE_ADMIN_PASSWORD", "wig80-development-only", "WIG80_POCKETBASE_ADMIN_PASSWORD"),
        ("WIG80_POCKETBASE_READER_PASSWORD", READER_PASSWORD[:-1], "WIG80_POCKETBASE_READER_PASSWORD"),
        ("WIG80_POCKETBASE_READER_PASSWORD", "wig80-development-only-reader", "WIG80_POCKETBASE_READER_PASSWORD"),
        ("REDIS_URL", "redis://redis:6379/0", "REDIS_URL must carry a password"),
        ("MARKET_DB_URL", "postgresql://admin:quest@questdb:8812/qdb", "QuestDB's default password"),
    ],
)
def test_production_refuses_unsafe_defaults_naming_them(monkeypatch, name, value, reason):
    with pytest.raises(ValidationError, match=reason):
        production(monkeypatch, **{name: value})


def test_production_without_a_triton_admin_key_starts_but_refuses_model_control(monkeypatch):
    """The gateway needs no key (it never controls models); model control without one is refused, naming it."""
    settings = production(monkeypatch, WIG80_WORKLOAD="gateway", WIG80_TRITON_ADMIN_KEY=None,
                         WIG80_POCKETBASE_ADMIN_PASSWORD=None)
    assert settings.environment == "production" and settings.triton_admin_key is None
    with pytest.raises(ValueError, match="WIG80_TRITON_ADMIN_KEY is not set"):
        _ = settings.triton_model_control_key


def test_development_falls_back_to_the_development_triton_admin_key(monkeypatch):
    monkeypatch.delenv("WIG80_TRITON_ADMIN_KEY", raising=False)
    monkeypatch.delenv("WIG80_ENVIRONMENT", raising=False)
    settings = Settings(_env_file=None)
    assert settings.triton_admin_key is None and settings.triton_model_control_key == DEVELOPMENT_TRITON_ADMIN_KEY


def test_production_refuses_a_missing_triton_admin_key_where_model_control_runs(monkeypatch):
    monkeypatch.delenv("WIG80_TRITON_ADMIN_KEY", raising=False)
    with pytest.raises(ValidationError, match="WIG80_TRITON_ADMIN_KEY"):
        Settings(_env_file=None, environment="production", api_key=API_KEY)


@pytest.mark.parametrize("proxies", ["10.0.0.2, 0.0.0.0/0", "0.0.0.0/1,128.0.0.0/1", "10.0.0.0/15",
                                     "fd00::/63", "::/0", "::ffff:10.0.0.0/111"])
def test_production_refuses_trusted_proxy_ranges_wider_than_a_pod_network(monkeypatch, proxies):
    with pytest.raises(ValidationError, match="trusts X-Forwarded-For from too many addresses"):
        production(monkeypatch, WIG80_TRUSTED_PROXIES=proxies)


@pytest.mark.parametrize("proxies", ["172.30.80.10", "10.244.0.0/16", "fd00:10:244:1::/64", "::ffff:10.1.0.0/112"])
def test_production_accepts_proxy_addresses_and_pod_networks(monkeypatch, proxies):
    assert production(monkeypatch, WIG80_TRUSTED_PROXIES=proxies).trusted_proxies


def test_each_workload_gets_its_own_secrets_and_refuses_the_others(monkeypatch):
    gateway = production(monkeypatch, WIG80_WORKLOAD="gateway", WIG80_TRITON_ADMIN_KEY=None,
                         WIG80_POCKETBASE_ADMIN_PASSWORD=None)
    assert gateway.workload == "gateway" and gateway.api_key == API_KEY
    with pytest.raises(ValidationError, match="WIG80_TRITON_ADMIN_KEY is not used by the gateway workload"):
        production(monkeypatch, WIG80_WORKLOAD="gateway")
    with pytest.raises(ValidationError, match="WIG80_POCKETBASE_ADMIN_PASSWORD is not used by the gateway workload"):
        production(monkeypatch, WIG80_WORKLOAD="gateway", WIG80_TRITON_ADMIN_KEY=None)  # the registry superuser
    lifecycle = production(monkeypatch, WIG80_WORKLOAD="lifecycle", WIG80_API_KEY=None)
    assert lifecycle.triton_admin_key == TRITON_ADMIN_KEY
    with pytest.raises(ValidationError, match="WIG80_API_KEY is not used by the lifecycle workload"):
        production(monkeypatch, WIG80_WORKLOAD="lifecycle")
    with pytest.raises(ValidationError, match="WIG80_TRITON_ADMIN_KEY must be set"):
        production(monkeypatch, WIG80_WORKLOAD="lifecycle", WIG80_API_KEY=None, WIG80_TRITON_ADMIN_KEY=None)


def test_trusted_proxies_are_a_comma_list_of_networks(monkeypatch):
    monkeypatch.setenv("WIG80_TRUSTED_PROXIES", "10.0.0.2, 172.16.0.0/12")
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.2", "172.16.0.0/12"]
    monkeypatch.setenv("WIG80_TRUSTED_PROXIES", "nginx")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(_env_file=None)


def test_docs_default_off_in_production_and_bounded_bodies(monkeypatch):
    monkeypatch.delenv("WIG80_API_DOCS", raising=False)
    assert Settings(_env_file=None).docs_enabled
    assert Settings(_env_file=None).max_request_body_bytes == 1_000_000
    with pytest.raises(ValidationError, match="max_request_body_bytes"):
        Settings(_env_file=None, max_request_body_bytes=0)
    assert production(monkeypatch).docs_enabled is False
    assert production(monkeypatch, WIG80_API_DOCS="true").docs_enabled


def test_the_environment_of_a_child_reproduces_the_settings(monkeypatch, tmp_path):
    """What `wig80 serve` hands its gateway workers and a scheduled retraining instead of editing its own
    settings through os.environ: a child reading this environment gets the very same Settings."""
    for name in list(os.environ):
        if name.startswith("WIG80_") or name in ("MARKET_DB_URL", "REDIS_URL", "TRITON_URL", "POCKETBASE_URL"):
            monkeypatch.delenv(name)
    changed = Settings(_env_file=None).model_copy(update={
        "home": tmp_path, "triton_grpc_port": 18001, "pocketbase_url": "http://127.0.0.1:18090",
        "trusted_proxies": ["10.0.0.0/8", "192.0.2.7"], "api_access_log": False, "prediction_interval_level": 0.9,
    })
    environment = changed.as_environment()
    assert environment["WIG80_HOME"] == str(tmp_path) and environment["POCKETBASE_URL"] == "http://127.0.0.1:18090"
    assert "TRITON_URL" not in environment  # unset stays unset: the child starts from its own environment
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None) == changed


def test_a_gateway_workers_environment_carries_only_the_gateways_secrets(monkeypatch):
    """`wig80.commands.gateway_worker` with WIG80_API_WORKERS > 1 in production (the gateway image): each
    worker builds its settings from `as_environment()`, and production refuses another workload's secret."""
    parent = production(monkeypatch, WIG80_WORKLOAD="gateway", WIG80_TRITON_ADMIN_KEY=None,
                        WIG80_POCKETBASE_ADMIN_PASSWORD=None, WIG80_API_WORKERS="2")
    environment = parent.as_environment()
    assert "WIG80_TRITON_ADMIN_KEY" not in environment
    assert environment["WIG80_API_KEY"] == API_KEY
    monkeypatch.delenv("WIG80_API_KEY")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None) == parent
