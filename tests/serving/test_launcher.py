"""The launcher reports a server that cannot start with the end of its log, and leaves nothing running."""

from __future__ import annotations

import shutil

import pytest

from serving.tritonserver import TritonServer, TritonStartError
from tests.fixtures.services import free_port
from tests.serving.conftest import grpc_ready

pytestmark = pytest.mark.triton


def test_a_model_that_fails_to_load_stops_the_start_with_its_log(triton_server, tmp_path):
    repository = tmp_path / "repo"
    shutil.copytree(triton_server.repository, repository)
    config = repository / "mgdl" / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "mgdl"', 'name: "mgdl"\nno_such_field: 1'))
    server = TritonServer(repository, free_port(), free_port(), free_port(), home=tmp_path / "home")
    with pytest.raises(TritonStartError) as caught:
        server.start().wait_ready(timeout=120)
    assert "tritonserver exited" in str(caught.value)
    # Triton's own complaint, from the log: which file it could not read, and what failed because of it
    assert f"failed to read text proto from {config}" in str(caught.value)
    server.stop()
    assert not server.is_running() and not grpc_ready(server.grpc_port)


def test_context_manager_serves_and_stops(triton_server, tmp_path):
    with TritonServer(
        triton_server.repository, free_port(), free_port(), free_port(), home=tmp_path
    ) as server:
        assert server.is_running() and grpc_ready(server.grpc_port)
        assert server.log_path.parent == tmp_path.resolve() / "logs"
    assert not server.is_running() and not grpc_ready(server.grpc_port)
