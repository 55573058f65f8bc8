"""Shared fixtures live in `tests/fixtures/`, one module per kind of real component."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.private_servers",
    "tests.fixtures.triton",
    "tests.fixtures.registry",
]
