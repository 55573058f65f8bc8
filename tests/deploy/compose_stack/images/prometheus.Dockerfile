# Prometheus from Debian's package, standing in for the prom/prometheus image: the same config path,
# storage path and user (nobody).
ARG BASE_IMAGE=wig80-local/python:3.11-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus && chown 65534:65534 /prometheus
USER 65534:65534
EXPOSE 9090
HEALTHCHECK NONE
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=0.0.0.0:9090"]
