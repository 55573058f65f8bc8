"""The gateway's one connection to Triton: the async gRPC client, one channel reused for every request.

Every failure becomes `TritonUnavailable` (-> 503) or `TritonRejected` (the server refused the input,
-> 400), each with Triton's reason, so no route ever answers a bare 500 because of Triton.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from gateway import metrics
from serving.contract import (
    BAND_SHARES,
    ENSEMBLE_MODEL,
    ENSEMBLE_OUTPUTS,
    FEATURES,
    FEATURES_MODEL,
    FEATURES_OUTPUTS,
    OHLCV,
)

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0
_REJECTION_STATUSES = ("INVALID_ARGUMENT", "OUT_OF_RANGE", "FAILED_PRECONDITION")


class TritonUnavailable(Exception):
    """Triton is down, not ready, or failed the request for a reason that is not the input's fault."""


class TritonRejected(Exception):
    """Triton refused the input itself (wrong shape, too short a window)."""


@dataclass(frozen=True)
class ModelInfo:
    window: int
    min_window: int
    max_batch_size: int
    feature_names: tuple[str, ...]
    band_edges: tuple[float, ...]
    model_version: str  # the label: "<run>/v<version>"
    version: str = ""  # the Triton version the label names; every inference asks for exactly this one


@dataclass(frozen=True)
class Forecast:
    mean: np.ndarray  # (B, 30) forward log return per horizon
    std: np.ndarray  # (B, 30)
    features: np.ndarray  # (B, F)
    band_shares: np.ndarray  # (B, 3)
    info: ModelInfo | None = None  # the model version that computed it: label an answer with this one


FORECAST_ARRAYS = ("mean", "std", "features", "band_shares")  # the Forecast fields of ENSEMBLE_OUTPUTS, in order


def _parameter(config: dict, name: str) -> str | None:
    value = config.get("parameters", {}).get(name)
    return None if value is None else value.get("string_value")


def _floats(text: str | None) -> tuple[float, ...]:
    return tuple(float(part) for part in (text or "").split(",") if part.strip())


class TritonClient:
    """Triton over gRPC (`target` is `host:port`); holds no state of the served model (the ModelWatcher does)."""

    def __init__(self, target: str, default_window: int, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.target = target
        self.default_window = default_window
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url=target)

    async def close(self) -> None:
        await self._client.close()

    async def model_ready(self) -> bool:
        try:
            return bool(await self._client.is_model_ready(ENSEMBLE_MODEL, client_timeout=2.0))
        except InferenceServerException:
            return False

    async def model_info(self) -> ModelInfo:
        """The served model's window, batch limit, feature names and version, read from its configs now."""
        ensemble = await self._call(self._client.get_model_config, ENSEMBLE_MODEL, as_json=True)
        features = await self._call(self._client.get_model_config, FEATURES_MODEL, as_json=True)
        return _model_info(ensemble["config"], features["config"], self.default_window)

    async def forecast(self, windows: np.ndarray, info: ModelInfo) -> Forecast:
        """Predictions for windows (B, W, 5), sent in requests of at most max_batch_size windows, all to the
        one version `info` names; the Forecast carries that info, so its label cannot lie. When that version
        was unloaded meanwhile (a promotion or rollback), the configs are read again and the windows go to
        the version now served, once."""
        try:
            return await self._forecast_with(info, windows)
        except TritonUnavailable:
            fresh = await self.model_info()
            if fresh.version == info.version:
                raise
            return await self._forecast_with(fresh, windows)

    async def _forecast_with(self, info: ModelInfo, windows: np.ndarray) -> Forecast:
        step = max(info.max_batch_size, 1)
        parts = [await self._forecast_batch(windows[i : i + step], info.version) for i in range(0, len(windows), step)]
        arrays = (np.concatenate([getattr(p, name) for p in parts]) for name in FORECAST_ARRAYS)
        return Forecast(*arrays, info=info)

    async def features(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The feature vector (F,) and band shares (3,) of one window (n, 5) of any length the model accepts."""
        inputs = [_input(OHLCV, window[np.newaxis])]
        outputs = [grpcclient.InferRequestedOutput(name) for name in FEATURES_OUTPUTS]
        result = await self._call(self._client.infer, FEATURES_MODEL, inputs, outputs=outputs)
        return result.as_numpy(FEATURES)[0], result.as_numpy(BAND_SHARES)[0]

    async def _forecast_batch(self, windows: np.ndarray, version: str) -> Forecast:
        outputs = [grpcclient.InferRequestedOutput(name) for name in ENSEMBLE_OUTPUTS]
        result = await self._call(self._client.infer, ENSEMBLE_MODEL, [_input(OHLCV, windows)], outputs=outputs,
                                  model_version=version)
        return Forecast(*(result.as_numpy(name) for name in ENSEMBLE_OUTPUTS))

    async def _call(self, method, *args, **kwargs):
        try:
            return await method(*args, client_timeout=self.timeout_s, **kwargs)
        except InferenceServerException as error:
            metrics.TRITON_ERRORS.inc()
            reason = f"Triton at {self.target}: {error.message()}"
            if any(status in str(error.status()) for status in _REJECTION_STATUSES):
                raise TritonRejected(reason) from error
            raise TritonUnavailable(reason) from error


def _input(name: str, array: np.ndarray) -> grpcclient.InferInput:
    array = np.ascontiguousarray(array, dtype=np.float32)
    tensor = grpcclient.InferInput(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array)
    return tensor


def _model_info(ensemble: dict, features: dict, default_window: int) -> ModelInfo:
    ohlcv = next(i for i in ensemble.get("input", []) if i["name"] == OHLCV)
    names = tuple(n.strip() for n in (_parameter(features, "feature_names") or "").split(",") if n.strip())
    if not names:
        raise TritonUnavailable("the `features` model config has no `feature_names` parameter")
    run, version = _parameter(ensemble, "run"), _parameter(ensemble, "model_version")
    model_version = "/".join(filter(None, (run, f"v{version}" if version else None))) or "unknown"
    return ModelInfo(
        window=int(ohlcv["dims"][0]) if int(ohlcv["dims"][0]) > 0 else default_window,
        min_window=int(_parameter(features, "min_window") or 1),
        max_batch_size=int(ensemble.get("max_batch_size", 1)),
        feature_names=names,
        band_edges=_floats(_parameter(features, "band_edges")),
        model_version=model_version,
        version=version or "",
    )
