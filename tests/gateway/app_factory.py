"""The real app, its Redis keys under a per-test prefix; `python -m tests.gateway.app_factory PORT` serves it
with the uvicorn options every launcher uses (gateway.server), on 127.0.0.1:PORT."""

from __future__ import annotations

import os
import sys

from gateway.main import create_app
from settings import Settings

PREFIX_VARIABLE = "WIG80_TEST_REDIS_PREFIX"


def build():
    return create_app(Settings(), redis_prefix=os.environ[PREFIX_VARIABLE])


if __name__ == "__main__":
    from gateway.server import run

    run(Settings(), "tests.gateway.app_factory:build", factory=True,
        host="127.0.0.1", port=int(sys.argv[1]), workers=1, log_level="warning")
