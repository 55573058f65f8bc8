# The compose test's local base: Debian bookworm (debootstrap --variant=minbase, with Python 3.11, venv and
# CA certificates) imported into the private engine, plus the host's CA certificates (pip and apt reach
# the network through this machine's TLS-inspecting egress) and Debian's no-daemons-at-build-time policy.
# It stands in for python:3.11-slim-bookworm in the project's Dockerfiles (build argument PYTHON_IMAGE) and,
# like it, leaves the user root: every image built on it sets its own non-root USER.
ARG DEBIAN_IMAGE=wig80-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && update-ca-certificates
HEALTHCHECK NONE
CMD ["python"]
