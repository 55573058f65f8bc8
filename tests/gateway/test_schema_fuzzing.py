"""Property-based fuzzing of the OpenAPI schema with schemathesis: no request makes the gateway answer 5xx."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
EXAMPLES_PER_OPERATION = 50


def test_fuzzing_the_schema_finds_no_server_error(start_gateway, tmp_path, registry_serving):
    # a private store (fuzzed POST /bars may write into it), and the registry `wig80 serve` starts beside it
    gateway = start_gateway(**registry_serving.env)
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{gateway.url}/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,response_schema_conformance",
        "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "20260101",
        "--header", f"X-API-Key: {API_KEY}", "--request-timeout", "30", "--workers", "1",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "ST101" not in result.stdout
    assert gateway.metric("predictions_total") > 0  # the fuzzer reached the model, not only validation errors
