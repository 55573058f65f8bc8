"""The curl and WebSocket examples of docs/gateway.md, run verbatim with the port changed."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from gateway.models import (
    BarsResponse,
    BatchAnalysisResponse,
    HealthResponse,
    PredictionResponse,
    SpectrumResponse,
    SymbolsResponse,
    WebSocketPrediction,
)
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
RESPONSE_MODELS = {
    "/health": HealthResponse, "/symbols": SymbolsResponse, "/analyze": PredictionResponse,
    "/batch_analyze": BatchAnalysisResponse, "/spectrum/": SpectrumResponse, "/bars": BarsResponse,
}


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def curl_examples() -> list[str]:
    return [line for block in code_blocks("bash") for line in block.splitlines() if line.startswith("curl ")]


def test_the_doc_has_an_example_per_endpoint():
    examples = " ".join(curl_examples())
    for path in [*RESPONSE_MODELS, "/metrics"]:
        assert f"8080{path}" in examples


def test_curl_examples_work_verbatim(start_gateway):
    gateway = start_gateway()
    for example in curl_examples():
        command = example.replace("127.0.0.1:8080", f"127.0.0.1:{gateway.port}")
        result = subprocess.run(["bash", "-c", command + " -w '\\n%{http_code}'"], capture_output=True, text=True,
                                timeout=60, env={**os.environ, "WIG80_API_KEY": API_KEY})
        body, status = result.stdout.rsplit("\n", 1)
        assert status == "200", f"{example}\n-> {status} {body}"
        path = re.search(r"8080(/[a-z_]+/?)", example).group(1)
        if path == "/metrics":
            assert "predictions_total" in body
        else:
            RESPONSE_MODELS[path].model_validate(json.loads(body))


async def test_python_websocket_example_receives_predictions(start_gateway):
    gateway = start_gateway()
    namespace: dict = {}
    exec(compile(code_blocks("python")[0], str(DOC), "exec"), namespace)  # the doc's client, unmodified
    messages = await namespace["follow"](["1AT", "ABE"], url=gateway.ws_url, count=2)
    assert {WebSocketPrediction.model_validate(m).symbol for m in messages} == {"1AT", "ABE"}
