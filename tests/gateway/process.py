"""A real gateway: uvicorn in its own process on a free port, configured through the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from processes.children import spawn
from tests.fixtures.services import free_port
from tests.gateway.app_factory import PREFIX_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


class GatewayProcess:
    def __init__(self, env: dict[str, str], redis_prefix: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/realtime"
        self.env = {**os.environ, **env, PREFIX_VARIABLE: redis_prefix}
        self.log_path = log_path
        self._process: subprocess.Popen | None = None

    def start(self) -> GatewayProcess:
        command = [sys.executable, "-m", "tests.gateway.app_factory", str(self.port)]
        self._log = self.log_path.open("w")
        self._process = spawn(command, cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/metrics", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gateway did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None:
            self._log.close()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def metric(self, name: str) -> float:
        """Sum of a metric's samples on this process's /metrics (all label sets)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5.0).text
        values = [
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{")
        ]
        return sum(values)

    def wait_for_metric(self, name: str, minimum: float, timeout: float = 15.0) -> float:
        """The metric once it reaches `minimum` (announcements are asynchronous), or its last value."""
        deadline = time.monotonic() + timeout
        while (value := self.metric(name)) < minimum and time.monotonic() < deadline:
            time.sleep(0.1)
        return value

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
