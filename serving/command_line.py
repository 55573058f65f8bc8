"""Hide a secret from a child's command line once the child has read its arguments.

Any local user reads any process's arguments (`ps`, /proc/PID/cmdline); only the owner (and root)
reads its environment or memory. tritonserver 2.51 takes the key of its restricted APIs only as an
argument (no config file, no environment variable), so the launcher overwrites the key's bytes in
the child's argument area (/proc/PID/mem, allowed to the parent: same user, and Yama's ptrace scope
admits a parent) as soon as the child has parsed them. The child keeps its own copy of the value
(Triton copies its options into the server's state while parsing), so nothing changes for it.
"""

from __future__ import annotations

from pathlib import Path

MASK = b"*"


def argument_area(pid: int) -> tuple[int, int]:
    """The child's argv strings: [arg_start, arg_end) in its memory (fields 48 and 49 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[45]), int(fields[46])  # fields after the command name, which may contain spaces


def hide_in_command_line(pid: int, secret: str) -> bool:
    """Overwrite every occurrence of `secret` in process `pid`'s arguments with MASK bytes of the same length.

    True when the command line no longer shows the secret; False when this kernel or container does not
    let us write the child's memory (the secret then stays visible: the caller says so).
    """
    needle = secret.encode()
    if not needle:
        return True
    try:
        start, end = argument_area(pid)
        with open(f"/proc/{pid}/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            arguments = memory.read(end - start)
            if needle in arguments:
                memory.seek(start)
                memory.write(arguments.replace(needle, MASK * len(needle)))
        return needle not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
