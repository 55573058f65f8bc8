"""A second export is loaded while a client loops with no failed request; `wig80 serve` stops cleanly,
also when started as a background job of a script (SIGINT ignored), and takes Triton along when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from export.exporter import export_run
from export.parity_inputs import stored_windows
from export.repository import activate
from processes.children import spawn
from serving.model_control import load_in_order
from tests.fixtures.processes import describe, process_tree, survivors
from tests.fixtures.services import free_port
from tests.fixtures.triton import start_triton
from tests.serving.conftest import http_ready, in_process, ohlcv_input
from training.checkpoint import write_untrained_run

pytestmark = pytest.mark.triton
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ClientLoop(threading.Thread):
    """Sends one window to wig80 over and over; records every answer's model version and every failure."""

    def __init__(self, address: str, windows: np.ndarray):
        super().__init__(daemon=True)
        self.address, self.windows = address, windows
        self.stop = threading.Event()
        self.answers: list[tuple[str, np.ndarray]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        client = grpcclient.InferenceServerClient(self.address)
        try:
            while not self.stop.is_set():
                try:
                    result = client.infer("wig80", [ohlcv_input(grpcclient, self.windows)])
                    self.answers.append((result.get_response().model_version, result.as_numpy("MEAN")))
                except Exception as error:  # every failure counts, whatever its kind
                    self.failures.append(f"{time.monotonic():.3f} {error}")
        finally:
            client.close()


def test_a_promotion_and_a_rollback_under_a_looping_client_never_mislabel_and_lose_no_request(tiny_run, tmp_path):
    """Every answer's numbers are what its labelled version gives offline; version 2 comes, then 1 again."""
    settings = tiny_run.settings()
    repository = tmp_path / "repo"
    export_run(tiny_run.run_dir, repository, "cpu", settings=settings)
    windows = stored_windows(None, tiny_run.home, tiny_run.window)[:1]
    # a different network (same features and window), so the switch shows in the numbers
    other_run = write_untrained_run(
        tmp_path / "other_run", settings_feature_names(tiny_run), window=tiny_run.window, seed=3
    ).parent
    server = start_triton(repository, tmp_path / "home")
    loop = ClientLoop(server.address.grpc, windows)
    try:
        loop.start()
        wait_for_answers(loop, 5)
        assert export_run(other_run, repository, "cpu", settings=settings).version == 2
        load_in_order(server.address, server.admin_key, version=2)  # promotion: features 1+2, mgdl 1+2, then wig80 pinned to 2
        wait_for_answers(loop, 5)
        both_mgdl = {v: mgdl_answer(server.address.grpc, windows, v) for v in (1, 2)}
        assert activate(repository, 1) == (1, 2)
        load_in_order(server.address, server.admin_key, version=1)  # rollback: wig80 pinned to 1 again (its parts keep 2 until the next switch)
        wait_for_answers(loop, 5)
    finally:
        loop.stop.set()
        loop.join(timeout=30)
        server.stop()
    assert loop.failures == []
    versions = [version for version, _ in loop.answers]
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes == ["1", "2", "1"], changes
    expected = {v: in_process(repository, windows, v)["MEAN"] for v in (1, 2)}
    for version, mean in loop.answers:
        np.testing.assert_allclose(mean, expected[int(version)], atol=1e-5, err_msg=f"labelled {version}")
    assert not np.allclose(expected[1], expected[2], atol=1e-5)
    # both versions of the network answered, each with its own numbers, while both were loaded
    for version, mean in both_mgdl.items():
        np.testing.assert_allclose(mean, expected[version], atol=1e-5)


def wait_for_answers(loop: ClientLoop, count: int, timeout: float = 30.0) -> None:
    before = len(loop.answers)
    deadline = time.monotonic() + timeout
    while len(loop.answers) < before + count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(loop.answers) >= before + count, loop.failures[-3:]


def mgdl_answer(address: str, windows: np.ndarray, version: int) -> np.ndarray:
    """MEAN of `mgdl` version `version` itself (the network alone, on the windows' features)."""
    from feature_kernels import compute_features

    client = grpcclient.InferenceServerClient(address)
    try:
        features = compute_features(windows).astype(np.float32)
        tensor = grpcclient.InferInput("FEATURES", list(features.shape), "FP32")
        tensor.set_data_from_numpy(features)
        return client.infer("mgdl", [tensor], model_version=str(version)).as_numpy("MEAN")
    finally:
        client.close()


def settings_feature_names(tiny_run) -> list[str]:
    from training.checkpoint import load_forecaster

    return list(load_forecaster(tiny_run.run_dir)[1]["feature_names"])


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ServingCli:
    """`python -m wig80.cli ARGS` in a child process, read until it says it is serving.

    It starts with SIGINT ignored, as a command started in the background of a non-interactive
    shell (CI's) does: the command must handle SIGINT itself.
    """

    def __init__(self, args: list[str], env: dict[str, str]):
        self.process = spawn(
            [sys.executable, "-m", "wig80.cli", *args], preexec_fn=ignore_sigint,
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any("Ctrl-C stops" in line for line in self.lines):
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"not serving in {timeout} s:\n{self.output}"
            time.sleep(0.25)

    def stop(self, stop_signal: int = signal.SIGINT) -> None:
        self.process.send_signal(stop_signal)
        self.process.wait(timeout=60)
        self.reader.join(timeout=10)

    def kill_if_running(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    @property
    def output(self) -> str:
        return "".join(self.lines)


def serving_env(home: Path) -> dict[str, str]:
    """A `wig80 serve` child's environment: its own home, the embedded Triton and PocketBase (free port)."""
    env = {**os.environ, "WIG80_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT),
           "WIG80_POCKETBASE_PORT": str(free_port())}
    for name in ("TRITON_URL", "POCKETBASE_URL", "MARKET_DB_URL", "WIG80_MODEL_REPOSITORY"):
        env.pop(name, None)
    return env


def port_arguments(http_port: int, grpc_port: int, metrics_port: int) -> list[str]:
    return ["--http-port", str(http_port), "--grpc-port", str(grpc_port), "--metrics-port", str(metrics_port)]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_wig80_serve_triton_only_starts_and_stops_cleanly(stop_signal, triton_server, tmp_path):
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    env = serving_env(tmp_path)
    cli = ServingCli(["serve", "--triton-only", "--repository", str(triton_server.repository),
                      *port_arguments(http_port, grpc_port, metrics_port)], env)
    try:
        cli.wait_serving(timeout=120)
        assert http_ready(http_port)
        cli.stop(stop_signal)
    finally:
        cli.kill_if_running()
    assert cli.process.returncode == 0, cli.output
    assert f"127.0.0.1:{grpc_port}" in cli.output and "stopping tritonserver" in cli.output
    assert not http_ready(http_port)
    assert (tmp_path / "logs" / f"tritonserver-{http_port}.log").stat().st_size > 0


def test_a_sigkilled_wig80_serve_leaves_no_tritonserver_behind(triton_server, tmp_path):
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    env = serving_env(tmp_path)
    cli = ServingCli(["serve", "--triton-only", "--repository", str(triton_server.repository),
                      *port_arguments(http_port, grpc_port, metrics_port)], env)
    try:
        cli.wait_serving(timeout=120)
        tree = process_tree(cli.process.pid)
        # tritonserver, and under it the Python backend's stub for the `features` model; pocketbase
        assert any("tritonserver" in p.name() for p in tree) and len(tree) >= 3, describe(tree)
        assert any("pocketbase" in p.name() for p in tree), describe(tree)
        cli.process.kill()  # SIGKILL: no handler, no finally, no atexit runs in the CLI
        cli.process.wait(timeout=10)
        assert survivors(tree, timeout=10) == [], describe(tree)
    finally:
        cli.kill_if_running()
    assert not http_ready(http_port)


def gateway_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_a_sigkilled_wig80_serve_leaves_no_gateway_worker_behind(triton_server, redis_url, tmp_path):
    """Two uvicorn workers (multiprocessing children, not spawned by us) and Triton all go with the CLI."""
    http_port, grpc_port, metrics_port, api_port = free_port(), free_port(), free_port(), free_port()
    # several workers need Redis: only its pub/sub tells every worker's hot state of a new bar
    env = serving_env(tmp_path) | {"WIG80_API_PORT": str(api_port), "WIG80_API_WORKERS": "2",
                                   "WIG80_API_ACCESS_LOG": "false", "REDIS_URL": redis_url}
    cli = ServingCli(["serve", "--repository", str(triton_server.repository),
                      *port_arguments(http_port, grpc_port, metrics_port)], env)
    try:
        deadline = time.monotonic() + 180
        while not gateway_answers(api_port):
            assert cli.process.poll() is None and time.monotonic() < deadline, cli.output
            time.sleep(0.5)
        tree = process_tree(cli.process.pid)
        workers = [p for p in tree if "multiprocessing" in " ".join(p.cmdline())]
        assert len(workers) >= 2 and any("tritonserver" in p.name() for p in tree), describe(tree)
        cli.process.kill()
        cli.process.wait(timeout=10)
        assert survivors(tree, timeout=10) == [], describe(tree)
    finally:
        cli.kill_if_running()
    assert not gateway_answers(api_port) and not http_ready(http_port)


def test_wig80_serve_refuses_an_empty_repository(tmp_path):
    env = {**os.environ, "WIG80_HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("TRITON_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wig80.cli",
            "serve",
            "--triton-only",
            "--repository",
            str(tmp_path / "empty"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no exported version" in result.stderr and "wig80 export" in result.stderr


def test_wig80_up_trains_exports_and_serves(tmp_path):
    """`wig80 up` on an empty home: synthetic market -> tiny training run -> export into the home's own
    repository -> Triton serving it."""
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    env = serving_env(tmp_path / "home")
    repository = tmp_path / "home" / "model_repository"
    cli = ServingCli(["up", "--profile", "tiny", "--triton-only",
                      *port_arguments(http_port, grpc_port, metrics_port)], env)
    try:
        cli.wait_serving(timeout=240)
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        window = int(client.get_model_config("wig80", as_json=True)["config"]["input"][0]["dims"][0])
        windows = stored_windows(None, tmp_path / "home", window)[:2]
        result = client.infer("wig80", [ohlcv_input(grpcclient, windows)])
        client.close()
        served = registered_deployments(int(env["WIG80_POCKETBASE_PORT"]))
        serving_libraries = Path(f"/proc/{cli.process.pid}/maps").read_text()
        cli.stop()
    finally:
        cli.kill_if_running()
    output = cli.output
    assert cli.process.returncode == 0, output
    np.testing.assert_allclose(result.as_numpy("MEAN"), in_process(repository, windows)["MEAN"], atol=1e-5)
    assert "synthetic market" in output and "wrote version 1" in output
    # training and export ran in children: the process that serves never loaded torch
    assert "libtorch" not in serving_libraries
    # PocketBase started beside Triton, and the registry records the served version
    assert "PocketBase" in output and (tmp_path / "home" / "pocketbase").is_dir()
    assert served == [(1, "initial")]


def registered_deployments(port: int) -> list[tuple[int, str]]:
    from registry.client import Registry
    from registry.records import deployments
    from settings import DEVELOPMENT_POCKETBASE_PASSWORD, Settings

    email = Settings(_env_file=None).pocketbase_admin_email
    with Registry(f"http://127.0.0.1:{port}", email, DEVELOPMENT_POCKETBASE_PASSWORD) as registry:
        return [(int(d["to_version"]), d["reason"]) for d in deployments(registry)]
