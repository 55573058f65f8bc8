"""`wig80 serve` supervises its children: a dead one is reported, named by the gateway's readiness, and
started again after a growing delay; the gateway's forecasts come back without restarting serve."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from serving.children import ChildServer, spawn
from serving.supervisor import Backoff, Supervisor, children_down
from tests.fixtures.services import free_port
from tests.serving.test_reload_and_cli import ServingCli, port_arguments, serving_env

API_KEY = "a-supervision-test-key"


def test_the_backoff_doubles_from_one_second_to_thirty():
    assert [Backoff().delay(attempt) for attempt in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


class Sleeper(ChildServer):
    """A real child process (`sleep`) whose starts fail while `failing_starts` is positive."""

    def __init__(self, log_path: Path, failing_starts: int = 0) -> None:
        self.log_path = log_path
        self.failing_starts = failing_starts
        self.starts = 0

    def start(self) -> Sleeper:
        self.starts += 1
        self._process = spawn(["sleep", "0" if self.failing_starts > 0 else "300"])
        self.failing_starts -= 1
        return self

    def wait_ready(self, timeout: float = 10.0) -> Sleeper:
        time.sleep(0.2)
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("sleep exited at once")
        return self


def wait_until(condition, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def test_a_killed_child_is_reported_marked_down_and_restarted_after_growing_delays(tmp_path):
    reports: list[str] = []
    state_file = tmp_path / "run" / "state.json"
    child = Sleeper(tmp_path / "sleep.log").start()
    first_pid = child.pid
    backoff = Backoff(first_s=0.3, factor=2.0, cap_s=1.0)
    with Supervisor(state_file, reports.append, backoff, poll_interval_s=0.05) as supervisor:
        supervisor.watch("sleeper", child)
        assert children_down(state_file) == {}
        child.failing_starts = 2  # the next two starts die at once
        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: children_down(state_file), what="the death in the state file")
        assert children_down(state_file) == {"sleeper": "was killed by SIGKILL"}
        wait_until(lambda: any("is back" in line for line in reports), timeout=30, what="the restart")
        assert children_down(state_file) == {}
        state = json.loads(state_file.read_text())["sleeper"]
    assert state["state"] == "running" and state["restarts"] == 1
    assert child.is_running() and child.pid != first_pid and child.starts == 4
    assert reports[0] == "sleeper was killed by SIGKILL; restarting it in 0.3 s (attempt 1)"
    waits = [line.split("restarting it in ")[1].split(" s")[0] for line in reports if "restarting it in" in line]
    assert waits == ["0.3", "0.6", "1"]  # doubling, capped
    assert reports[-1] == "sleeper is back (restart 1)"
    assert not state_file.exists()  # removed once restarts are off
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.3)
    assert not child.is_running()  # no restart after the supervisor's exit
    child.stop()


@pytest.fixture
def serving_home(tiny_run, tmp_path) -> Path:
    """A home of its own with the tiny run's stored market (the gateway forecasts its symbols)."""
    home = tmp_path / "home"
    shutil.copytree(tiny_run.home / "data", home / "data")
    return home


def ready(api_port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{api_port}/health/ready", timeout=10.0)


def named_processes(root: int, name: str) -> list[psutil.Process]:
    return [p for p in psutil.Process(root).children(recursive=True) if p.name().startswith(name)]


def wait_for_readiness(api_port: int, cli: ServingCli, status: int, timeout: float = 120.0, naming: str = "") -> dict:
    """The first /health/ready answer with `status` (and, for a 503, `naming` among the children down)."""
    deadline = time.monotonic() + timeout
    while True:
        assert cli.process.poll() is None, cli.output
        try:
            response = ready(api_port)
            if response.status_code == status and naming in response.json().get("children_down", {"": ""}):
                return response.json()
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"/health/ready never {status}:\n{cli.output[-3000:]}"
        time.sleep(0.1)


@pytest.mark.triton
def test_serve_restarts_a_killed_tritonserver_and_pocketbase_and_forecasts_come_back(triton_server, serving_home):
    http_port, grpc_port, metrics_port, api_port = free_port(), free_port(), free_port(), free_port()
    env = serving_env(serving_home) | {"WIG80_API_PORT": str(api_port), "WIG80_API_KEY": API_KEY,
                                       "WIG80_API_ACCESS_LOG": "false", "REDIS_URL": ""}
    cli = ServingCli(["serve", "--repository", str(triton_server.repository),
                      *port_arguments(http_port, grpc_port, metrics_port)], env)
    try:
        wait_for_readiness(api_port, cli, 200, timeout=180)
        symbol = next(s for s in httpx.get(f"http://127.0.0.1:{api_port}/symbols").json()["symbols"]
                      if s["data_available"])
        triton = named_processes(cli.process.pid, "tritonserver")
        assert len(triton) == 1, triton
        triton[0].kill()  # SIGKILL, tritonserver alone (its Python-backend stubs notice and exit)

        down = wait_for_readiness(api_port, cli, 503, timeout=30, naming="tritonserver")
        assert "tritonserver" in down["detail"], down
        assert "killed by SIGKILL" in down["children_down"]["tritonserver"]
        wait_for_readiness(api_port, cli, 200, timeout=180)
        restarted = named_processes(cli.process.pid, "tritonserver")
        assert len(restarted) == 1 and restarted[0].pid != triton[0].pid

        # a new bar needs a new forecast, which only the restarted Triton can make
        next_day = str(np.busday_offset(np.datetime64(symbol["last_date"]), 1, roll="forward"))
        new_bar = {"symbol": symbol["symbol"], "date": next_day, "open": 30.0, "high": 31.0, "low": 29.0,
                   "close": 30.5, "volume": 1000.0}
        posted = httpx.post(f"http://127.0.0.1:{api_port}/bars", json={"bars": [new_bar]},
                            headers={"X-API-Key": API_KEY}, timeout=60.0)
        assert posted.status_code == 200, posted.text
        analysis = httpx.post(f"http://127.0.0.1:{api_port}/analyze", json={"symbol": symbol["symbol"]}, timeout=60.0)
        assert analysis.status_code == 200, analysis.text
        # the forecast of the bar posted after the restart
        assert analysis.json()["data_as_of"] == next_day and analysis.json()["current_price"] == 30.5

        pocketbase = named_processes(cli.process.pid, "pocketbase")
        assert len(pocketbase) == 1, pocketbase
        pocketbase[0].kill()
        down = wait_for_readiness(api_port, cli, 503, timeout=30, naming="pocketbase")
        assert list(down["children_down"]) == ["pocketbase"] and "pocketbase" in down["detail"], down
        wait_for_readiness(api_port, cli, 200, timeout=60)
        cli.stop(signal.SIGTERM)
    finally:
        cli.kill_if_running()
    output = cli.output
    assert cli.process.returncode == 0, output
    assert "tritonserver was killed by SIGKILL; restarting it in 1 s (attempt 1)" in output
    assert "tritonserver is back (restart 1)" in output and "pocketbase is back (restart 1)" in output
    assert not list((serving_home / "run").glob("serve-*.json"))  # no stale state for a later readiness
