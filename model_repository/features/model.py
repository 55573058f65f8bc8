"""Triton Python-backend model `features`: raw OHLCV windows -> feature vector and spectral band shares.

`execute` batches: the windows of every request in the batch go through
`feature_kernels.compute_features` in one call, and the rows are split back per request. A request
the kernels refuse (too short a window, NaN/inf, a non-positive price, a negative volume, a price
outside its bar's [low, high]) gets its own error naming the window, row and column; the others in
the batch are answered normally.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from feature_kernels import BAND_SHARE_NAMES, FEATURE_NAMES, MIN_WINDOW, compute_features


def invalid_argument(message):
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    return pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)


def window_problem(windows):
    """Why Triton's shape check let through windows the kernels cannot use, or None.

    Values (NaN/inf, prices <= 0, negative volume, a price outside its bar's [low, high]) are
    checked by compute_features itself, in the batch call; a refused batch is retried per request
    so that the error stays with its request.
    """
    if windows.shape[1] < MIN_WINDOW:
        return f"OHLCV window has {windows.shape[1]} bars; the features need at least {MIN_WINDOW}"
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
        self.kernel_options = {
            "band_edges": tuple(float(edge) for edge in parameters["band_edges"].split(",")),
            # one thread per model instance: on a shared CPU a parallel launch waits for busy cores
            # (measured: 11 ms vs 0.3 ms per batch of 32); scale with instance_group count instead
            "parallel": parameters.get("parallel_kernels", "false") == "true",
        }
        # compile (or load from Numba's cache) before the model reports ready
        compute_features(np.ones((1, MIN_WINDOW, 5), dtype=np.float32), **self.kernel_options)

    def execute(self, requests):
        features, problems = self.featurize(requests)
        return [self._response(f, problem) for f, problem in zip(features, problems, strict=True)]

    def featurize(self, requests):
        """Per request: its feature rows (or None) and the reason it was refused (or None)."""
        windows = [pb_utils.get_input_tensor_by_name(request, "OHLCV").as_numpy() for request in requests]
        problems = [window_problem(w) for w in windows]
        features = [None] * len(requests)
        by_length = {}
        for index, (w, problem) in enumerate(zip(windows, problems, strict=True)):
            if problem is None:
                by_length.setdefault(w.shape[1], []).append(index)
        for indices in by_length.values():  # requests of one window length share one kernel call
            for i, rows in zip(indices, self._featurize([windows[i] for i in indices]), strict=True):
                features[i], problems[i] = (rows, None) if isinstance(rows, np.ndarray) else (None, rows)
        return features, problems

    def _featurize(self, windows):
        """Feature rows per request from one kernel call; if the kernels refuse the batch, per request,
        so that one bad window costs only its own request."""
        stacked = np.concatenate(windows).astype(np.float32, copy=False)
        try:
            rows = compute_features(stacked, **self.kernel_options)
        except ValueError:
            return [self._one(w) for w in windows]
        offsets = np.cumsum([0] + [len(w) for w in windows])
        return [rows[start:stop] for start, stop in zip(offsets[:-1], offsets[1:], strict=True)]

    def _one(self, window):
        try:
            return compute_features(window, **self.kernel_options)
        except ValueError as error:
            return f"OHLCV {error}"

    def _response(self, features, problem):
        if problem is not None:
            return pb_utils.InferenceResponse(error=invalid_argument(problem))
        features = np.ascontiguousarray(features, dtype=np.float32)
        shares = np.ascontiguousarray(features[:, self.band_columns])
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("FEATURES", features),
                pb_utils.Tensor("BAND_SHARES", shares),
                pb_utils.Tensor("MODEL_FEATURES", features),
            ]
        )
