"""The gateway as a process: `serve(settings)` for `wig80 serve`, `python -m wig80.commands.gateway_worker`
for the gateway image, and `build_app` for uvicorn's worker processes.

With one worker (the default), uvicorn serves the app built from the caller's settings in this very
process. With `WIG80_API_WORKERS` > 1, uvicorn starts each worker by import string in a process of its
own (`multiprocessing`), which builds its app from its environment: `serve` first puts its settings there
(`Settings.as_environment`), the one way uvicorn lets a caller hand its workers anything. Such a worker
outlives a SIGKILLed parent (and keeps its port) unless it asks the kernel for a death signal itself,
which importing this module does.
"""

from __future__ import annotations

import multiprocessing
import os

from processes.children import die_with_parent
from settings import Settings

if (parent := multiprocessing.parent_process()) is not None and parent.pid is not None:
    die_with_parent(parent.pid)

WORKER_FACTORY = "wig80.commands.gateway_worker:build_app"


def build_app():
    """uvicorn's factory in each worker process: the gateway with the settings of its environment."""
    from gateway.main import create_app

    return create_app(Settings())


def serve(settings: Settings) -> None:
    """The gateway with `settings`, until interrupted."""
    from gateway.main import create_app
    from gateway.server import run

    if settings.api_workers == 1:
        run(settings, create_app(settings))
        return
    os.environ.update(settings.as_environment())  # read by the worker processes uvicorn is about to start
    run(settings, WORKER_FACTORY, factory=True)


if __name__ == "__main__":
    serve(Settings())
