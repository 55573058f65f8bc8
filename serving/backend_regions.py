"""The Python backend's shared-memory regions (/dev/shm) of one tritonserver, removed after it ends.

tritonserver creates one region per model instance and hands its name to the instance's stub on the
stub's command line (`triton_python_backend_stub MODEL.py triton_python_backend_shm_region_<uuid> ...`).
A server that stops cleanly unlinks them; a killed one (SIGKILL, a crash) leaves them behind, 1 MiB
or more each, three per start of our repository. The launcher notes the names while the server runs
and removes whatever is left once it has ended, so a supervised server restarted after crashes
leaks nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

REGION_PREFIX = "triton_python_backend_shm_region_"
STUB_NAME = "triton_python_backend_stub"
SHM_DIR = Path("/dev/shm")


def regions_of(process_group: int) -> set[str]:
    """The region names on the command lines of the stubs in `process_group` (the server leads its group)."""
    names: set[str] = set()
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if not (cmdline and cmdline[0].endswith(STUB_NAME)):
            continue
        try:
            if os.getpgid(process.pid) != process_group:
                continue
        except ProcessLookupError:
            continue
        names.update(argument for argument in cmdline if argument.startswith(REGION_PREFIX))
    return names


def remove_regions(names: set[str], shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink the regions among `names` that still exist (their server is gone); returns those removed."""
    removed = []
    for name in sorted(names):
        if not name.startswith(REGION_PREFIX) or "/" in name:
            continue
        try:
            (shm_dir / name).unlink()
        except FileNotFoundError:
            continue
        removed.append(name)
    return removed
