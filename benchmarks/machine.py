"""Which kind of machine a benchmark ran on.

Ratios against a reference are stable on one kind of machine, not across CPUs: Numba compiles our
kernels for the host's instruction set, while TA-Lib, PyTorch and ONNX Runtime ship prebuilt code
with their own dispatch. So baselines are kept per machine kind, named by this signature.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

# The instruction-set extensions that change what compiled numeric code runs.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "avx512ifma", "avx512vbmi", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve")


def _cpuinfo(path: Path) -> tuple[str, set[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "cpu model") and value.strip():
                model = value.strip()
            elif key in ("flags", "features"):
                flags.update(value.split())
    return model, flags


def machine_signature(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """{id, cpu, isa, cpus}: `id` is a short hash of the rest, the key of this machine's baseline."""
    model, flags = _cpuinfo(cpuinfo)
    isa = [flag for flag in VECTOR_FLAGS if flag in flags]
    cpus = os.cpu_count() or 1
    digest = hashlib.sha256(f"{model}|{','.join(isa)}|{cpus}".encode()).hexdigest()[:12]
    return {"id": digest, "cpu": model, "isa": isa, "cpus": cpus}
