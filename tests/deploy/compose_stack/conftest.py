"""`make compose-test`: docker-compose.yml with deploy/compose.cpu.yml, every image built from a local
Debian base (compose.local.yml) on a private Docker engine, brought up and checked through nginx only.

Phases (each timed; the times land in build/compose-test/last-run.json): the local base (debootstrap,
cached), the images, a first model (`wig80 train --profile tiny` and `wig80 export --target cpu` in the
lifecycle image, on PostgreSQL standing in for QuestDB), the stack with two gateway replicas, the checks
(test_stack.py), teardown. The stamp (stamp.py) is refreshed only when every check passed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.deploy.compose_stack import stamp
from tests.deploy.compose_stack.engine import HostState, PrivateEngine, exclusive
from tests.deploy.compose_stack.local_sources import (
    CACHE,
    base_tarball,
    build_base,
    host_can_build,
    local_torch_wheel,
    say,
    wheel_server,
)
from tests.fixtures.nginx import Certificate, self_signed_certificate
from tests.fixtures.requirements import requirement_missing
from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[3]
FILES = (ROOT / "docker-compose.yml", ROOT / "deploy" / "compose.cpu.yml", Path(__file__).parent / "compose.local.yml")
PROJECT = "wig80ct"
SECRETS = ("WIG80_API_KEY", "WIG80_TRITON_ADMIN_KEY", "WIG80_POCKETBASE_ADMIN_PASSWORD",
           "WIG80_POCKETBASE_READER_PASSWORD", "REDIS_PASSWORD",
           "QUESTDB_USER", "QUESTDB_PASSWORD")
NGINX_UID = 101  # docker-compose.yml's user for nginx: it must read the key
GATEWAY_REPLICAS = 2
READY_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 3000
RESULTS = CACHE / "last-run.json"


def run_logged(command: list[str], env: dict[str, str], log: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run `command` with its output appended to `log` (long builds); the log's end comes back as stdout."""
    with log.open("a") as handle:
        handle.write(f"\n$ {' '.join(command)}\n")
        handle.flush()
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
    return subprocess.CompletedProcess(command, result.returncode, log.read_text()[-6000:], "")


def compose_command(*args: str) -> list[str]:
    return ["docker-compose", "-p", PROJECT, *(arg for path in FILES for arg in ("-f", str(path))), *args]


@dataclass
class Stack:
    engine: PrivateEngine
    env: dict[str, str]
    url: str
    certificate: Certificate
    log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None,
                stdin: str | None = None) -> subprocess.CompletedProcess:
        command = compose_command(*args)
        feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        result = subprocess.run(command, capture_output=True, text=True, env=env or self.env, timeout=timeout,
                                cwd=ROOT, **feed)
        if check:
            assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.certificate.client_context(), timeout=60.0, **kwargs)

    def timed(self, phase: str, started: float) -> None:
        self.timings[phase] = round(time.monotonic() - started, 1)
        say(f"{phase}: {self.timings[phase]} s")


def wait_healthy(stack: Stack, service: str, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [stack.engine.docker("inspect", "--format", "{{.State.Health.Status}}", cid, check=False).stdout.strip()
                  for cid in stack.containers(service)]
        if states and all(state == "healthy" for state in states):
            return
        time.sleep(2)
    logs = stack.compose("logs", "--tail", "40", service, check=False).stdout
    pytest.fail(f"{service} not healthy within {timeout} s:\n{logs}")


def wait_ready_through_nginx(stack: Stack) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    with stack.client() as client:
        while time.monotonic() < deadline:
            try:
                response = client.get("/health/ready")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(3)
    logs = stack.compose("logs", "--tail", "30", check=False).stdout
    pytest.fail(f"/health/ready through nginx never answered 200 (last: {last}):\n{logs[-6000:]}")


def compose_environment(work: Path, url_port: int) -> tuple[dict[str, str], Certificate]:
    """Fresh secrets (32+ URL-safe characters), nginx's certificate readable by its user, the published port."""
    certificate = self_signed_certificate(work / "tls", "127.0.0.1")
    os.chown(certificate.key, NGINX_UID, NGINX_UID)
    os.chmod(certificate.key, 0o400)
    values = {name: secrets.token_urlsafe(32) for name in SECRETS}
    values["QUESTDB_USER"] = "wig80_" + secrets.token_hex(4)  # a PostgreSQL role name
    return {
        **os.environ, **values,
        "WIG80_TLS_CERT_FILE": str(certificate.cert), "WIG80_TLS_KEY_FILE": str(certificate.key),
        "WIG80_HTTPS_PORT": f"127.0.0.1:{url_port}", "COMPOSE_PROJECT_NAME": PROJECT,
    }, certificate


def build_images(stack: Stack, wheel: Path, work: Path) -> bool:
    """The local base, then every image of the stack; returns whether the base tarball was cached."""
    started = time.monotonic()
    tarball, cached = base_tarball()
    stack.timed("base tarball (cached)" if cached else "base tarball (debootstrap)", started)
    with stack.engine.outbound(), wheel_server(wheel, work / "wheels") as (index_url, wheel_certificate):
        started = time.monotonic()
        stack.env["WIG80_LOCAL_BASE_IMAGE"] = build_base(stack.engine, tarball, [wheel_certificate.cert])
        stack.env["WIG80_LOCAL_TORCH_INDEX_URL"] = index_url
        stack.timed("local base image", started)
        started = time.monotonic()
        say(f"building the images (log {stack.log})")
        # the lifecycle image first: Triton's CPU stand-in is the same image, then all from its cache
        for args in (("build", "retrain"), ("build", "--parallel")):
            result = run_logged(compose_command("--profile", "retrain", *args), stack.env, stack.log,
                                BUILD_TIMEOUT_S)
            assert result.returncode == 0, f"docker-compose {' '.join(args)} failed:\n{result.stdout}"
        stack.timed("images", started)
    return cached


def first_model(stack: Stack) -> None:
    """The stores up, then `wig80 train --profile tiny` (a synthetic market in the empty store) and
    `wig80 export --target cpu` in the lifecycle image, as an operator bootstraps (README)."""
    started = time.monotonic()
    stack.compose("up", "-d", "questdb", "redis", "pocketbase")
    for service in ("questdb", "pocketbase"):
        wait_healthy(stack, service)
    trained = stack.compose("run", "--rm", "--no-deps", "-T", "retrain", "wig80", "train", "--profile", "tiny",
                            timeout=1200)
    run_dir = trained.stdout.strip().splitlines()[-1].strip()
    assert re.fullmatch(r"/var/lib/wig80/models/\S+", run_dir), trained.stdout[-2000:]
    stack.compose("run", "--rm", "--no-deps", "-T", "retrain", "wig80", "export", run_dir, "--target", "cpu",
                  timeout=900)
    stack.timed("first model (train tiny + export)", started)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    missing = host_can_build()
    if missing:
        requirement_missing(f"make compose-test needs {', '.join(missing)}")
    wheel = local_torch_wheel()
    if wheel is None:
        requirement_missing("the CPU torch 2.13.0 wheel was not found in pip's find-links or cache "
                            "(the lifecycle image must not fetch torch from PyPI: its build is the CUDA one)")
    work = tmp_path_factory.mktemp("compose-test")
    with exclusive():
        before = HostState.capture()
        engine_root = Path(tempfile.mkdtemp(prefix="wig80-engine-"))
        engine = PrivateEngine(engine_root)
        port = free_port()
        env, certificate = compose_environment(work, port)
        env["DOCKER_HOST"] = engine.host
        stack = Stack(engine, env, f"https://127.0.0.1:{port}", certificate, work / "build.log")
        total = time.monotonic()
        cached = None
        try:
            started = time.monotonic()
            engine.start()
            stack.timed("engine start", started)
            cached = build_images(stack, wheel, work)
            first_model(stack)
            started = time.monotonic()
            stack.compose("up", "-d", "--scale", f"gateway={GATEWAY_REPLICAS}", timeout=READY_TIMEOUT_S + 300)
            wait_ready_through_nginx(stack)
            stack.timed(f"stack up (gateway x{GATEWAY_REPLICAS}) and ready through nginx", started)
            started = time.monotonic()
            yield stack
            stack.timed("checks (test_stack.py)", started)
        finally:
            started = time.monotonic()
            logs = stack.compose("logs", "--no-color", "--timestamps", check=False, timeout=300)
            (work / "compose.log").write_text(logs.stdout + logs.stderr)
            say(f"the services' logs: {work / 'compose.log'}")
            stack.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
            engine.stop(before.links)
            shutil.rmtree(engine_root, ignore_errors=True)
            stack.timed("teardown", started)
            stack.timings["total"] = round(time.monotonic() - total, 1)
            CACHE.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps({"base_cached": cached, "seconds": stack.timings}, indent=1) + "\n")
            left = before.differences(HostState.capture())
            assert not left, "the compose test left this behind:\n" + "\n".join(left)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every check ran and passed (none skipped, none deselected): the tested files are stamped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter else {}
    passed = len(stats.get("passed", []))
    if exitstatus == 0 and passed and not any(stats.get(kind) for kind in ("skipped", "deselected", "error")):
        stamp.write()
        say(f"all {passed} checks passed: stamped {stamp.PASSED.relative_to(ROOT)} (commit it)")
