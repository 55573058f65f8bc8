"""The two references `benchmarks.gateway_bench` measures the gateway against, as uvicorn factories.

- `echo_app`: bare FastAPI + pydantic. POST /analyze validates the request and answers a response
  body of the same shape and size as the gateway's (the cost of the framework alone).
- `in_process_app`: the peer to beat. One FastAPI process with every symbol's window held in memory
  runs `compute_features` and the exported ONNX session on each request, then builds the gateway's
  own response (`gateway.forecasting.predictions.build_prediction`). Configured by WIG80_BENCH_HOME (the embedded
  store to load windows from), WIG80_BENCH_ONNX (the model) and WIG80_BENCH_WINDOW (bars per window).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException

from gateway.forecasting.predictions import (
    INDICATOR_FEATURES,
    PredictionPolicy,
    build_prediction,
    window_facts,
)
from gateway.schemas import AnalysisRequest, PredictionResponse
from market_data.bars import BarSeries

HORIZONS = 30


@dataclass(frozen=True)
class Distribution:
    mean: np.ndarray
    std: np.ndarray
    model_version: str


def _fixed_prediction(request: AnalysisRequest) -> PredictionResponse:
    dates = np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-01-31"))
    closes = np.linspace(20.0, 21.0, len(dates))
    ohlcv = np.column_stack([closes, closes * 1.01, closes * 0.99, closes, np.full(len(dates), 1e4)])
    names = tuple(INDICATOR_FEATURES.values())
    facts = window_facts(BarSeries(request.symbol, dates, ohlcv), np.array([55.0, 0.02, 1.01, 1.1]), names,
                         np.array([0.6, 0.3, 0.1]))
    forecast = Distribution(np.full(HORIZONS, 0.001), np.full(HORIZONS, 0.02), "reference/v1")
    return build_prediction(forecast, facts, request, PredictionPolicy(), None)


def echo_app() -> FastAPI:
    app = FastAPI()
    template = _fixed_prediction(AnalysisRequest(symbol="ABE"))

    @app.post("/analyze", response_model=PredictionResponse)
    async def analyze(request: AnalysisRequest) -> PredictionResponse:
        return template.model_copy(update={"symbol": request.symbol, "timestamp": dt.datetime.now(dt.UTC)})

    return app


def in_process_app() -> FastAPI:
    import onnxruntime as ort

    from feature_kernels import FEATURE_NAMES, compute_features
    from market_data.stores import open_store
    from serving.contract import NETWORK_INPUT, NETWORK_OUTPUTS

    home, window = Path(os.environ["WIG80_BENCH_HOME"]), int(os.environ["WIG80_BENCH_WINDOW"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.environ["WIG80_BENCH_ONNX"], options, providers=["CPUExecutionProvider"])
    windows: dict[str, BarSeries] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with open_store(None, home) as store:
            for symbol in await store.list_symbols():
                windows[symbol] = await store.last_bars(symbol, window)
        compute_features(np.ones((1, window, 5), dtype=np.float32))  # compile before the first request
        yield

    app = FastAPI(lifespan=lifespan)
    policy = PredictionPolicy()

    @app.post("/analyze", response_model=PredictionResponse)
    async def analyze(request: AnalysisRequest) -> PredictionResponse:
        if request.symbol not in windows:
            raise HTTPException(404, f"unknown symbol: {request.symbol}")
        series = windows[request.symbol]
        features = compute_features(series.ohlcv[np.newaxis].astype(np.float32))
        mean, std = session.run(list(NETWORK_OUTPUTS), {NETWORK_INPUT: features})
        facts = window_facts(series, features[0], FEATURE_NAMES, features[0, -3:])
        return build_prediction(Distribution(mean[0], std[0], "in-process/v1"), facts, request, policy, None)

    return app
