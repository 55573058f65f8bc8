"""What a client without the admin key reaches on the embedded Triton (2.51, see docs/serving.md): inference,
health, metadata and configs over gRPC, on loopback. Not HTTP (unless asked), so not the chunked request that
kills 2.51 with SIGSEGV; not shared memory (the Python backend's own IPC region), logging, trace, statistics
or model control; and `ps` does not show the key."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import psutil
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from serving.backend_regions import SHM_DIR, regions_of
from serving.contract import admin_headers
from serving.tritonserver import TritonServer
from tests.fixtures.services import free_port
from tests.serving.conftest import grpc_ready, ohlcv_input

pytestmark = pytest.mark.triton
ADMIN_KEY = "an-exposure-test-admin-key-0123"
RESTRICTED = "restricted, expecting header"
CHUNKS = 600_000  # one-byte chunks: what killed tritonserver 2.51 through its HTTP port (issue 19)


@pytest.fixture(scope="module")
def default_server(triton_server, tmp_path_factory):
    """A server as `wig80 serve` starts it (HTTP off), with project settings in its parent's environment."""
    home = tmp_path_factory.mktemp("exposure")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WIG80_TRITON_ADMIN_KEY", ADMIN_KEY)
        env.setenv("REDIS_URL", "redis://:a-password@127.0.0.1:6379/15")
        server = TritonServer(triton_server.repository, free_port(), free_port(), free_port(), home=home,
                              admin_key=ADMIN_KEY)
        server.start()
    with server:  # waits until ready; stops at the end
        yield server


def send_chunked_infer(port: int, path: str = "/v2/models/wig80/infer", chunks: int = CHUNKS) -> bytes:
    """POST `path` with a body of `chunks` one-byte chunks (Transfer-Encoding: chunked); the answer's start."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: triton\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n".encode())
        connection.sendall(b"1\r\n{\r\n" * chunks + b"0\r\n\r\n")
        return connection.recv(200)


def test_the_chunked_request_finds_no_http_port_and_the_metrics_port_refuses_it(default_server):
    with pytest.raises(ConnectionRefusedError):
        send_chunked_infer(default_server.http_port)
    # the metrics endpoint is HTTP as well (loopback only): it answers the same request 405 and lives on
    assert send_chunked_infer(default_server.metrics_port, "/metrics").startswith(b"HTTP/1.1 405")
    assert default_server.is_running() and default_server.is_ready()


def the_backends_own_region(server: TritonServer) -> str:
    """The shared-memory region tritonserver shares with a Python-backend stub (its name is in `ps`)."""
    regions = regions_of(server.pid)
    assert regions and all((SHM_DIR / name).exists() for name in regions), regions
    return sorted(regions)[0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_registering_the_python_backends_own_region_is_refused(protocol, default_server, triton_server):
    # HTTP: the session's server, which has it on (asked for), restricted the same way
    server = default_server if protocol == "grpc" else triton_server.server
    module = grpcclient if protocol == "grpc" else httpclient
    client = module.InferenceServerClient(server.address.grpc if protocol == "grpc" else server.address.http)
    try:
        region = the_backends_own_region(server)
        with pytest.raises(InferenceServerException, match=RESTRICTED):
            client.register_system_shared_memory("stolen", f"/{region}", 1024)
        with pytest.raises(InferenceServerException, match=RESTRICTED):
            client.register_system_shared_memory("stolen", f"/{region}", 1024,
                                                 headers=admin_headers("a-wrong-key-of-some-length", protocol))
        status = client.get_system_shared_memory_status(headers=server.admin_headers(protocol), **as_json(protocol))
        assert "stolen" not in str(status)  # nothing was registered
    finally:
        client.close()


def as_json(protocol: str) -> dict:
    return {"as_json": True} if protocol == "grpc" else {}


# (refused without the key, what the same request does with it); the writes are tried without the key only
RESTRICTED_CALLS = {
    "raise the log verbosity": lambda client, headers: client.update_log_settings({"log_verbose_level": 2},
                                                                                 headers=headers),
    "read the log settings": lambda client, headers: client.get_log_settings(headers=headers),
    "start tracing": lambda client, headers: client.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"]},
                                                                          headers=headers),
    "read the trace settings": lambda client, headers: client.get_trace_settings(headers=headers),
    "read the statistics": lambda client, headers: client.get_inference_statistics("wig80", headers=headers),
    "read the shared-memory regions": lambda client, headers: client.get_system_shared_memory_status(headers=headers),
    "list the repository": lambda client, headers: client.get_model_repository_index(headers=headers),
}
READS = ("read the log settings", "read the trace settings", "read the statistics",
         "read the shared-memory regions", "list the repository")


@pytest.mark.parametrize("call", RESTRICTED_CALLS)
def test_logging_trace_statistics_and_shared_memory_need_the_key(call, default_server):
    client = grpcclient.InferenceServerClient(default_server.address.grpc)
    try:
        with pytest.raises(InferenceServerException, match=RESTRICTED):
            RESTRICTED_CALLS[call](client, None)
        if call in READS:
            RESTRICTED_CALLS[call](client, default_server.admin_headers("grpc"))
        settings = client.get_log_settings(headers=default_server.admin_headers("grpc"), as_json=True)["settings"]
        assert settings["log_verbose_level"].get("uint32_param", 0) == 0  # the refused write changed nothing
    finally:
        client.close()


def test_inference_health_metadata_and_configs_stay_open(default_server, real_windows):
    client = grpcclient.InferenceServerClient(default_server.address.grpc)
    try:
        assert client.is_server_ready() and client.get_model_metadata("wig80").name == "wig80"
        assert client.get_model_config("wig80").config.name == "wig80"
        result = client.infer("wig80", [ohlcv_input(grpcclient, real_windows[:1])])
        assert result.as_numpy("MEAN").shape == (1, 30)
    finally:
        client.close()


def test_the_admin_key_is_masked_in_ps_and_still_works(default_server):
    command_line = Path(f"/proc/{default_server.pid}/cmdline").read_text()
    assert default_server.key_hidden
    assert ADMIN_KEY not in command_line and "*" * len(ADMIN_KEY) in command_line
    client = grpcclient.InferenceServerClient(default_server.address.grpc)
    try:  # Triton kept its own copy of the key
        assert client.get_model_repository_index(headers=default_server.admin_headers("grpc"))
    finally:
        client.close()


def test_the_server_sees_none_of_the_project_settings(default_server):
    environment = Path(f"/proc/{default_server.pid}/environ").read_bytes().split(b"\0")
    names = {entry.split(b"=", 1)[0].decode() for entry in environment if entry}
    # the parent had WIG80_TRITON_ADMIN_KEY and REDIS_URL when it started the server (the fixture set them)
    assert not {name for name in names if name.startswith("WIG80_") or name.endswith("_URL")}, names


def loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # gRPC binds ::ffff:127.0.0.1


def test_it_listens_on_loopback_only(default_server):
    listening = [c.laddr for c in psutil.Process(default_server.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert {port for _, port in listening} == {default_server.grpc_port, default_server.metrics_port}
    assert all(loopback(host) for host, _ in listening), listening
    with pytest.raises(ValueError, match="loopback only"):
        TritonServer(default_server.repository, free_port(), free_port(), free_port(), host="0.0.0.0")
    assert grpc_ready(default_server.grpc_port)
