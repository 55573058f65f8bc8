import os

import pytest
from pydantic import ValidationError

from settings import DEVELOPMENT_TRITON_ADMIN_KEY, Settings


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


def production(monkeypatch, **env: str) -> Settings:
    """Settings of a production environment that is safe except for what `env` changes."""
    safe = {
        "WIG80_ENVIRONMENT": "production",
        "WIG80_API_KEY": "an-api-key",
        "WIG80_TRITON_ADMIN_KEY": "a-triton-admin-key-0123",
        "WIG80_POCKETBASE_ADMIN_PASSWORD": "a-pocketbase-password",
        "REDIS_URL": "redis://:a-password@redis:6379/0",
        "MARKET_DB_URL": "postgresql://wig80:a-password@questdb:8812/qdb",
    }
    for name, value in {**safe, **env}.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_production_accepts_set_secrets(monkeypatch):
    settings = production(monkeypatch)
    assert settings.environment == "production" and settings.triton_admin_key == "a-triton-admin-key-0123"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("WIG80_TRITON_ADMIN_KEY", DEVELOPMENT_TRITON_ADMIN_KEY, "WIG80_TRITON_ADMIN_KEY"),
        ("WIG80_TRITON_ADMIN_KEY", "short", "WIG80_TRITON_ADMIN_KEY"),
        ("WIG80_POCKETBASE_ADMIN_PASSWORD", "wig80-development-only", "WIG80_POCKETBASE_ADMIN_PASSWORD"),
        ("REDIS_URL", "redis://redis:6379/0", "REDIS_URL must carry a password"),
        ("MARKET_DB_URL", "postgresql://admin:quest@questdb:8812/qdb", "QuestDB's default password"),
    ],
)
def test_production_refuses_unsafe_defaults_naming_them(monkeypatch, name, value, reason):
    with pytest.raises(ValidationError, match=reason):
        production(monkeypatch, **{name: value})


def test_production_without_a_triton_admin_key_starts_but_refuses_model_control(monkeypatch):
    """The gateway needs no key (it never controls models); model control without one is refused, naming it."""
    production(monkeypatch)  # every other production demand met
    monkeypatch.delenv("WIG80_TRITON_ADMIN_KEY")
    settings = Settings(_env_file=None)
    assert settings.environment == "production" and settings.triton_admin_key is None
    with pytest.raises(ValueError, match="WIG80_TRITON_ADMIN_KEY is not set"):
        _ = settings.triton_model_control_key


def test_development_falls_back_to_the_development_triton_admin_key(monkeypatch):
    monkeypatch.delenv("WIG80_TRITON_ADMIN_KEY", raising=False)
    monkeypatch.delenv("WIG80_ENVIRONMENT", raising=False)
    settings = Settings(_env_file=None)
    assert settings.triton_admin_key is None and settings.triton_model_control_key == DEVELOPMENT_TRITON_ADMIN_KEY


def test_production_refuses_to_trust_forwarded_for_from_everyone(monkeypatch):
    with pytest.raises(ValidationError, match="trusts X-Forwarded-For from every address"):
        production(monkeypatch, WIG80_TRUSTED_PROXIES="10.0.0.2, 0.0.0.0/0")


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
