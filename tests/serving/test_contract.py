"""serving.contract: the one statement of model names, load order, tensors, the admin header and addresses."""

from __future__ import annotations

import pytest

from serving.contract import (
    ENSEMBLE_MODEL,
    LOAD_ORDER,
    TritonAddress,
    admin_headers,
    restriction_argument,
)
from settings import Settings


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)


def test_the_ensemble_loads_after_the_models_it_composes():
    assert LOAD_ORDER[-1] == ENSEMBLE_MODEL and len(set(LOAD_ORDER)) == 3


def test_the_admin_header_per_protocol():
    assert admin_headers("k-0123456789abcdef") == {"wig80-admin-key": "k-0123456789abcdef"}
    assert admin_headers("k-0123456789abcdef", "grpc") == {"triton-grpc-protocol-wig80-admin-key": "k-0123456789abcdef"}
    assert restriction_argument("k") == "model-repository:wig80-admin-key=k"


def test_without_triton_url_the_address_is_the_embedded_servers(monkeypatch):
    monkeypatch.delenv("TRITON_URL", raising=False)
    address = TritonAddress.from_settings(settings(triton_host="10.0.0.5", triton_http_port=9000,
                                                   triton_grpc_port=9001, triton_metrics_port=9002))
    assert (address.http, address.grpc) == ("10.0.0.5:9000", "10.0.0.5:9001")
    assert (address.http_url, address.metrics_url) == ("http://10.0.0.5:9000", "http://10.0.0.5:9002/metrics")


@pytest.mark.parametrize(("url", "grpc", "http"), [
    ("triton:8001", "triton:8001", "triton:8000"),
    ("grpc://triton:7001/", "triton:7001", "triton:8000"),
    ("triton", "triton:8001", "triton:8000"),
    ("[::1]:7001", "[::1]:7001", "[::1]:8000"),
])
def test_triton_url_names_the_host_for_every_protocol(url, grpc, http):
    """Model control (HTTP) goes to the same Triton the gateway's gRPC channel reaches, never to the
    embedded default's host."""
    address = TritonAddress.from_settings(settings(TRITON_URL=url, triton_host="127.0.0.1"))
    assert (address.grpc, address.http) == (grpc, http)


def test_a_triton_url_with_a_bad_port_is_refused_by_name():
    with pytest.raises(ValueError, match="TRITON_URL='triton:grpc'"):
        TritonAddress.from_settings(settings(TRITON_URL="triton:grpc"))
