"""Triton Python-backend model `features`: raw OHLCV windows -> feature vector and spectral band shares.

`execute` batches: the windows of every valid request in the batch go through
`feature_kernels.compute_features` in one call, and the rows are split back per request. A request
that fails validation (too short a window, NaN/inf, non-positive price, negative volume) gets its own
error; the others in the batch are answered normally.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from feature_kernels import BAND_SHARE_NAMES, FEATURE_NAMES, MIN_WINDOW, compute_features

COLUMNS = ("open", "high", "low", "close", "volume")


def invalid_argument(message):
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    return pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)


def window_problem(windows):
    """Why these windows (b, W, 5) cannot be featurized, or None."""
    if windows.ndim != 3 or windows.shape[2] != len(COLUMNS):
        return f"OHLCV must have shape [batch, W, 5], got {list(windows.shape)}"
    if windows.shape[1] < MIN_WINDOW:
        return f"OHLCV window has {windows.shape[1]} bars; the features need at least {MIN_WINDOW}"
    bad = ~np.isfinite(windows)
    if bad.any():
        row, bar, column = (int(i) for i in np.argwhere(bad)[0])
        return f"OHLCV contains NaN/inf: batch row {row}, bar {bar}, column '{COLUMNS[column]}'"
    prices, volumes = windows[:, :, :4], windows[:, :, 4]
    if (prices <= 0).any():
        row, bar, column = (int(i) for i in np.argwhere(prices <= 0)[0])
        return f"OHLCV has a non-positive price: batch row {row}, bar {bar}, column '{COLUMNS[column]}'"
    if (volumes < 0).any():
        row, bar = (int(i) for i in np.argwhere(volumes < 0)[0])
        return f"OHLCV has a negative volume: batch row {row}, bar {bar}"
    return None


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        served_names = tuple(parameters.get("feature_names", "").split(","))
        if served_names != tuple(FEATURE_NAMES):
            raise pb_utils.TritonModelException(
                "features config lists feature_names that differ from feature_kernels.FEATURE_NAMES; "
                "re-export the repository with this version of feature_kernels"
            )
        self.band_columns = [FEATURE_NAMES.index(name) for name in BAND_SHARE_NAMES]
        # compile (or load from Numba's cache) before the model reports ready
        compute_features(np.ones((1, MIN_WINDOW, 5), dtype=np.float32))

    def execute(self, requests):
        windows = [pb_utils.get_input_tensor_by_name(request, "OHLCV").as_numpy() for request in requests]
        problems = [window_problem(w) for w in windows]
        features = [None] * len(requests)
        by_length = {}
        for index, (w, problem) in enumerate(zip(windows, problems, strict=True)):
            if problem is None:
                by_length.setdefault(w.shape[1], []).append(index)
        for indices in by_length.values():  # requests of one window length share one kernel call
            stacked = np.concatenate([windows[i] for i in indices]).astype(np.float32, copy=False)
            rows = compute_features(stacked)
            offsets = np.cumsum([0] + [len(windows[i]) for i in indices])
            for i, start, stop in zip(indices, offsets[:-1], offsets[1:], strict=True):
                features[i] = rows[start:stop]
        return [self._response(f, problem) for f, problem in zip(features, problems, strict=True)]

    def _response(self, features, problem):
        if problem is not None:
            return pb_utils.InferenceResponse(error=invalid_argument(problem))
        features = np.ascontiguousarray(features, dtype=np.float32)
        shares = np.ascontiguousarray(features[:, self.band_columns])
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("FEATURES", features), pb_utils.Tensor("BAND_SHARES", shares)]
        )
