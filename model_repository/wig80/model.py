"""Triton Python-backend model `wig80` (CPU target): raw OHLCV windows -> forecast, in one `execute`.

The same contract as the GPU ensemble (`config.template.pbtxt`: `features` -> `mgdl`), in one hop
instead of three: the `features` model's code (copied into this version as `features_model.py`)
computes the feature rows of every request in one kernel call, and this version's own `model.onnx`
runs once on all of them, so version N always answers with network N. A request the kernels refuse
gets its own error; the rest of the batch is answered.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_model import TritonPythonModel as FeaturesModel  # noqa: E402
from features_model import invalid_argument  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.features = FeaturesModel()
        self.features.initialize(args)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "1"))
        options.inter_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / parameters.get("onnx_file", "model.onnx")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        features, problems = self.features.featurize(requests)
        answered = [f for f in features if f is not None]
        if answered:
            mean, std = self.session.run(["MEAN", "STD"], {"FEATURES": np.concatenate(answered)})
        responses, row = [], 0
        for rows, problem in zip(features, problems, strict=True):
            if problem is not None:
                responses.append(pb_utils.InferenceResponse(error=invalid_argument(problem)))
                continue
            stop = row + len(rows)
            responses.append(self._response(rows, mean[row:stop], std[row:stop]))
            row = stop
        return responses

    def _response(self, rows, mean, std):
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        tensors = {
            "MEAN": mean, "STD": std, "FEATURES": rows, "BAND_SHARES": rows[:, self.features.band_columns],
        }
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(value)) for name, value in tensors.items()]
        )
