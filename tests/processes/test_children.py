"""processes.children: a spawned child dies with its parent (even a SIGKILLed one); `stop` ends its whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from processes.children import spawn, stop
from tests.fixtures.processes import describe, is_alive, process_tree, survivors

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# a parent that spawns `sleep` the way our launchers do, says the child's pid, then waits to be killed
PARENT_SCRIPT = """
import sys, time
from processes.children import spawn
child = spawn(["sleep", "300"])
print(child.pid, flush=True)
time.sleep(300)
"""


def test_a_sigkilled_parent_takes_its_spawned_child_along():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        assert is_alive(child) and child.ppid() == parent.pid
        parent.kill()  # SIGKILL: no finally, no atexit runs in the parent
        parent.wait(timeout=10)
        assert survivors([child], timeout=10) == [], describe([child])
    finally:
        parent.kill()
        parent.stdout.close()


def test_stop_ends_the_whole_group_and_kills_what_ignores_sigterm():
    # a shell that ignores SIGTERM, with a grandchild that inherits the ignoring
    child = spawn(["sh", "-c", "trap '' TERM; sleep 300 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    grandchild = psutil.Process(int(child.stdout.readline()))
    tree = process_tree(child.pid)
    assert grandchild in tree and os.getpgid(grandchild.pid) == child.pid
    try:
        assert stop(child, timeout=1) == -signal.SIGKILL
        assert survivors(tree, timeout=10) == [], describe(tree)
    finally:
        child.stdout.close()


def test_spawn_refuses_to_be_told_how_to_start_the_child():
    with pytest.raises(TypeError, match="start_new_session"):
        spawn(["true"], start_new_session=False)


def test_a_preexec_fn_of_the_caller_runs_too():
    child = spawn(["sleep", "30"], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        status = Path(f"/proc/{child.pid}/status").read_text()
        ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
        assert ignored & (1 << (signal.SIGINT - 1))  # the child kept SIGINT ignored through exec
    finally:
        stop(child)
