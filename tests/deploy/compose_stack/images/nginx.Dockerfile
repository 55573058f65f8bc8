# nginx from Debian's package (1.22, the version deploy/nginx/nginx.conf is written for), standing in for
# the nginx:1.22 image: compose mounts the config and the certificate and runs it as user 101.
ARG BASE_IMAGE=wig80-local/python:3.11-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/*
USER 101:101
EXPOSE 8443
HEALTHCHECK NONE
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]
