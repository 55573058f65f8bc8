"""The curl and WebSocket examples of docs/gateway.md and the README, run verbatim with the port changed,
on the synthetic market and on the real stooq files, as a new user would try them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.api.routes.models import ModelsResponse
from gateway.schemas import (
    BarsResponse,
    BatchAnalysisResponse,
    ForecastPathResponse,
    HealthResponse,
    PredictionResponse,
    SpectrumResponse,
    SymbolsResponse,
    WebSocketPrediction,
)
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "gateway.md"
README = REPO / "README.md"
RESPONSE_MODELS = {
    "/health": HealthResponse, "/symbols": SymbolsResponse, "/analyze": PredictionResponse,
    "/batch_analyze": BatchAnalysisResponse, "/spectrum/": SpectrumResponse, "/bars": BarsResponse,
    "/forecast/": ForecastPathResponse, "/models": ModelsResponse,
}


def code_blocks(language: str, doc: Path = DOC) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", doc.read_text(), flags=re.S)


def curl_examples(doc: Path = DOC) -> list[str]:
    """Each curl command (continuation lines joined, a trailing shell comment dropped) of the bash blocks."""
    return [re.sub(r"\s+#[^'\"]*$", "", line) for block in code_blocks("bash", doc)
            for line in block.replace("\\\n", " ").splitlines()
            if line.startswith("curl ") and "127.0.0.1:8080" in line]


@pytest.fixture(params=["synthetic", "real"])
def market_home(request):
    """The synthetic market of the session, or the real stooq files of ABE and ACG."""
    return request.getfixturevalue("bars_home" if request.param == "synthetic" else "real_bars_home")


def test_the_doc_has_an_example_per_endpoint():
    examples = " ".join(curl_examples())
    for path in [*(p for p in RESPONSE_MODELS if p != "/models"), "/metrics"]:
        assert f"8080{path}" in examples


def test_readme_has_curl_examples():
    assert len(curl_examples(README)) >= 2


@pytest.mark.parametrize("doc", [DOC, README], ids=["gateway.md", "README"])
def test_curl_examples_work_verbatim(start_gateway, market_home, tmp_path, doc, registry_serving):
    home = tmp_path / "market"
    shutil.copytree(market_home, home)
    gateway = start_gateway(home=home, **registry_serving.env)  # a registry beside it, as `wig80 serve` starts
    for example in curl_examples(doc):
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


async def test_python_websocket_example_receives_predictions(start_gateway, market_home):
    gateway = start_gateway(home=market_home)  # read-only here: the client posts nothing
    client = code_blocks("python")[0]
    namespace: dict = {}
    exec(compile(client, str(DOC), "exec"), namespace)  # the doc's client, unmodified
    symbols = json.loads(re.search(r"asyncio\.run\(follow\((\[.*?\])\)\)", client).group(1))
    messages = await namespace["follow"](symbols, url=gateway.ws_url, count=2)
    assert {WebSocketPrediction.model_validate(m).symbol for m in messages} == set(symbols)
