"""The Triton contract: what `export` writes, `serving` starts, `lifecycle` switches and the gateway asks.

One place for the models' names and their load order, the tensors of each model, the header that
Triton's model control requires, and a server's address per protocol. The configs in
`model_repository/` spell the same names (docs/contracts.md, "Triton tensors"); the export tests check
the rendered configs against this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from settings import Settings

FEATURES_MODEL = "features"  # python backend: OHLCV window -> feature vector, band shares
NETWORK_MODEL = "mgdl"  # the exported MGDL network: feature vector -> mean, std per horizon
ENSEMBLE_MODEL = "wig80"  # what clients call: OHLCV window -> every output above
LOAD_ORDER = (FEATURES_MODEL, NETWORK_MODEL, ENSEMBLE_MODEL)  # an ensemble after the models it composes

# tensor names
OHLCV = "OHLCV"  # FP32 [batch, W, 5]: open, high, low, close, volume, oldest first
FEATURES = "FEATURES"  # FP32 [batch, F]: the feature vector, in the features model's `feature_names` order
BAND_SHARES = "BAND_SHARES"  # FP32 [batch, 3]: share of spectral power per band
MODEL_FEATURES = "MODEL_FEATURES"  # the same vector, wired to the network inside the ensemble (server#7482)
MEAN, STD = "MEAN", "STD"  # FP32 [batch, H]: the forward log return's distribution per horizon
NETWORK_INPUT = FEATURES  # the ONNX graph's input
NETWORK_OUTPUTS = (MEAN, STD)  # the ONNX graph's outputs, in this order
FEATURES_OUTPUTS = (FEATURES, BAND_SHARES)  # what /spectrum asks the features model for
ENSEMBLE_OUTPUTS = (MEAN, STD, FEATURES, BAND_SHARES)  # what a forecast asks the ensemble for

# model control (load, unload, repository index) answers only requests carrying this header; Triton's
# gRPC frontend expects it under a prefix of its own
RESTRICTED_API = "model-repository"
ADMIN_HEADER = "wig80-admin-key"  # lowercase: gRPC metadata keys are
GRPC_RESTRICTED_PREFIX = "triton-grpc-protocol-"
Protocol = Literal["http", "grpc"]


def admin_headers(admin_key: str, protocol: Protocol = "http") -> dict[str, str]:
    """The header a load or unload request must carry (tritonclient's `headers=`), per protocol."""
    prefix = GRPC_RESTRICTED_PREFIX if protocol == "grpc" else ""
    return {prefix + ADMIN_HEADER: admin_key}


def restriction_argument(admin_key: str) -> str:
    """tritonserver's `--http-restricted-api=` / `--grpc-restricted-protocol=` value for the admin key."""
    return f"{RESTRICTED_API}:{ADMIN_HEADER}={admin_key}"


@dataclass(frozen=True)
class TritonAddress:
    """Where one Triton server answers. tritonclient wants `host:port` without a scheme (`http`,
    `grpc`); browsers and Prometheus want URLs (`http_url`, `metrics_url`)."""

    host: str
    http_port: int
    grpc_port: int
    metrics_port: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TritonAddress:
        """TRITON_URL (`host:port` or `grpc://host:port`, the gRPC endpoint) names the host and gRPC port
        of an external Triton, whose HTTP and metrics ports are WIG80_TRITON_HTTP_PORT / _METRICS_PORT;
        without it, WIG80_TRITON_HOST and the three ports (the embedded Triton)."""
        host, grpc_port = settings.triton_host, settings.triton_grpc_port
        if settings.triton_url:
            host, port = _host_and_port(settings.triton_url)
            grpc_port = port if port is not None else grpc_port
        return cls(host, settings.triton_http_port, grpc_port, settings.triton_metrics_port)

    @property
    def http(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"


def _host_and_port(url: str) -> tuple[str, int | None]:
    netloc = urlsplit(url if "://" in url else f"//{url}").netloc
    host, colon, port = netloc.rpartition(":")
    if not colon or host.count(":") and not host.endswith("]"):  # no port, or a bare IPv6 address
        return netloc, None
    if not port.isdigit():
        raise ValueError(f"TRITON_URL={url!r}: the port must be a number")
    return host, int(port)
