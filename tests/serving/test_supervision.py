"""`wig80 serve` supervises its children (processes.supervisor): a dead one is reported, named by the
gateway's readiness, and started again after a growing delay; the gateway's forecasts come back without
restarting serve."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from tests.fixtures.services import free_port
from tests.serving.test_reload_and_cli import ServingCli, port_arguments, serving_env

API_KEY = "a-supervision-test-key"


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
