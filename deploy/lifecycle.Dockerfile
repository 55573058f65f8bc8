# `wig80 retrain` (and `wig80 train`, `export`, `rollback`): the training stack, writing new versions into
# the shared model repository (/models) and loading them into Triton through its model-control API (with
# the admin key). Its home (runs, the champion's artifacts) is /var/lib/wig80: a volume that outlives a run.
# The CPU compose stack (deploy/compose.cpu.yml) also runs the embedded Triton from this image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# torch is the CPU build (the job trains on CPU), from TORCH_INDEX_URL: PyTorch's CPU index in production,
# this machine's local wheel for `make compose-test` (served over HTTPS on the build bridge). Never from
# PyPI, whose torch is the multi-GB CUDA build.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
# the project's dependencies (pyproject.toml's list; torch is already there), before the sources, so a
# change of the code (or of README.md) does not reinstall them
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY README.md ./
COPY settings ./settings
COPY processes ./processes
COPY wig80 ./wig80
COPY market_data ./market_data
COPY feature_kernels ./feature_kernels
COPY training ./training
COPY export ./export
COPY serving ./serving
COPY registry ./registry
COPY analogues ./analogues
COPY lifecycle ./lifecycle
COPY gateway ./gateway
COPY model_repository ./model_repository
# editable: `wig80 export` renders the Triton configs from model_repository/ beside the packages
RUN pip install --no-cache-dir --no-deps --editable . \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wig80 \
    && mkdir -p /var/lib/wig80 /models && chown 10001:10001 /var/lib/wig80 /models

USER 10001:10001
# numba and matplotlib cache under /tmp: the root filesystem is read-only in compose and Kubernetes
ENV WIG80_HOME=/var/lib/wig80 WIG80_MODEL_REPOSITORY=/models WIG80_WORKLOAD=lifecycle \
    NUMBA_CACHE_DIR=/tmp/numba-cache MPLCONFIGDIR=/tmp/matplotlib
# a one-shot job: nothing listens, so there is no health to check
HEALTHCHECK NONE
CMD ["wig80", "retrain"]
