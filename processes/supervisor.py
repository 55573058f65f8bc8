"""A supervisor of child servers (`wig80 serve`'s tritonserver and PocketBase): a dead one is started again.

    with Supervisor(state_file, report=say) as supervisor:  # leaving it: no more restarts
        supervisor.watch("tritonserver", triton)            # a started, ready ChildServer
        ...

A death is reported (`report`, the serve log) and written to `state_file` at once, so the gateway's
readiness (`/health/ready`) answers 503 naming the child until it is back. The restart comes after
a delay that grows while the child keeps dying or failing to get ready: `Backoff` (1 s, then doubling
to at most 30 s; a child that has served for 60 s starts from 1 s again). Before each start the dead
server is stopped: its exit is collected, the rest of its process group (Triton's Python-backend stubs)
killed and what it left behind removed (the server's own `stop`, e.g. TritonServer's).

The restarts are spawned from the supervisor's thread, and a child's death signal fires when the
thread that spawned it ends (processes.children); so the thread never ends: once restarts are off it
parks until the process exits, after the owners have stopped their servers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from processes.children import ChildServer

log = logging.getLogger(__name__)
RUNNING, DOWN = "running", "down"


@dataclass(frozen=True)
class Backoff:
    """The wait before restart attempt n (n >= 1) after a death: first_s * factor**(n - 1), at most cap_s."""

    first_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0
    stable_after_s: float = 60.0  # a child up this long counts its next death as the first again

    def delay(self, attempt: int) -> float:
        return min(self.cap_s, self.first_s * self.factor ** max(attempt - 1, 0))


@dataclass
class Child:
    name: str
    server: ChildServer
    state: str = RUNNING
    reason: str = ""  # why it is down
    attempts: int = 0  # restarts tried since it last served stable_after_s
    restarts: int = 0  # successful restarts, in all
    up_since: float = field(default_factory=time.monotonic)
    next_start: float = 0.0  # monotonic time of the next attempt while DOWN
    changed_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def summary(self) -> dict:
        waiting = max(self.next_start - time.monotonic(), 0.0) if self.state == DOWN else None
        return {"state": self.state, "reason": self.reason, "restarts": self.restarts, "since": self.changed_at,
                "next_attempt_in_s": None if waiting is None else round(waiting, 1)}


def exit_reason(code: int | None) -> str:
    if code is None:
        return "is gone"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, state_file: Path | None = None, report: Callable[[str], None] = log.warning,
                 backoff: Backoff = Backoff(), poll_interval_s: float = 0.5,
                 ready_timeout_s: float = 180.0) -> None:
        self.state_file = state_file
        self.report = report
        self.backoff = backoff
        self.poll_interval_s = poll_interval_s
        self.ready_timeout_s = ready_timeout_s
        self.children: dict[str, Child] = {}
        self._restarting = threading.Event()
        self._spawning = threading.Lock()  # held from the restart decision to the spawn
        self._thread = threading.Thread(target=self._run, name="wig80-supervisor", daemon=True)

    def watch(self, name: str, server: ChildServer) -> None:
        self.children[name] = Child(name, server)
        self._write_state()

    def __enter__(self) -> Supervisor:
        self._restarting.set()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_restarts()

    def stop_restarts(self) -> None:
        """No restart begins after this returns (the owners stop their servers next)."""
        self._restarting.clear()
        with self._spawning:
            pass
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def _run(self) -> None:
        while self._restarting.is_set():
            for child in list(self.children.values()):
                try:
                    self._check(child)
                except Exception:  # this thread must not end (see the module's docstring): report, go on
                    log.exception("supervising %s", child.name)
            time.sleep(self.poll_interval_s)
        threading.Event().wait()  # park: the children this thread spawned die when it ends

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.state == RUNNING:
            if child.server.is_running():
                if child.attempts and now - child.up_since >= self.backoff.stable_after_s:
                    child.attempts = 0
                return
            self._went_down(child, exit_reason(child.server.returncode))
        elif now >= child.next_start:
            self._restart(child)

    def _went_down(self, child: Child, reason: str) -> None:
        child.attempts += 1
        delay = self.backoff.delay(child.attempts)
        child.state, child.reason, child.next_start = DOWN, reason, time.monotonic() + delay
        child.changed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.report(f"{child.name} {reason}; restarting it in {delay:g} s (attempt {child.attempts})")
        self._write_state()

    def _restart(self, child: Child) -> None:
        with self._spawning:
            if not self._restarting.is_set():
                return
            child.server.stop(timeout=10)  # collect the dead one: its group, its leftovers
            try:
                child.server.start()
            except Exception as error:  # any failure to start is reported, and tried again later
                self._went_down(child, f"could not be started: {error}")
                return
        try:
            child.server.wait_ready(timeout=self.ready_timeout_s)
        except Exception as error:  # died again, or not ready in time: the report carries its log
            child.server.stop(timeout=10)
            self._went_down(child, f"did not come back: {error}")
            return
        child.state, child.reason, child.up_since = RUNNING, "", time.monotonic()
        child.restarts += 1
        child.changed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.report(f"{child.name} is back (restart {child.restarts})")
        self._write_state()

    def _write_state(self) -> None:
        """The children's state as JSON, replaced atomically (the gateway's readiness reads it)."""
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}")
        partial.write_text(json.dumps({name: child.summary() for name, child in self.children.items()}))
        os.replace(partial, self.state_file)


def children_down(state_file: Path) -> dict[str, str]:
    """The children a supervisor's `state_file` names down, each with why (empty when all run or no file)."""
    try:
        children = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return {}
    return {name: child["reason"] or "down" for name, child in children.items() if child["state"] != RUNNING}

