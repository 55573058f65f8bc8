#!/bin/sh
# First start: a cluster whose superuser is QuestDB's configured user, with its password (SCRAM), open to
# the compose network, and the database qdb. Then PostgreSQL on QuestDB's wire port 8812.
set -eu
PGDATA=/var/lib/questdb/postgres
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file=$(mktemp)
    printf '%s' "$QDB_PG_PASSWORD" > "$password_file"
    initdb --pgdata="$PGDATA" --username="$QDB_PG_USER" --pwfile="$password_file" --encoding=UTF8 --no-locale \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 > /dev/null
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE qdb" | postgres --single -D "$PGDATA" -c unix_socket_directories=/tmp postgres > /dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=8812 -c unix_socket_directories=/tmp
