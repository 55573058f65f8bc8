# Triton from NVIDIA's NGC image, plus what the `features` Python-backend model imports
# (Numba kernels from this project). `mgdl` runs on the native onnxruntime backend with TensorRT.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}

RUN pip install --no-cache-dir "numpy>=1.26,<2" "numba>=0.60" "rocket-fft>=0.2.5"
COPY feature_kernels /opt/wig80/feature_kernels
ENV PYTHONPATH=/opt/wig80
