"""HTTPS at nginx: deploy/nginx/nginx.conf run by the real nginx with a self-signed certificate, in front
of a real gateway that trusts nginx's address alone. TLS 1.2 and 1.3 only and no plain HTTP; the public
paths reach the gateway while /health's details and /metrics stop at nginx; X-Forwarded-For is believed
from nginx and from no one else."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from tests.fixtures.nginx import HOST, Nginx
from tests.gateway.process import GatewayProcess

pytestmark = [pytest.mark.triton, pytest.mark.redis]
PER_MINUTE = 3
NGINX_UPSTREAM_SOURCE = "127.0.0.1"  # nginx connects to the gateway from this address
CLIENT, OTHER_CLIENT = "127.0.0.5", "127.0.0.9"
INTERNAL_PATHS = ["/health", "/metrics", "/docs", "/openapi.json", "/metrics/", "//metrics",
                  "/health/live/../../metrics", "/%6Detrics", "/ws/../metrics"]


@pytest.fixture
def behind_nginx(start_gateway, tmp_path):
    """behind_nginx(**env): a gateway trusting nginx's address alone, and the real nginx in front of it."""
    started = []

    def start(**env: str) -> tuple[GatewayProcess, Nginx]:
        gateway = start_gateway(WIG80_TRUSTED_PROXIES=NGINX_UPSTREAM_SOURCE, WIG80_API_DOCS="true", **env)
        try:
            server = Nginx(tmp_path / f"nginx-{len(started)}", [gateway.port]).start()
        except RuntimeError as error:
            pytest.fail(str(error))
        started.append(server)
        return gateway, server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gateway_and_nginx(behind_nginx):
    return behind_nginx()


def client(server: Nginx, source: str = HOST) -> httpx.Client:
    context = server.certificate.client_context()
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source, verify=context), timeout=30.0)


def handshake(server: Nginx, context: ssl.SSLContext) -> str:
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=HOST) as tls:
            return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_nginx_speaks_tls_1_2_and_1_3_with_the_mounted_certificate_and_nothing_else(gateway_and_nginx):
    _, nginx = gateway_and_nginx
    with client(nginx) as https:
        live = https.get(f"{nginx.url}/health/live")
    assert live.status_code == 200 and live.headers["strict-transport-security"].startswith("max-age=")
    assert handshake(nginx, nginx.certificate.client_context()) == "TLSv1.3"
    tls12 = nginx.certificate.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(nginx, tls12) == "TLSv1.2"

    # a TLS 1.1 client (allowed by this client's OpenSSL at security level 0) gets nginx's protocol alert
    tls11 = nginx.certificate.client_context()
    tls11.set_ciphers("DEFAULT:@SECLEVEL=0")
    tls11.minimum_version = tls11.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS"):
        handshake(nginx, tls11)

    # a client that does not trust the certificate refuses it: nginx presents the configured one
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(nginx, ssl.create_default_context())
    # plain HTTP on the HTTPS port gets nginx's refusal, never the gateway
    plain = httpx.get(f"http://{nginx.address}/health/live", timeout=10)
    assert plain.status_code == 400 and "HTTPS port" in plain.text


def test_the_public_paths_reach_the_gateway_and_the_internal_ones_stop_at_nginx(gateway_and_nginx, stored_symbols):
    gateway, nginx = gateway_and_nginx
    symbol = stored_symbols[0]
    with client(nginx) as https:
        for path in ("/", "/health/live", "/health/ready", "/symbols", f"/spectrum/{symbol}", f"/forecast/{symbol}"):
            response = https.get(f"{nginx.url}{path}")
            assert response.status_code == 200, (path, response.text)
        analysis = https.post(f"{nginx.url}/analyze", json={"symbol": symbol})
        assert analysis.status_code == 200 and analysis.json()["symbol"] == symbol
        unknown = https.get(f"{nginx.url}/spectrum/NOSUCH")
        assert unknown.status_code == 404 and "detail" in unknown.json(), "the gateway's own 404 passes through"
        for path in INTERNAL_PATHS:
            response = https.get(f"{nginx.url}{path}")
            assert response.status_code == 404 and "<center>nginx</center>" in response.text, path
    # the gateway itself serves them: nginx is what keeps them inside
    assert httpx.get(f"{gateway.url}/metrics", timeout=10).status_code == 200
    assert httpx.get(f"{gateway.url}/health", timeout=10).json()["status"]


def test_forwarded_for_is_believed_from_nginx_alone(behind_nginx):
    gateway, nginx = behind_nginx(WIG80_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE), WIG80_RATE_LIMIT_BURST_PER_SECOND="1000")
    with httpx.Client(transport=httpx.HTTPTransport(local_address=CLIENT), timeout=30.0) as direct:
        # straight to the gateway, claiming to be OTHER_CLIENT: counted as CLIENT, the TCP peer
        forged = {"X-Forwarded-For": OTHER_CLIENT}
        answers = [direct.get(f"{gateway.url}/symbols", headers=forged).status_code for _ in range(PER_MINUTE + 1)]
    assert answers == [200] * PER_MINUTE + [429]
    with client(nginx, OTHER_CLIENT) as other, client(nginx, CLIENT) as same:
        assert other.get(f"{nginx.url}/symbols").status_code == 200, "the forged header spent no one else's quota"
        assert same.get(f"{nginx.url}/symbols").status_code == 429, "through nginx, CLIENT is still CLIENT"
