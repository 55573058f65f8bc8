"""The embedded Triton Inference Server: start it on a model repository, wait until ready, stop it cleanly.

The server runs with explicit model control: it loads the named models at start, and a new export
is picked up with the repository API (`serving.model_control.load_in_order`). Triton keeps the loaded
version answering until the reloaded model is ready, so a reload costs no failed request.

That API (load, unload, index) is restricted, over HTTP and gRPC alike: Triton answers it only for
requests carrying the header `admin_headers(protocol)` with the server's admin key (the setting
`WIG80_TRITON_ADMIN_KEY` for `wig80 serve`; a random one per server when none is given). Inference,
health and metadata stay open to whoever reaches the ports, which bind to 127.0.0.1 by default.
"""

from __future__ import annotations

import atexit
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from processes import children
from serving.contract import LOAD_ORDER, Protocol, TritonAddress, admin_headers, restriction_argument
from serving.triton_binary import TritonBinary

GPU_NOISE = ("CudaDriverHelper has not been initialized", "DCGM", "NVML")  # expected without a GPU
EXIT_TIMEOUT_SECONDS = 5  # Triton waits this long for open connections and in-flight requests on SIGTERM


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready; the message carries the end of its log."""


class TritonServer(children.ChildServer):
    """One `tritonserver` process on `repository`, bound to `host` with the given ports."""

    def __init__(
        self,
        repository: Path,
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        *,
        home: Path = Path("var"),
        host: str = "127.0.0.1",
        models: Iterable[str] = LOAD_ORDER,
        log_path: Path | None = None,
        extra_args: Iterable[str] = (),
        admin_key: str | None = None,
    ) -> None:
        self.repository = Path(repository).resolve()
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.home = Path(home).resolve()
        self.host = host
        self.models = tuple(models)
        self.log_path = Path(log_path) if log_path else self.home / "logs" / f"tritonserver-{http_port}.log"
        self.extra_args = tuple(extra_args)
        self.admin_key = admin_key or secrets.token_urlsafe(24)
        self._process: subprocess.Popen | None = None

    @property
    def address(self) -> TritonAddress:
        return TritonAddress(self.host, self.http_port, self.grpc_port, self.metrics_port)

    def admin_headers(self, protocol: Protocol = "http") -> dict[str, str]:
        """What a load or unload request must carry (tritonclient's `headers=`)."""
        return admin_headers(self.admin_key, protocol)

    def restriction_args(self) -> list[str]:
        restriction = restriction_argument(self.admin_key)
        return [f"--http-restricted-api={restriction}", f"--grpc-restricted-protocol={restriction}"]

    def command(self, binary: TritonBinary) -> list[str]:
        backends = binary.prepare_backend_directory(self.home / "triton" / "backends")
        return [
            str(binary.server),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *self.restriction_args(),
            *(f"--load-model={name}" for name in self.models),
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            f"--exit-timeout-secs={EXIT_TIMEOUT_SECONDS}",
            "--log-verbose=0",
            *self.extra_args,
        ]

    def start(self) -> TritonServer:
        if self.is_running():
            return self
        binary = TritonBinary.from_wheel()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # its own session (a terminal's Ctrl-C reaches us, and we stop it in order); dies with us
            self._process = children.spawn(
                self.command(binary), stdout=log, stderr=subprocess.STDOUT, env=binary.environment()
            )
        atexit.register(self.stop)  # a clean exit drains it; a killed one takes it along (death signal)
        return self

    def log_errors(self) -> str:
        """Triton's error lines (glog severity E, and `error:`), without the CPU machine's GPU noise."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        errors = [
            line for line in lines if (line.startswith("E") and "] " in line) or line.startswith("error:")
        ]
        return "\n".join(line for line in errors if not any(noise in line for noise in GPU_NOISE))

    def failure_report(self) -> str:
        return f"(log {self.log_path}):\n{self.log_errors() or self.log_tail()}"

    def _get_ok(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.address.http_url}{path}", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def is_ready(self) -> bool:
        return self._get_ok("/v2/health/ready") and all(
            self._get_ok(f"/v2/models/{name}/ready") for name in self.models
        )

    def wait_ready(self, timeout: float = 180.0) -> TritonServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise TritonStartError(
                    f"tritonserver exited with code {self._process.returncode} {self.failure_report()}"
                )
            if self.is_ready():
                return self
            time.sleep(0.25)
        raise TritonStartError(f"tritonserver not ready after {timeout:.0f} s {self.failure_report()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Triton drains in-flight requests and unloads), SIGKILL only if it hangs."""
        atexit.unregister(self.stop)
        return super().stop(timeout)

    def __enter__(self) -> TritonServer:
        return self.start().wait_ready()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
