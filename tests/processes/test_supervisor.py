"""processes.supervisor: a dead child is reported, marked down in the state file and started again after a
growing delay; nothing is restarted once the supervisor has been left."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from processes.children import ChildServer, spawn
from processes.supervisor import Backoff, Supervisor, children_down


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
