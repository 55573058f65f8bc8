"""Load test of the gateway (REST, WebSocket) and of Triton's `wig80` ensemble over gRPC.

Run headless through `make loadtest`, or by hand:
    locust -f benchmarks/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8080 \
        --csv benchmarks/results/load --html benchmarks/results/load.html
The budgets of `benchmarks/budgets.toml` are checked when Locust quits: any missed budget is
printed and makes the exit code 1. Name user classes after the options to run only those;
Triton's gRPC address comes from `TRITON_GRPC` (default 127.0.0.1:8001).
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.request

# grpcio blocks gevent's loop unless told to cooperate; this must run before any channel exists.
from grpc.experimental import gevent as grpc_gevent

grpc_gevent.init_gevent()

import gevent  # noqa: E402
import numpy as np  # noqa: E402
import websocket  # noqa: E402  (websocket-client: a synchronous client that gevent makes cooperative)
from locust import FastHttpUser, User, between, events, task  # noqa: E402

from benchmarks.budgets import EndpointStats, missed_budgets  # noqa: E402

API_KEY = os.environ.get("WIG80_API_KEY", "")
# "heavy": every user at four times the pace, judged by that scenario's budgets (benchmarks/budgets.toml)
SCENARIO = os.environ.get("WIG80_LOAD_SCENARIO") or None
PACE = {None: 1.0, "heavy": 4.0}[SCENARIO]
TRITON_GRPC = os.environ.get("TRITON_GRPC", "127.0.0.1:8001")
HORIZONS = (1, 5, 10, 20, 30)
CACHED_BODIES = 64  # distinct /analyze bodies, asked once before the users start, then only cache hits
WORKLOAD: dict[str, list] = {"symbols": [], "cached_bodies": []}


@events.quitting.add_listener
def check_budgets(environment, **_kwargs):
    rows = [EndpointStats(entry.name, entry.num_requests, entry.num_failures,
                          entry.get_response_time_percentile(0.95), entry.get_response_time_percentile(0.99))
            for entry in environment.stats.entries.values()]
    # a run of chosen user classes measures only their request types
    missed = missed_budgets(rows, every_type=not getattr(environment.parsed_options, "user_classes", None),
                            scenario=SCENARIO)
    for line in missed:
        print(f"BUDGET MISSED  {line}")
    if missed:
        environment.process_exit_code = 1
    else:
        print("all latency budgets met")


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **api_headers()})
    urllib.request.urlopen(request, timeout=30).close()


def api_headers() -> dict[str, str]:
    return {"X-API-Key": API_KEY} if API_KEY else {}


def analyze_body(symbols: list[str], threshold: float) -> dict:
    return {"symbol": random.choice(symbols), "timeframe": "1d", "prediction_horizon": random.choice(HORIZONS),
            "include_spectral": True, "include_rag_context": False, "confidence_threshold": round(threshold, 6)}


@events.test_start.add_listener
def prepare_workload(environment, **_kwargs):
    """Once, before any user starts (outside the statistics): the symbols with bars, and the cache
    filled for the bodies that "[cached]" requests will ask, so those count only hits."""
    base = environment.host.rstrip("/")
    with urllib.request.urlopen(f"{base}/symbols", timeout=30) as response:
        rows = json.loads(response.read())["symbols"]
    WORKLOAD["symbols"] = [row["symbol"] for row in rows if row["data_available"]] or ["ABE"]
    WORKLOAD["cached_bodies"] = [analyze_body(WORKLOAD["symbols"], random.random() * 0.5)
                                 for _ in range(CACHED_BODIES)]
    for body in WORKLOAD["cached_bodies"]:
        _post_json(f"{base}/analyze", body)


class GatewayRestUser(FastHttpUser):
    """A quant's client: mostly cached lookups, some fresh questions, batches and spectra."""

    weight = 7
    wait_time = between(0.5 / PACE, 1.5 / PACE)  # a person's or a dashboard's pace: about one request a second

    def on_start(self):
        self.headers = api_headers()
        self.symbols = WORKLOAD["symbols"]

    @task(6)
    def analyze_cached(self):
        self.client.post("/analyze", json=random.choice(WORKLOAD["cached_bodies"]), headers=self.headers,
                         name="POST /analyze [cached]")

    @task(3)
    def analyze_uncached(self):
        # a threshold never asked before. Since the gateway keeps one forecast per bar and applies the
        # threshold after it, this is answered from that forecast too (the name stays for the budgets'
        # history); a new forecast is made only when a bar or a model arrives
        body = analyze_body(self.symbols, random.random())
        self.client.post("/analyze", json=body, headers=self.headers, name="POST /analyze [uncached]")

    @task(1)
    def batch_analyze(self):
        body = {"symbols": random.sample(self.symbols, min(8, len(self.symbols))), "timeframe": "1d",
                "prediction_horizon": random.choice(HORIZONS)}
        self.client.post("/batch_analyze", json=body, headers=self.headers, name="POST /batch_analyze")

    @task(1)
    def spectrum(self):
        self.client.get(f"/spectrum/{random.choice(self.symbols)}?days=252", headers=self.headers,
                        name="GET /spectrum")


class WebSocketSubscriber(User):
    """A dashboard: subscribes to a few symbols and waits for the first pushed prediction."""

    weight = 1
    wait_time = between(0.5 / PACE, 1.0 / PACE)

    def on_start(self):
        self.ws_url = self.host.rstrip("/").replace("http", "ws", 1) + "/ws/realtime"
        self.symbols = WORKLOAD["symbols"][:3]

    @task
    def first_push(self):
        started = time.perf_counter()
        exception = None
        connection = None
        try:
            connection = websocket.create_connection(self.ws_url, timeout=5)
            connection.send(json.dumps({"symbols": self.symbols, "update_frequency": 1, "include_spectral": False}))
            while True:
                message = json.loads(connection.recv())
                if message.get("type") == "prediction":
                    break
                if message.get("type") == "error":
                    raise RuntimeError(message)
        except Exception as error:  # every failure is recorded, never raised into Locust's loop
            exception = error
        finally:
            if connection is not None:
                connection.close()
        self.environment.events.request.fire(
            request_type="WS", name="WS prediction push", response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=exception, context={})


class TritonGrpcUser(User):
    """A client that skips the gateway: raw windows straight to the `wig80` ensemble."""

    weight = 2
    wait_time = between(0.5 / PACE, 1.5 / PACE)
    window = 256

    def on_start(self):
        import tritonclient.grpc as grpcclient

        self.grpcclient = grpcclient
        self.client = grpcclient.InferenceServerClient(TRITON_GRPC)
        rng = np.random.default_rng(7)
        steps = rng.standard_t(4, size=(16, self.window)) * 0.015
        close = 20.0 * np.exp(np.cumsum(steps, axis=1))
        high, low = close * 1.01, close * 0.99
        volume = rng.lognormal(9, 1, size=close.shape)
        self.windows = np.stack([close, high, low, close, volume], axis=-1).astype(np.float32)

    def on_stop(self):
        # grpcio under gevent can block in close() if a call was cut short; never let it hang the stop
        with gevent.Timeout(5, False):
            self.client.close()

    @task
    def infer(self):
        window = self.windows[random.randrange(len(self.windows))][None]
        infer_input = self.grpcclient.InferInput("OHLCV", list(window.shape), "FP32")
        infer_input.set_data_from_numpy(window)
        outputs = [self.grpcclient.InferRequestedOutput(name) for name in ("MEAN", "STD")]
        started = time.perf_counter()
        exception = None
        try:
            self.client.infer("wig80", [infer_input], outputs=outputs, client_timeout=10)
        except Exception as error:
            exception = error
        self.environment.events.request.fire(
            request_type="gRPC", name="gRPC wig80", response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=exception, context={})
