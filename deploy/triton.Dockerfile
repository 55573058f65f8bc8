# Triton from NVIDIA's NGC image, plus what the `features` Python-backend model imports (Numba kernels
# from this project). `mgdl` runs on the native onnxruntime backend with TensorRT.
# 25.07 or later: the advisories CVE-2025-23310/23311/23319/23320/23334 (a crash from one chunked HTTP
# request, a shared-memory chain to code execution) affect every Triton up to 25.06.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:25.07-py3
FROM ${TRITON_IMAGE}

# NGC 25.x is Ubuntu 24.04 with Python 3.12, whose system pip refuses installs without this
ENV PIP_NO_CACHE_DIR=1 PIP_BREAK_SYSTEM_PACKAGES=1
# the versions the test suite runs the kernels with
RUN pip install --no-cache-dir "numpy==1.26.4" "numba==0.68.1" "rocket-fft==0.3.3"
COPY feature_kernels /opt/wig80/feature_kernels
# numba caches its compiled kernels under /tmp: the root filesystem is read-only in compose and Kubernetes
ENV PYTHONPATH=/opt/wig80 NUMBA_CACHE_DIR=/tmp/numba-cache
# the image's own non-root user, triton-server (uid 1000)
USER 1000:1000
HEALTHCHECK --interval=10s --timeout=5s --retries=30 --start-period=60s \
  CMD ["curl", "-fsS", "http://localhost:8000/v2/health/ready"]
