# The gateway image: FastAPI + uvicorn, no torch and no Numba (the gateway only talks to Triton).
# PYTHON_IMAGE selects the base: the official image in production; `make compose-test` builds from a
# local Debian bookworm base with the same Python 3.11.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

COPY deploy/gateway-requirements.txt ./
RUN python -m venv /opt/venv && pip install --no-cache-dir -r gateway-requirements.txt

COPY pyproject.toml README.md ./
COPY settings ./settings
COPY processes ./processes
COPY wig80 ./wig80
COPY market_data ./market_data
COPY gateway ./gateway
COPY registry ./registry
# analogues/: the served version's historical-analogue index and its query (include_rag_context; numpy, faiss)
COPY analogues ./analogues
# serving/contract.py: the Triton model and tensor names the gateway asks for
COPY serving ./serving
# --no-deps: the project's full dependency list includes the training stack (torch), which the
# gateway does not import; gateway-requirements.txt lists what it needs.
RUN pip install --no-cache-dir --no-deps . && rm -rf build ./*.egg-info \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wig80

# a numeric user, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
ENV WIG80_API_HOST=0.0.0.0 WIG80_API_WORKERS=2 WIG80_WORKLOAD=gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health/live').status != 200)"]
# the uvicorn options of gateway.server (WebSocket message size, no implicit proxy trust), workers that die with it
CMD ["python", "-m", "wig80.commands.gateway_worker"]
