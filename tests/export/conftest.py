"""Parse Triton configs into NVIDIA's own ModelConfig protobuf: the check Triton itself applies first."""

from __future__ import annotations

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2


def parse_model_config(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())
