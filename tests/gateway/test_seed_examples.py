"""The seed guide's examples against a real gateway: its curl lines and Python WebSocket client run verbatim
(port changed), and every example response's keys are in ours, with the same JSON types."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.fixtures.requirements import requirement_missing
from tests.gateway.conftest import SEED_GUIDE_SYMBOLS

pytestmark = [pytest.mark.triton, pytest.mark.redis]
GUIDE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "ai-training-guide.md"
GUIDE_URL = "http://localhost:8001"
WEBSOCKET_TIMEOUT_S = 60.0


def guide_text() -> str:
    if not GUIDE.exists():
        requirement_missing(f"the seed guide is not at {GUIDE}")
    return GUIDE.read_text()


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"\n## ", text[start + len(heading):])
    return text[start: start + len(heading) + following.start()] if following else text[start:]


def curl_examples(text: str) -> list[tuple[str, dict | None]]:
    """(command, example response or None) for each curl block of the guide's "API Endpoints"."""
    endpoints = section(text, "### API Endpoints")
    pattern = r"```bash\n(curl .*?)```(?:\s*Response:\s*```json\n(.*?)```)?"
    return [(block.replace("\\\n", " ").strip(), json.loads(example) if example else None)
            for block, example in re.findall(pattern, endpoints, flags=re.S)]


def commented_json(block: str) -> dict:
    """The API Reference's Python-commented JSON as data (`# ...` comments dropped)."""
    lines = [re.sub(r"\s+#.*$", "", line) for line in block.splitlines()]
    return json.loads("\n".join(lines))


def reference_model(text: str, name: str) -> dict:
    match = re.search(rf"#### {name}\n```python\n(.*?)```", section(text, "## API Reference"), flags=re.S)
    return commented_json(match.group(1))


def json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # JSON has one number type; 3600 and 3600.0 read the same in every client
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_differences(example, ours, where: str = "") -> list[str]:
    """Each key of `example` missing from `ours`, or present with another JSON type."""
    if json_type(example) != json_type(ours):
        return [f"{where or '<root>'}: {json_type(ours)} where the guide has {json_type(example)}"]
    if isinstance(example, dict):
        return [difference for key, value in example.items()
                for difference in (shape_differences(value, ours[key], f"{where}.{key}") if key in ours
                                   else [f"{where}.{key}: missing"])]
    return []


def run_curl(command: str, base_url: str) -> tuple[str, str]:
    result = subprocess.run(["bash", "-c", command.replace(GUIDE_URL, base_url) + " -s -w '\\n%{http_code}'"],
                            capture_output=True, text=True, timeout=60)
    body, status = result.stdout.rsplit("\n", 1)
    return body, status


@pytest.fixture(scope="module")
def seed_gateway(seed_guide_home, triton_grpc, redis_url, redis_prefix, tmp_path_factory):
    from tests.gateway.conftest import gateway_env
    from tests.gateway.process import GatewayProcess

    log = tmp_path_factory.mktemp("seed-gateway") / "gateway.log"
    with GatewayProcess(gateway_env(seed_guide_home, triton_grpc, redis_url), f"{redis_prefix}-seed", log) as gw:
        yield gw


def test_the_guide_has_the_examples_we_check():
    examples = curl_examples(guide_text())
    paths = [re.search(r"8001(/[a-z_]+)", command).group(1) for command, _ in examples]
    assert paths == ["/health", "/analyze", "/batch_analyze", "/spectrum", "/symbols", "/metrics"]
    assert sum(example is not None for _, example in examples) == 3


def test_shape_differences_catches_a_missing_key_and_a_type():
    example = {"a": 1, "b": {"c": "x", "d": True}}
    assert shape_differences(example, {"a": 2.5, "b": {"c": "y", "d": False, "e": 1}}) == []
    assert shape_differences(example, {"a": "1", "b": {"c": "y"}}) == [".a: string where the guide has number",
                                                                        ".b.d: missing"]


def test_curl_examples_run_verbatim_and_answer_the_guides_shapes(seed_gateway):
    for command, example in curl_examples(guide_text()):
        body, status = run_curl(command, seed_gateway.url)
        assert status == "200", f"{command}\n-> {status} {body}"
        if "/metrics" in command:
            assert "predictions_total" in body
            continue
        answer = json.loads(body)
        if example is not None:
            assert shape_differences(example, answer) == [], command
        if "/batch_analyze" in command:
            assert [item["symbol"] for item in answer["results"]] == list(SEED_GUIDE_SYMBOLS)
            assert all(item["status_code"] == 200 for item in answer["results"])


def test_api_reference_models_match_our_analyze(seed_gateway):
    text = guide_text()
    request = reference_model(text, "AnalysisRequest")
    response = httpx.post(f"{seed_gateway.url}/analyze", json=request, timeout=30.0)
    assert response.status_code == 200, response.text
    assert shape_differences(reference_model(text, "PredictionResponse"), response.json()) == []


@pytest.mark.parametrize("body", [b'{"symbol": "KGH",', b'{"symbol": "KGH", "prediction_horizon": 0}'])
def test_invalid_input_is_400_as_the_guide_says(seed_gateway, body):
    assert "`400 Bad Request`: Invalid input parameters" in guide_text()
    response = httpx.post(f"{seed_gateway.url}/analyze", content=body, timeout=30.0,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and isinstance(response.json()["detail"], str)


def test_python_websocket_client_runs_verbatim(seed_gateway, tmp_path):
    text = guide_text()
    client = re.search(r"### Python WebSocket Client\n\n```python\n(.*?)```", text, flags=re.S).group(1)
    script = tmp_path / "guide_client.py"
    script.write_text(client.replace("ws://localhost:8001", f"ws://127.0.0.1:{seed_gateway.port}"))
    process = subprocess.Popen([sys.executable, "-u", str(script)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    seen: dict[str, list[str]] = {}
    watchdog = threading.Timer(WEBSOCKET_TIMEOUT_S, process.kill)  # the client itself never stops
    watchdog.start()
    try:
        while len(seen) < len(SEED_GUIDE_SYMBOLS) and (line := process.stdout.readline()):
            if match := re.match(r"Update for (\w+):", line):
                seen[match.group(1)] = [process.stdout.readline().strip() for _ in range(4)]
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=10)
    assert set(seen) == set(SEED_GUIDE_SYMBOLS), f"the guide's client printed: {seen}"
    for lines in seen.values():
        assert [line.split(":")[0] for line in lines] == ["Current", "Predicted", "Direction", "Confidence"]
        assert re.fullmatch(r"Confidence: 0\.\d\d|Confidence: 1\.00", lines[3])
