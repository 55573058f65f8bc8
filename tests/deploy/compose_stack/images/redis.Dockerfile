# Redis from Debian's package, standing in for the redis:7.4-alpine image (compose runs it as user 10999,
# with the same command line and health check).
ARG BASE_IMAGE=wig80-local/python:3.11-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp
USER 10999:10999
EXPOSE 6379
HEALTHCHECK NONE
CMD ["redis-server"]
