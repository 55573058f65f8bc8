"""The embedded Triton Inference Server: start it on a model repository, wait until ready, stop it cleanly.

The server runs with explicit model control: it loads the named models at start, and a new export
is picked up with the repository API (`serving.model_control.load_in_order`). Triton keeps the loaded
version answering until the reloaded model is ready, so a reload costs no failed request.

What is open and what is not (tritonserver 2.51, the nvidia-pytriton wheel's: see docs/serving.md for
why no newer Triton runs here):
- It listens on loopback only (a `host` outside 127.0.0.0/8 and ::1 is refused unless
  `allow_remote`, for a container whose network is the boundary).
- gRPC serves; HTTP is off unless asked (`http=True`): 2.51's HTTP frontend is killed by one request of
  many small chunks (CVE-2025-23310/23311, fixed in Triton 25.07), which never reaches a closed port.
- Model control (load, unload, index), shared memory (registering a region, which would let a client
  read and write the Python backend's own IPC region), logging, trace and statistics are restricted,
  over gRPC and HTTP alike (serving.contract.RESTRICTED_APIS): Triton answers them only for requests carrying the header
  `admin_headers(protocol)` with the server's admin key (`WIG80_TRITON_ADMIN_KEY` for `wig80 serve`;
  a random one per server when none is given). Inference, health, metadata and model configs stay open.
- The key has to be an argument of tritonserver; the launcher masks it in the server's command line
  as soon as the server has parsed it (serving.command_line), so `ps` shows `*` in its place.
"""

from __future__ import annotations

import atexit
import ipaddress
import secrets
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from processes import children
from serving.backend_regions import regions_of, remove_regions
from serving.command_line import hide_in_command_line
from serving.contract import LOAD_ORDER, Protocol, TritonAddress, admin_headers, restriction_argument
from serving.triton_binary import TritonBinary

GPU_NOISE = ("CudaDriverHelper has not been initialized", "DCGM", "NVML")  # expected without a GPU
EXIT_TIMEOUT_SECONDS = 5  # Triton waits this long for open connections and in-flight requests on SIGTERM
READY_CHECK_TIMEOUT_S = 2.0


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready; the message carries the end of its log."""


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


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
        http: bool = False,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"the embedded Triton listens on loopback only, not on {host!r} (WIG80_TRITON_HOST): "
                "use 127.0.0.1, or `wig80 serve --triton-listen ADDRESS` (WIG80_TRITON_LISTEN) inside a container"
            )
        self.repository = Path(repository).resolve()
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.home = Path(home).resolve()
        self.host = host
        self.models = tuple(models)
        self.log_path = Path(log_path) if log_path else self.home / "logs" / f"tritonserver-{http_port}.log"
        self.extra_args = tuple(extra_args)
        self.admin_key = admin_key or secrets.token_urlsafe(24)
        self.http = http
        self.key_hidden = False  # the admin key masked in the running server's command line
        self._process: subprocess.Popen | None = None
        self._log_size_at_start = 0
        self._regions: set[str] = set()  # the Python backend's shared-memory regions of this server

    @property
    def address(self) -> TritonAddress:
        return TritonAddress(self.host, self.http_port, self.grpc_port, self.metrics_port)

    def admin_headers(self, protocol: Protocol = "grpc") -> dict[str, str]:
        """What a restricted request (load, unload, shared memory, logging, trace, statistics) must carry."""
        return admin_headers(self.admin_key, protocol)

    def restriction_args(self) -> list[str]:
        restriction = restriction_argument(self.admin_key)
        return [f"--http-restricted-api={restriction}", f"--grpc-restricted-protocol={restriction}"]

    def http_args(self) -> list[str]:
        if not self.http:
            return ["--allow-http=false"]
        return [f"--http-address={self.host}", f"--http-port={self.http_port}"]

    def command(self, binary: TritonBinary) -> list[str]:
        backends = binary.prepare_backend_directory(self.home / "triton" / "backends")
        return [
            str(binary.server),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *self.restriction_args(),
            *(f"--load-model={name}" for name in self.models),
            *self.http_args(),
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
        self._log_size_at_start = self._log_size()
        self.key_hidden = False
        with open(self.log_path, "ab") as log:
            # its own session (a terminal's Ctrl-C reaches us, and we stop it in order); dies with us
            self._process = children.spawn(
                self.command(binary), stdout=log, stderr=subprocess.STDOUT, env=binary.environment()
            )
        atexit.register(self.stop)  # a clean exit drains it; a killed one takes it along (death signal)
        return self

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _hide_admin_key(self, parsed: bool = False) -> None:
        """Mask the key in the server's command line once it has parsed its arguments: it parses them
        before it logs anything, and long before it is ready."""
        if self.key_hidden or self._process is None:
            return
        if parsed or self._log_size() > self._log_size_at_start:
            self.key_hidden = hide_in_command_line(self._process.pid, self.admin_key)

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

    def is_ready(self) -> bool:
        """The server and every model answer ready over gRPC (HTTP may be off)."""
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        client = grpcclient.InferenceServerClient(self.address.grpc)
        try:
            return client.is_server_ready(client_timeout=READY_CHECK_TIMEOUT_S) and all(
                client.is_model_ready(name, client_timeout=READY_CHECK_TIMEOUT_S) for name in self.models
            )
        except InferenceServerException:
            return False
        finally:
            client.close()

    def wait_ready(self, timeout: float = 180.0) -> TritonServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None:
                raise TritonStartError("tritonserver was stopped before it was ready")
            if self._process.poll() is not None:
                raise TritonStartError(
                    f"tritonserver exited with code {self._process.returncode} {self.failure_report()}"
                )
            self._hide_admin_key()
            if self.is_ready():
                self._hide_admin_key(parsed=True)
                self._note_regions()
                return self
            time.sleep(0.25)
        raise TritonStartError(f"tritonserver not ready after {timeout:.0f} s {self.failure_report()}")

    def _note_regions(self) -> None:
        if self._process is not None:
            self._regions |= regions_of(self._process.pid)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Triton drains in-flight requests and unloads), SIGKILL only if it hangs; then the
        Python backend's shared memory that a killed server left behind is removed."""
        atexit.unregister(self.stop)
        self._note_regions()
        code = super().stop(timeout)
        remove_regions(self._regions)
        self._regions = set()
        return code

    def __enter__(self) -> TritonServer:
        return self.start().wait_ready()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
