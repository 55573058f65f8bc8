"""The compose stack, running (conftest.py builds and starts it), checked through nginx only: readiness,
/analyze against Triton's own answer, a bar posted to one replica pushed over a WebSocket held by the
other, what is published and reachable, what stays inside, two retrainings, and a missing secret."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import websockets

from gateway.schemas import ForecastPathResponse, PredictionResponse, SymbolsResponse, WebSocketPrediction
from tests.deploy.compose_stack.conftest import GATEWAY_REPLICAS, SECRETS

pytestmark = pytest.mark.timeout(3600)  # the first check waits for the images and the stack
HORIZON = 5
PUSH_TIMEOUT_S = 30.0
TRITON_ANSWER = Path(__file__).with_name("triton_answer.py")
POST_LOG = re.compile(r'"POST /bars HTTP/1\.1" 200')
WEBSOCKET_LOG = re.compile(r'"WebSocket /ws/realtime" \[accepted\]')


def stored_symbol(stack) -> str:
    with stack.client() as client:
        listing = SymbolsResponse.model_validate(client.get("/symbols").json())
    return next(item.symbol for item in listing.symbols if item.data_available)


def test_ready_through_nginx_over_https(stack):
    with stack.client() as client:
        ready = client.get("/health/ready")
        live = client.get("/health/live")
    assert ready.status_code == 200 and live.status_code == 200, ready.text
    assert ready.headers["strict-transport-security"].startswith("max-age=")


def test_analyze_through_nginx_equals_tritons_own_answer(stack):
    symbol = stored_symbol(stack)
    with stack.client() as client:
        response = client.post("/analyze", json={"symbol": symbol, "prediction_horizon": HORIZON})
    assert response.status_code == 200, response.text
    answer = PredictionResponse.model_validate(response.json())
    direct = stack.compose("run", "--rm", "--no-deps", "-T", "retrain", "python", "-", symbol,
                           stdin=TRITON_ANSWER.read_text(), timeout=300)
    triton = json.loads(direct.stdout.strip().splitlines()[-1])
    mu, sigma = triton["mean"][HORIZON - 1], triton["std"][HORIZON - 1]
    assert str(answer.data_as_of) == triton["date"] and answer.current_price == pytest.approx(triton["close"])
    assert answer.predicted_price == pytest.approx(triton["close"] * math.exp(mu), rel=1e-5)
    assert answer.confidence == pytest.approx(0.5 * (1 + math.erf(abs(mu) / sigma / math.sqrt(2))), abs=1e-5)


def last_bar(stack, symbol: str) -> tuple[str, float]:
    with stack.client() as client:
        last = ForecastPathResponse.model_validate(client.get(f"/forecast/{symbol}", params={"history": 1}).json())
    return str(last.last_date), last.current_price


def next_bar(symbol: str, date: str, price: float) -> dict:
    """The next trading day's bar, 1% up."""
    day = np.busday_offset(np.datetime64(date, "D"), 1, roll="forward")
    close = round(price * 1.01, 2)
    return {"symbol": symbol, "date": str(day), "open": price, "high": round(close * 1.01, 2),
            "low": round(price * 0.99, 2), "close": close, "volume": 10_000}


def log_counts(stack, pattern: re.Pattern) -> dict[str, int]:
    """Per gateway container: the lines of its log (uvicorn's access log) that match."""
    counts = {}
    for cid in stack.containers("gateway"):
        logs = stack.engine.docker("logs", cid)
        counts[cid] = len(pattern.findall(logs.stdout + logs.stderr))
    return counts


async def posted_bars_pushed(stack, symbol: str, attempts: int = 6) -> list[float]:
    """Hold a WebSocket through nginx; post bars through nginx, one after another (nginx takes turns between
    the replicas, so nothing else may come between them), until both replicas have taken one."""
    pushed = []
    date, price = last_bar(stack, symbol)
    context = stack.certificate.client_context()
    async with websockets.connect(stack.url.replace("https://", "wss://") + "/ws/realtime", ssl=context) as ws:
        await ws.send(json.dumps({"symbols": [symbol], "update_frequency": 3600, "include_spectral": False}))
        async with asyncio.timeout(PUSH_TIMEOUT_S):
            WebSocketPrediction.model_validate(json.loads(await ws.recv()))  # the subscription's first answer
        with stack.client(headers={"X-API-Key": stack.env["WIG80_API_KEY"]}) as client:
            for _ in range(attempts):
                bar = next_bar(symbol, date, price)
                posted = client.post("/bars", json={"bars": [bar]})
                assert posted.status_code == 200 and posted.json()["stored"] == 1, posted.text
                async with asyncio.timeout(PUSH_TIMEOUT_S):
                    message = WebSocketPrediction.model_validate(json.loads(await ws.recv()))
                assert message.data.current_price == pytest.approx(bar["close"])
                pushed.append(message.data.current_price)
                date, price = bar["date"], bar["close"]
                if all(count > 0 for count in log_counts(stack, POST_LOG).values()):
                    break
    return pushed


def test_a_bar_posted_through_nginx_reaches_a_websocket_held_by_the_other_replica(stack):
    symbol = stored_symbol(stack)
    pushed = asyncio.run(posted_bars_pushed(stack, symbol))
    sockets = log_counts(stack, WEBSOCKET_LOG)
    posts = log_counts(stack, POST_LOG)
    assert len(posts) == GATEWAY_REPLICAS
    assert sorted(sockets.values()) == [0, 1], f"one replica holds the WebSocket: {sockets}"
    other = next(cid for cid, count in sockets.items() if count == 0)
    assert posts[other] >= 1, f"no bar was posted to the replica without the WebSocket: {posts}"
    assert len(pushed) == sum(posts.values()), "every posted bar was pushed"


def test_only_nginx_is_published_and_no_container_reaches_beyond_the_host(stack):
    published = {}
    for cid in stack.compose("ps", "-q").stdout.split():
        info = json.loads(stack.engine.docker("inspect", cid).stdout)[0]
        bindings = [binding for entries in (info["NetworkSettings"]["Ports"] or {}).values() for binding in entries or []]
        if bindings:
            published[info["Config"]["Labels"]["com.docker.compose.service"]] = bindings
    host, port = stack.url.removeprefix("https://").split(":")
    assert published == {"nginx": [{"HostIp": host, "HostPort": port}]}

    outside = socket.gethostbyname("pypi.org")
    socket.create_connection((outside, 443), timeout=10).close()  # the host itself reaches it
    probe = (f"import socket\ntry:\n    socket.create_connection(({outside!r}, 443), timeout=5)\n"
             "except OSError as error:\n    print('refused', error)\nelse:\n    print('reached')\n")
    for service in ("gateway", "nginx", "triton"):
        result = stack.compose("exec", "-T", "--index=1", service, "python", "-c", probe, timeout=60)
        assert result.stdout.startswith("refused"), f"{service} reached {outside}: {result.stdout}"


@pytest.mark.parametrize("service", ["gateway", "triton"])
def test_the_images_hold_the_sources_alone(stack, service):
    """.dockerignore at work in the built images: no .env, var/, .venv, .git, tests, results or caches."""
    image = json.loads(stack.engine.docker("inspect", stack.containers(service)[0]).stdout)[0]["Config"]["Image"]
    listing = stack.engine.docker("run", "--rm", "--network", "none", "--entrypoint", "ls", image, "-A", "/app").stdout
    allowed = {"pyproject.toml", "README.md", "gateway-requirements.txt", "settings", "processes", "wig80",
               "market_data", "feature_kernels", "training", "export", "serving", "registry", "lifecycle", "gateway",
               "model_repository", "analogues", "wig80_spectral.egg-info"}  # the editable install's metadata, made in the image
    assert set(listing.split()) <= allowed, listing


def test_health_details_and_metrics_stay_inside_and_prometheus_scrapes_every_replica(stack):
    with stack.client() as client:
        for path in ("/health", "/metrics", "/docs"):
            assert client.get(path).status_code == 404, path
    query = ("import json, urllib.request\n"
             "targets = json.load(urllib.request.urlopen('http://127.0.0.1:9090/api/v1/targets'))['data']\n"
             "print(json.dumps([[t['labels']['job'], t['health']] for t in targets['activeTargets']]))\n")
    deadline = time.monotonic() + 120
    while True:
        result = stack.compose("exec", "-T", "prometheus", "python", "-c", query, timeout=60)
        targets = sorted(map(tuple, json.loads(result.stdout)))
        if targets == sorted([("gateway", "up")] * GATEWAY_REPLICAS + [("triton", "up")]):
            break
        assert time.monotonic() < deadline, f"Prometheus's targets: {targets}"
        time.sleep(5)


def test_two_retrainings_in_a_row_find_the_champions_artifacts(stack):
    decisions = []
    for _ in range(2):
        result = stack.compose("run", "--rm", "-T", "retrain", check=False, timeout=1800)
        outcome = re.search(r"^\[retrain\] (promoted|rejected|failed): (.*)$", result.stdout, re.M)
        assert outcome and result.returncode == 0, f"retrain exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        decisions.append(outcome.group(1))
    assert set(decisions) <= {"promoted", "rejected"}, decisions
    with stack.client() as client:
        assert client.get("/health/ready").status_code == 200, "the stack still serves after the retrainings"


@pytest.mark.parametrize("missing", [*SECRETS, "WIG80_TLS_CERT_FILE", "WIG80_TLS_KEY_FILE"])
def test_up_refuses_a_missing_secret_naming_it(stack, missing):
    env = {name: value for name, value in stack.env.items() if name != missing}
    result = stack.compose("up", "-d", "--scale", f"gateway={GATEWAY_REPLICAS}", check=False, env=env, timeout=120)
    assert result.returncode != 0 and missing in result.stderr, result.stderr[-2000:]
