"""Triton's model-repository API is restricted: unload without the admin header is refused, with it obeyed."""

from __future__ import annotations

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from serving.contract import admin_headers
from serving.model_control import load_in_order
from serving.tritonserver import TritonServer
from tests.fixtures.services import free_port

pytestmark = pytest.mark.triton
ADMIN_KEY = "a-test-admin-key-of-some-length"


@pytest.fixture(scope="module")
def restricted_server(triton_server, tmp_path_factory):
    """A server of its own: this test unloads models, which the session's server must keep."""
    home = tmp_path_factory.mktemp("restricted")
    server = TritonServer(triton_server.repository, free_port(), free_port(), free_port(), home=home,
                          admin_key=ADMIN_KEY)
    with server:
        yield server


def protocol_client(server: TritonServer, protocol: str):
    if protocol == "http":
        return httpclient.InferenceServerClient(server.address.http)
    return grpcclient.InferenceServerClient(server.address.grpc)


REFUSED_HEADERS = {
    "no header": lambda protocol: None,
    "wrong key": lambda protocol: admin_headers("a-wrong-key-of-some-length", protocol),
    "the key under another name": lambda protocol: {"admin-key": ADMIN_KEY},
}


@pytest.mark.parametrize("case", REFUSED_HEADERS)
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unload_and_load_without_the_admin_header_are_refused(restricted_server, protocol, case):
    http = httpclient.InferenceServerClient(restricted_server.address.http)
    client = protocol_client(restricted_server, protocol)
    headers = REFUSED_HEADERS[case](protocol)
    try:
        with pytest.raises(InferenceServerException, match="is restricted, expecting header"):
            client.unload_model("wig80", headers=headers)
        with pytest.raises(InferenceServerException, match="is restricted, expecting header"):
            client.load_model("mgdl", headers=headers)
        assert http.is_model_ready("wig80") and http.is_model_ready("mgdl")
    finally:
        client.close()
        http.close()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unload_with_the_admin_header_works_and_reload_sends_it(restricted_server, protocol):
    http = httpclient.InferenceServerClient(restricted_server.address.http)
    client = protocol_client(restricted_server, protocol)
    try:
        client.unload_model("wig80", headers=restricted_server.admin_headers(protocol))
        assert not http.is_model_ready("wig80")
        load_in_order(restricted_server.address, restricted_server.admin_key, models=["wig80"])
        assert http.is_model_ready("wig80")
    finally:
        client.close()
        http.close()


def test_inference_and_health_stay_open(restricted_server):
    http = httpclient.InferenceServerClient(restricted_server.address.http)
    try:
        assert http.is_server_ready() and http.get_model_metadata("wig80")["name"] == "wig80"
    finally:
        http.close()
