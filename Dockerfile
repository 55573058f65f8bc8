# The gateway image: FastAPI + uvicorn, no torch and no Numba (the gateway only talks to Triton).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY deploy/gateway-requirements.txt ./
RUN pip install -r gateway-requirements.txt

COPY pyproject.toml README.md ./
COPY settings ./settings
COPY processes ./processes
COPY wig80 ./wig80
COPY market_data ./market_data
COPY gateway ./gateway
COPY registry ./registry
# serving/contract.py: the Triton model and tensor names the gateway asks for
COPY serving ./serving
# --no-deps: the project's full dependency list includes the training stack (torch), which the
# gateway does not import; gateway-requirements.txt lists what it needs.
RUN pip install --no-deps . && useradd --create-home wig80
USER wig80

ENV WIG80_API_HOST=0.0.0.0 WIG80_API_WORKERS=2
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health/live').status != 200)"
# the uvicorn options of gateway.server (WebSocket message size, no implicit proxy trust), workers that die with it
CMD ["python", "-m", "wig80.commands.gateway_worker"]
