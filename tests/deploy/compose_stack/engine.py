"""A private Docker engine for the compose test, and the host left as it was found.

Debian's dockerd 20.10 runs with its own socket, data root and exec root under a temporary folder, its
own bridge (for image builds) and its own address pool. It does not touch the firewall (--iptables=false,
--ip-forward=false): published ports go through docker-proxy on the host, and outbound traffic exists only
while images build (`outbound()`: an nftables table of our own masquerading the build bridge, and IPv4
forwarding; both undone). While the stack runs, nothing is forwarded: containers reach each other and the host's bridge
addresses, nothing else. `stop()` removes every container, network, mount and link the engine made;
`HostState` compares the host before and after.

Triton's GPU reservation in docker-compose.yml makes dockerd ask for its `nvidia` device driver, which it
registers only when NVIDIA's `nvidia-container-runtime-hook` is on its PATH. This machine has no GPU: the
engine gets a no-op hook of that name (named as such), so the reservation is accepted and gives nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "wig80ct0"  # the build bridge (one compose test at a time: `exclusive()`)
BRIDGE_ADDRESS = "10.231.77.1"
BRIDGE_CIDR = "10.231.77.1/24"
BUILD_SUBNET = "10.231.77.0/24"
ADDRESS_POOL = "base=10.232.0.0/16,size=24"  # the compose networks without a fixed subnet (edge)
NAT_TABLE = "wig80_compose_test"  # nftables: ours alone, deleted whole
LOCK_PATH = Path("/run/lock/wig80-compose-test.lock")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
NO_OP_NVIDIA_HOOK = """#!/bin/sh
# A stand-in for NVIDIA's container toolkit hook, on the compose test's private dockerd only: with it on
# PATH dockerd accepts docker-compose.yml's GPU reservation; this machine has no GPU, so the hook does nothing.
cat >/dev/null
exit 0
"""


def run(command: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, capture_output=True, text=True, **kwargs)


@dataclass(frozen=True)
class HostState:
    """What an engine may change on the host: links, routes, mounts, firewall rules, IPv4 forwarding."""

    links: frozenset[str]
    routes: frozenset[str]
    mounts: frozenset[str]
    rules: str
    ip_forward: str

    @classmethod
    def capture(cls) -> HostState:
        links = json.loads(run(["ip", "-j", "link", "show"]).stdout)
        routes = run(["ip", "route", "show"]).stdout.splitlines()
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        rules = run(["nft", "list", "ruleset"], check=False).stdout
        return cls(frozenset(link["ifname"] for link in links), frozenset(routes),
                   frozenset(line.split()[1] for line in mounts),
                   "\n".join(line for line in rules.splitlines() if not line.startswith("#")),
                   Path("/proc/sys/net/ipv4/ip_forward").read_text().strip())

    def differences(self, after: HostState) -> list[str]:
        found = []
        for name in ("links", "routes", "mounts"):
            before_set, after_set = getattr(self, name), getattr(after, name)
            if after_set - before_set:
                found.append(f"{name} left behind: {sorted(after_set - before_set)}")
        if self.rules != after.rules:
            found.append(f"firewall rules changed:\n{after.rules}")
        if self.ip_forward != after.ip_forward:
            found.append(f"net.ipv4.ip_forward is {after.ip_forward}, was {self.ip_forward}")
        return found


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One compose test at a time on this host: they share the bridge and compose's fixed subnet."""
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_PATH, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[compose-test] another compose test holds {LOCK_PATH}; waiting", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class PrivateEngine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.log_path = root / "dockerd.log"
        self._process: subprocess.Popen | None = None
        self._outbound = False
        self._forwarding_before = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
        return run(["docker", *args], check=check, env=self.env, timeout=timeout, **kwargs)

    def start(self) -> PrivateEngine:
        hooks = self.root / "bin"
        hooks.mkdir(parents=True)
        hook = hooks / "nvidia-container-runtime-hook"
        hook.write_text(NO_OP_NVIDIA_HOOK)
        hook.chmod(0o755)
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])
        command = [
            "dockerd", f"--data-root={self.root / 'data'}", f"--exec-root={self.root / 'exec'}",
            f"--host={self.host}", f"--pidfile={self.root / 'docker.pid'}", f"--bridge={BRIDGE}",
            f"--default-address-pool={ADDRESS_POOL}", "--iptables=false", "--ip6tables=false",
            "--ip-forward=false", "--storage-driver=overlay2", "--log-level=warn",
        ]
        with self.log_path.open("w") as log:
            # its own session: a Ctrl-C of the test reaches the test, which stops the engine in order
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                             env={**os.environ, "PATH": f"{hooks}:{os.environ['PATH']}"})
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.docker("version", check=False, timeout=10).returncode != 0:
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        return self

    @contextlib.contextmanager
    def outbound(self) -> Iterator[None]:
        """The build bridge may reach the network (apt-get, pip) for the duration; nothing else may."""
        run(["nft", "add", "table", "ip", NAT_TABLE])
        run(["nft", "add", "chain", "ip", NAT_TABLE, "postrouting",
             "{ type nat hook postrouting priority 100 ; }"])
        run(["nft", "add", "rule", "ip", NAT_TABLE, "postrouting", "ip", "saddr", BUILD_SUBNET, "oifname", "!=",
             BRIDGE, "masquerade"])
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        self._outbound = True
        try:
            yield
        finally:
            self._close_outbound()

    def _close_outbound(self) -> None:
        if not self._outbound:
            return
        run(["nft", "delete", "table", "ip", NAT_TABLE], check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(self._forwarding_before + "\n")
        self._outbound = False

    def stop(self, links_before: frozenset[str]) -> None:
        """Every container and network removed, dockerd stopped, its mounts and links gone, the rule undone."""
        self._close_outbound()
        if self._process is not None and self._process.poll() is None:
            ids = self.docker("ps", "-aq", check=False, timeout=60).stdout.split()
            if ids:
                self.docker("rm", "-f", "-v", *ids, check=False, timeout=300)
            self.docker("network", "prune", "-f", check=False, timeout=60)
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            point = mount.split()[1]
            if point.startswith(str(self.root)):
                run(["umount", "-l", point], check=False)
        links = {link["ifname"] for link in json.loads(run(["ip", "-j", "link", "show"]).stdout)}
        for link in sorted(links - links_before):
            if link == BRIDGE or link.startswith(("br-", "veth", "docker")):  # ours: made by this engine
                run(["ip", "link", "delete", link], check=False)
        # the images' layers: several GB of small files (rm is about twice as fast as shutil.rmtree here)
        run(["rm", "-rf", "--one-file-system", str(self.root / "data"), str(self.root / "exec")], check=False,
            timeout=1800)
