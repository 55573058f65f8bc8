"""Prometheus metrics of the gateway (one set per process; scrape every worker, or run one per pod)."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class ScoredAccuracy(Collector):
    """`model_accuracy`: a gauge with no sample until the first prediction is scored, so that an
    unknown accuracy reads as absent, never as 0 % (the HELP and TYPE lines are always there)."""

    name = "model_accuracy"
    documentation = "Realised directional accuracy of past non-neutral predictions whose outcome bars have arrived"

    def __init__(self) -> None:
        self._value: float | None = None

    def set(self, value: float) -> None:
        self._value = value

    def collect(self) -> list[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation)
        if self._value is not None:
            family.add_metric([], self._value)
        return [family]


PREDICTIONS_TOTAL = Counter(
    "predictions_total", "Predictions answered, by endpoint and source", ["endpoint", "source"]
)
PREDICTION_DURATION = Histogram(
    "prediction_duration_seconds",
    "Time to answer one prediction request (store read, cache, Triton, response)",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBSOCKET_CONNECTIONS = Gauge("websocket_connections", "Open WebSocket connections on this process")
MODEL_ACCURACY = ScoredAccuracy()
REGISTRY.register(MODEL_ACCURACY)
PREDICTIONS_EVALUATED = Counter("predictions_evaluated_total", "Past predictions scored against their outcome")
CACHE_HITS = Counter("cache_hits_total", "Responses served from the cache")
CACHE_MISSES = Counter("cache_misses_total", "Responses computed because the cache had none")
CACHE_ERRORS = Counter("cache_errors_total", "Cache operations that failed (Redis down); served uncached")
RATE_LIMITED = Counter("rate_limited_requests_total", "Requests refused with 429", ["scope"])
RATE_LIMITER_ERRORS = Counter("rate_limiter_errors_total", "Limiter checks that failed (Redis down); let through")
TRITON_ERRORS = Counter("triton_errors_total", "Failed calls to Triton")
WEBSOCKET_DROPPED = Counter("websocket_dropped_messages_total", "Updates dropped from full per-connection queues")
BARS_RECEIVED = Counter("bars_received_total", "Bars accepted by POST /bars", ["outcome"])
REQUESTS_TOO_LARGE = Counter("requests_too_large_total", "Requests refused with 413 (body over the limit)")
WEBSOCKET_REFUSED = Counter("websocket_refused_connections_total", "WebSocket connects refused", ["reason"])
WEBSOCKET_PUSH_ERRORS = Counter("websocket_push_errors_total", "Push-loop iterations that failed and were reported")
BAR_EVENT_ERRORS = Counter("bar_event_errors_total", "Bar announcements that could not be read or handled", ["reason"])
