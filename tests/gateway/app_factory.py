"""`uvicorn --factory tests.gateway.app_factory:build`: the real app, its Redis keys under a per-test prefix."""

from __future__ import annotations

import os

from gateway.main import create_app
from wig80.settings import Settings

PREFIX_VARIABLE = "WIG80_TEST_REDIS_PREFIX"


def build():
    return create_app(Settings(), redis_prefix=os.environ[PREFIX_VARIABLE])
