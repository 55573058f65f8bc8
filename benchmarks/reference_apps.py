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
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException

from gateway.forecasting.predictions import PredictionPolicy, build_prediction
from gateway.schemas import AnalysisRequest, PredictionResponse

HORIZONS = 30
INDICATORS = ("rsi_14", "volatility_20", "sma_ratio_20", "volume_ratio_20")


def _fixed_prediction(request: AnalysisRequest) -> PredictionResponse:
    dates = np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-01-31"))
    closes = np.linspace(20.0, 21.0, len(dates))
    ohlcv = np.column_stack([closes, closes * 1.01, closes * 0.99, closes, np.full(len(dates), 1e4)])
    return build_prediction(
        symbol=request.symbol, dates=dates, ohlcv=ohlcv, mean=np.full(HORIZONS, 0.001),
        std=np.full(HORIZONS, 0.02), features={"rsi_14": 55.0, "volatility_20": 0.02, "sma_ratio_20": 1.01,
                                                "volume_ratio_20": 1.1},
        band_shares=np.array([0.6, 0.3, 0.1]), horizon=request.prediction_horizon,
        confidence_threshold=request.confidence_threshold, include_spectral=request.include_spectral,
        model_version="reference/v1", policy=PredictionPolicy(),
    )


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

    home, window = Path(os.environ["WIG80_BENCH_HOME"]), int(os.environ["WIG80_BENCH_WINDOW"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.environ["WIG80_BENCH_ONNX"], options, providers=["CPUExecutionProvider"])
    columns = [list(FEATURE_NAMES).index(name) for name in INDICATORS]
    windows: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with open_store(None, home) as store:
            for symbol in await store.list_symbols():
                series = await store.last_bars(symbol, window)
                windows[symbol] = (series.dates, series.ohlcv)
        compute_features(np.ones((1, window, 5), dtype=np.float32))  # compile before the first request
        yield

    app = FastAPI(lifespan=lifespan)
    policy = PredictionPolicy()

    @app.post("/analyze", response_model=PredictionResponse)
    async def analyze(request: AnalysisRequest) -> PredictionResponse:
        if request.symbol not in windows:
            raise HTTPException(404, f"unknown symbol: {request.symbol}")
        dates, ohlcv = windows[request.symbol]
        features = compute_features(ohlcv[np.newaxis].astype(np.float32))
        mean, std = session.run(["MEAN", "STD"], {"FEATURES": features})
        return build_prediction(
            symbol=request.symbol, dates=dates, ohlcv=ohlcv, mean=mean[0], std=std[0],
            features={name: float(features[0, c]) for name, c in zip(INDICATORS, columns, strict=True)},
            band_shares=features[0, -3:], horizon=request.prediction_horizon,
            confidence_threshold=request.confidence_threshold, include_spectral=request.include_spectral,
            model_version="in-process/v1", policy=policy,
        )

    return app
