"""The gateway app as `wig80 serve` hands it to uvicorn: a worker process dies with the `wig80` process.

With `WIG80_API_WORKERS` > 1, uvicorn starts its workers through `multiprocessing`; they outlive a
SIGKILLed parent (and keep its port) unless they ask the kernel for a death signal themselves.
With one worker, uvicorn serves in the `wig80` process itself, which then has no parent of ours.
"""

from __future__ import annotations

import multiprocessing

from processes.children import die_with_parent

if (parent := multiprocessing.parent_process()) is not None and parent.pid is not None:
    die_with_parent(parent.pid)

from gateway.main import app  # noqa: E402

__all__ = ["app"]
