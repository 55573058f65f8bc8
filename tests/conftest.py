"""Shared fixtures live in `tests/fixtures/`, one module per kind of real component."""

from processes.children import keep_grpc_out_of_forks

keep_grpc_out_of_forks()  # before any test imports gRPC: the session spawns servers while it holds channels

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.private_servers",
    "tests.fixtures.triton",
    "tests.fixtures.registry",
]
