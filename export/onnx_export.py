"""The composed forecaster as one self-contained ONNX file, and the proof that it computes what PyTorch does.

The graph maps raw features `FEATURES` float32 (batch, F) to `MEAN` and `STD` float32 (batch, H), with the
batch axis dynamic and the feature scaling folded in (it is part of the module). Weights are stored inside
the file (no external-data sidecar), so the version directory holds one model file.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from serving.contract import NETWORK_INPUT, NETWORK_OUTPUTS

OPSET = 17
PARITY_TOLERANCE = 1e-5


class ParityError(RuntimeError):
    """ONNX Runtime and PyTorch disagree by more than the tolerance: the export is refused."""


def export_onnx(module: torch.nn.Module, feature_count: int, path: Path, opset: int = OPSET) -> Path:
    """Write `module` (eval mode, features (B, F) -> (mean, std)) to `path` and check the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, feature_count, dtype=torch.float32)
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter: the dynamo exporter needs onnxscript, which this project does not ship
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            input_names=[NETWORK_INPUT],
            output_names=list(NETWORK_OUTPUTS),
            dynamic_axes={name: {0: "batch"} for name in (NETWORK_INPUT, *NETWORK_OUTPUTS)},
            opset_version=opset,
            do_constant_folding=True,
        )
    check_onnx_file(path, feature_count)
    return path


def check_onnx_file(path: Path, feature_count: int) -> onnx.ModelProto:
    """onnx.checker plus the interface Triton relies on: names, FP32, dynamic batch, no external data."""
    model = onnx.load(str(path), load_external_data=False)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ValueError(f"{path}: weights stored as external data; the file must be self-contained")
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as error:
        raise ValueError(f"{path}: onnx.checker: {error}") from error
    problems = []
    inputs = {i.name: i for i in model.graph.input}
    if set(inputs) != {NETWORK_INPUT}:
        problems.append(f"inputs {sorted(inputs)} != ['{NETWORK_INPUT}']")
    if tuple(o.name for o in model.graph.output) != NETWORK_OUTPUTS:
        problems.append(f"outputs {[o.name for o in model.graph.output]} != {list(NETWORK_OUTPUTS)}")
    if NETWORK_INPUT in inputs:
        dims = inputs[NETWORK_INPUT].type.tensor_type.shape.dim
        if len(dims) != 2 or not dims[0].dim_param or dims[1].dim_value != feature_count:
            problems.append(f"{NETWORK_INPUT} must be [batch, {feature_count}] with a symbolic batch axis")
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < OPSET:
        problems.append(f"opset {opset} < {OPSET}")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return model


@dataclass
class ParityReport:
    tolerance: float
    batch_sizes: list[int]
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # input kind -> worst over outputs, batches
    worst: dict[str, str] = field(default_factory=dict)  # input kind -> where the worst difference sits

    @property
    def passed(self) -> bool:
        return all(diff <= self.tolerance for diff in self.max_abs_diff.values())

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def cpu_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_parity(
    path: Path,
    module: torch.nn.Module,
    inputs: dict[str, np.ndarray],
    max_batch_size: int,
    tolerance: float = PARITY_TOLERANCE,
) -> ParityReport:
    """ORT vs PyTorch on every batch size 1..max_batch_size of each input set; ParityError beyond tolerance.

    `inputs` maps a kind ("random", "real") to float32 rows (N, F); batch b takes rows [0, b), cycled
    when N < b.
    """
    session = cpu_session(path)
    report = ParityReport(tolerance, list(range(1, max_batch_size + 1)))
    for kind, rows in inputs.items():
        worst, where = 0.0, ""
        for batch in report.batch_sizes:
            x = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])), dtype=np.float32)
            ours = session.run(list(NETWORK_OUTPUTS), {NETWORK_INPUT: x})
            with torch.no_grad():
                theirs = [t.numpy() for t in module(torch.from_numpy(x))]
            for name, a, b in zip(NETWORK_OUTPUTS, ours, theirs, strict=True):
                diff = float(np.max(np.abs(a - b)))
                if not diff <= worst:  # also catches NaN
                    worst, where = diff, f"{name} at batch {batch}"
        report.max_abs_diff[kind], report.worst[kind] = worst, where
    if not report.passed:
        failing = {
            k: f"{v:.3g} ({report.worst[k]})" for k, v in report.max_abs_diff.items() if not v <= tolerance
        }
        raise ParityError(f"{path}: ONNX Runtime differs from PyTorch by more than {tolerance:g}: {failing}")
    return report


def random_rows(real: np.ndarray | None, feature_count: int, n: int, seed: int = 0) -> np.ndarray:
    """Random feature rows spread like the real ones (per-column mean and std), or standard normal."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, feature_count))
    if real is None or len(real) < 2:
        return noise.astype(np.float32)
    finite = np.where(np.isfinite(real), real, np.nan)
    center, spread = np.nanmean(finite, axis=0), np.nanstd(finite, axis=0)
    center, spread = np.nan_to_num(center), np.nan_to_num(spread, nan=1.0)
    return (center + 3.0 * np.maximum(spread, 1e-6) * noise).astype(np.float32)
