"""`wig80 serve`'s embedded Triton as the arguments and settings describe it: loopback unless a listen address
is asked for (`--triton-listen`, WIG80_TRITON_LISTEN), HTTP only when asked, the model-control key."""

from __future__ import annotations

import argparse

import pytest
from pydantic import ValidationError

from settings import DEVELOPMENT_TRITON_ADMIN_KEY, Settings
from wig80.commands.serve import add_serving_arguments, embedded_server


@pytest.fixture(autouse=True)
def no_triton_environment(monkeypatch):
    for name in ("WIG80_TRITON_LISTEN", "WIG80_TRITON_HOST", "WIG80_TRITON_HTTP", "WIG80_TRITON_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)


def arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serving_arguments(parser)
    return parser.parse_args(list(argv))


def settings(tmp_path, **fields: object) -> Settings:
    return Settings(_env_file=None, home=tmp_path, **fields)


def test_the_embedded_triton_is_on_loopback_with_grpc_only_and_the_development_key(tmp_path):
    server = embedded_server(arguments(), settings(tmp_path, triton_admin_key=None))
    assert (server.host, server.http, server.admin_key) == ("127.0.0.1", False, DEVELOPMENT_TRITON_ADMIN_KEY)
    assert "--allow-http=false" in server.http_args()


def test_a_non_loopback_triton_host_is_refused_naming_the_way_to_ask_for_it(tmp_path):
    with pytest.raises(ValueError, match="loopback only.*WIG80_TRITON_LISTEN"):
        embedded_server(arguments(), settings(tmp_path, triton_host="0.0.0.0"))


def test_a_listen_address_binds_beyond_loopback_from_the_setting_or_the_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("WIG80_TRITON_LISTEN", "0.0.0.0")  # as a container's environment names it
    assert embedded_server(arguments(), Settings(_env_file=None, home=tmp_path)).host == "0.0.0.0"
    assert embedded_server(arguments("--triton-listen", "::"), settings(tmp_path)).host == "::"


def test_production_without_the_admin_key_starts_no_embedded_triton(tmp_path):
    secrets = {"api_key": "a" * 32, "pocketbase_admin_password": "p" * 32, "pocketbase_reader_password": "r" * 32}
    with pytest.raises(ValidationError, match="WIG80_TRITON_ADMIN_KEY must be set"):
        settings(tmp_path, environment="production", triton_admin_key=None, redis_url=None, market_db_url=None,
                 **secrets)
    production = settings(tmp_path, environment="production", triton_admin_key="k" * 32, redis_url=None,
                          market_db_url=None, **secrets)
    # the launcher's own check, should settings reach it without the key (model_copy does not validate)
    with pytest.raises(ValueError, match="WIG80_TRITON_ADMIN_KEY is not set"):
        embedded_server(arguments(), production.model_copy(update={"triton_admin_key": None}))
    assert embedded_server(arguments(), production).admin_key == "k" * 32


def test_triton_http_is_served_when_asked(tmp_path):
    assert embedded_server(arguments("--triton-http"), settings(tmp_path)).http
    assert embedded_server(arguments(), settings(tmp_path, triton_http=True)).http
