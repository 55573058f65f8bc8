"""Child processes that die with their parent, whatever ends the parent (SIGKILL included).

Use `spawn` instead of `subprocess.Popen` for every long-running process our code starts
(tritonserver, pocketbase, nginx, a test's private redis-server), and `stop` to end it:

    from processes.children import spawn, stop

    process = spawn(["pocketbase", "serve", ...], stdout=log, stderr=subprocess.STDOUT)
    ...
    stop(process)  # SIGTERM to it, SIGKILL to its process group if it does not exit in time

Two guarantees, on Linux:
- The kernel sends the child `death_signal` (SIGKILL by default) when the parent dies, even by
  SIGKILL, when no `finally` or `atexit` runs (prctl PR_SET_PDEATHSIG, set between fork and exec).
  The signal fires when the *thread* that called `spawn` ends: spawn from the main thread or another
  thread that lives as long as the child should, never from a short-lived worker thread.
- The child leads its own process group (a new session): a terminal's Ctrl-C reaches only the
  parent, which stops the child in order; `stop` lets the child stop its own children (Triton
  unloads its models, ending their Python-backend stubs), then kills whatever of its group is left.
The death signal reaches the child only. Its own children must watch their parent (Triton's
Python-backend stubs do: they exit when tritonserver is gone) or be spawned by a child that uses
this module as well.

A child started by a library (uvicorn's worker processes, any `multiprocessing` child) cannot be
spawned here; it calls `die_with_parent()` first thing instead (see wig80/commands/gateway_worker.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent_pid: int, death_signal: int, then: Callable[[], None] | None):
    """The preexec_fn: runs in the child after fork, before exec; loaded libc only, nothing to import."""

    def set_death_signal() -> None:
        if _LIBC is not None and _LIBC.prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # the parent died before prctl took effect: no signal will come
            os.kill(os.getpid(), death_signal)
        if then is not None:
            then()

    return set_death_signal


def die_with_parent(parent_pid: int, death_signal: int = signal.SIGKILL) -> None:
    """From inside a child: have the kernel send us `death_signal` when `parent_pid`, our parent, dies."""
    _die_with(parent_pid, death_signal, None)()


def spawn(
    command: Sequence[str | os.PathLike],
    *,
    death_signal: int = signal.SIGKILL,
    preexec_fn: Callable[[], None] | None = None,
    **popen_kwargs,
) -> subprocess.Popen:
    """`subprocess.Popen(command, **popen_kwargs)` in its own session, signalled when we die;
    `preexec_fn` runs after the death signal is set."""
    for reserved in ("start_new_session", "process_group"):
        if reserved in popen_kwargs:
            raise TypeError(f"spawn sets {reserved} itself")
    return subprocess.Popen(
        command, preexec_fn=_die_with(os.getpid(), death_signal, preexec_fn), start_new_session=True,
        **popen_kwargs,
    )


def signal_group(process: subprocess.Popen, sig: int) -> None:
    """`sig` to the child's process group; nothing if the group is already gone."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def stop(process: subprocess.Popen, timeout: float = 30.0, stop_signal: int = signal.SIGTERM) -> int:
    """`stop_signal` to the child, SIGKILL to its group if the child is not gone in `timeout` s.

    Returns the child's exit code. Whatever of its group outlives it is killed: the group's id stays
    reserved while a member lives, so the final SIGKILL reaches nobody else.
    """
    if process.poll() is None:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)
    signal_group(process, signal.SIGKILL)
    return process.returncode


class ChildServer:
    """What our server launchers (tritonserver, pocketbase) share: one spawned process logging to
    `log_path`. A subclass sets `log_path` and `_process` (from `spawn`) and may extend `stop`."""

    log_path: Path
    log_tail_chars = 4000
    _process: subprocess.Popen | None = None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-self.log_tail_chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        process, self._process = self._process, None
        return None if process is None else stop(process, timeout)
