"""An optional serialized TensorRT engine (`model.plan`) for the `tensorrt_plan` platform.

Needs the `tensorrt` Python package and an NVIDIA GPU; without either, `unavailable_reason()` says
which is missing and the exporter refuses `--tensorrt` (the GPU configs are still written). One
optimization profile spans batch 1 .. max_batch_size on the `FEATURES` axis, so every batch the
dynamic batcher forms runs on the same engine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from serving.contract import NETWORK_INPUT

WORKSPACE_BYTES = 1 << 30


class TensorRTUnavailableError(RuntimeError):
    """TensorRT or a CUDA GPU is missing on this machine."""


def unavailable_reason() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not importable here (install NVIDIA's `tensorrt` package on a machine with a GPU)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible (torch.cuda.is_available() is False)"
    return None


def build_engine(
    onnx_path: Path, plan_path: Path, feature_count: int, max_batch_size: int, fp16: bool = True
) -> Path:
    """Parse `onnx_path`, build an engine with the batch profile 1 / max//2 / max, write `plan_path`."""
    reason = unavailable_reason()
    if reason:
        raise TensorRTUnavailableError(reason)
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT >= 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16 and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    optimal = max(1, max_batch_size // 2)
    profile.set_shape(
        NETWORK_INPUT, (1, feature_count), (optimal, feature_count), (max_batch_size, feature_count)
    )
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    plan_path.write_bytes(bytes(engine))
    return plan_path
