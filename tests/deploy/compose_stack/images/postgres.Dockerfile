# PostgreSQL from Debian's package standing in for QuestDB (whose image cannot be had here): the same
# PostgreSQL wire port (8812), database (qdb), user and password (QDB_PG_USER, QDB_PG_PASSWORD) and data
# volume, so docker-compose.yml's URLs and health check work unchanged. The bar store detects which server
# it talks to (market_data/stores/postgres.py).
ARG BASE_IMAGE=wig80-local/python:3.11-bookworm
FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10998 postgres \
    && useradd --system --uid 10998 --gid 10998 --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres \
    && mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/questdb && chown 10998:10998 /var/lib/questdb
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
USER 10998:10998
EXPOSE 8812
HEALTHCHECK NONE
CMD ["sh", "/usr/local/bin/postgres-entrypoint.sh"]
