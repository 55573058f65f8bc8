"""Triton Python-backend model `mgdl` (CPU target): the exported ONNX network run in ONNX Runtime.

`execute` batches: every request's feature rows are concatenated, the session runs once, and the
MEAN/STD rows are split back per request. NaN features need no check here: the exported network maps
a NaN feature to the training mean and clips the scaled features, as it did in training.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        path = (
            Path(args["model_repository"]) / args["model_version"] / parameters.get("onnx_file", "model.onnx")
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "1"))
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(request, "FEATURES").as_numpy() for request in requests]
        stacked = np.concatenate(inputs).astype(np.float32, copy=False)
        mean, std = self.session.run(["MEAN", "STD"], {"FEATURES": stacked})
        offsets = np.cumsum([0] + [len(x) for x in inputs])
        return [
            pb_utils.InferenceResponse(
                output_tensors=[
                    pb_utils.Tensor("MEAN", np.ascontiguousarray(mean[start:stop])),
                    pb_utils.Tensor("STD", np.ascontiguousarray(std[start:stop])),
                ]
            )
            for start, stop in zip(offsets[:-1], offsets[1:], strict=True)
        ]
