"""Where the compose test's images come from without a registry: a Debian bookworm base made with
debootstrap (cached as a tarball under build/compose-test/, so a rerun skips the minute it takes) and
this machine's CPU torch wheel, served to the builds over HTTPS on the build bridge."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.deploy.compose_stack.engine import BRIDGE_ADDRESS, PrivateEngine, run
from tests.fixtures.nginx import Certificate, self_signed_certificate

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "build" / "compose-test"  # gitignored
IMAGES = Path(__file__).resolve().parent / "images"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "libpython3.11", "ca-certificates")
DEBIAN_IMAGE = "wig80-local/debian:bookworm"
BASE_IMAGE = "wig80-local/python:3.11-bookworm"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
TORCH_VERSION = "2.13.0"


def say(message: str) -> None:
    print(f"[compose-test] {message}", flush=True)


def base_tarball() -> tuple[Path, bool]:
    """The cached minbase root filesystem (made now if missing); whether it was cached."""
    key = hashlib.sha256(" ".join((SUITE, MIRROR, *BASE_PACKAGES)).encode()).hexdigest()[:12]
    tarball = CACHE / f"{SUITE}-minbase-{key}.tar"
    if tarball.is_file():
        return tarball, True
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        rootfs = Path(work) / "rootfs"
        say(f"debootstrap --variant=minbase {SUITE} (about a minute; cached as {tarball.relative_to(ROOT)})")
        run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs),
             MIRROR], timeout=900)
        partial = Path(work) / "rootfs.tar"
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], timeout=600)
        partial.replace(tarball)  # whole or not at all
    return tarball, False


def build_base(engine: PrivateEngine, tarball: Path, trusted: list[Path]) -> str:
    """The local Python base in the engine: the tarball imported, the host's CA certificates (and `trusted`)
    added. Returns its tag (what PYTHON_IMAGE / BASE_IMAGE name in the builds)."""
    engine.docker("import", str(tarball), DEBIAN_IMAGE, timeout=600)
    with tempfile.TemporaryDirectory() as context:
        certificates = Path(context) / "ca-certificates"
        certificates.mkdir()
        for source in [*sorted(HOST_CA_DIR.glob("*.crt")), *trusted]:
            shutil.copy(source, certificates / source.name)
        shutil.copy(IMAGES / "base.Dockerfile", Path(context) / "Dockerfile")
        engine.docker("build", "-q", "--build-arg", f"DEBIAN_IMAGE={DEBIAN_IMAGE}", "-t", BASE_IMAGE, context,
                      timeout=600)
    return BASE_IMAGE


def local_torch_wheel() -> Path | None:
    """This machine's CPU torch wheel: in pip's find-links (its configuration or PIP_FIND_LINKS) or its cache."""
    pattern = f"torch-{TORCH_VERSION}+cpu-cp311-cp311-*.whl"
    places = os.environ.get("PIP_FIND_LINKS", "").split()
    configured = run([sys.executable, "-m", "pip", "config", "get", "global.find-links"], check=False)
    places += configured.stdout.split() if configured.returncode == 0 else []
    for place in places:
        found = sorted(Path(place.removeprefix("file://")).glob(pattern))
        if found:
            return found[-1]
    cached = run([sys.executable, "-m", "pip", "cache", "list", f"torch-{TORCH_VERSION}+cpu", "--format", "abspath"],
                 check=False)
    found = [Path(line) for line in cached.stdout.split() if Path(line).name.startswith(f"torch-{TORCH_VERSION}+cpu")]
    return found[-1] if found else None


@contextlib.contextmanager
def wheel_server(wheel: Path, work: Path) -> Iterator[tuple[str, Certificate]]:
    """A PEP 503 index with the one torch wheel, over HTTPS on the build bridge (the builds trust its
    certificate through the local base). Yields the index URL and the certificate."""
    index = work / "index" / "torch"
    index.mkdir(parents=True)
    (index / wheel.name).symlink_to(wheel)
    certificate = self_signed_certificate(work / "tls", BRIDGE_ADDRESS)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    handler = functools.partial(QuietHandler, directory=str(work / "index"))
    server = http.server.ThreadingHTTPServer((BRIDGE_ADDRESS, 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://{BRIDGE_ADDRESS}:{server.server_address[1]}/", certificate
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


def host_can_build() -> list[str]:
    """What this host lacks for the compose test (empty when it has everything)."""
    missing = [f"{program} (Debian package {package})" for program, package in
               (("dockerd", "docker.io"), ("docker", "docker.io"), ("docker-compose", "docker-compose"),
                ("debootstrap", "debootstrap"), ("nft", "nftables"), ("openssl", "openssl"))
               if shutil.which(program) is None and shutil.which(program, path="/usr/sbin:/sbin") is None]
    if os.geteuid() != 0:
        missing.append("root (dockerd, bridges and debootstrap need it)")
    return missing
