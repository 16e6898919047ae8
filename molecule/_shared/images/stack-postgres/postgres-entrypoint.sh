#!/usr/bin/env bash
# Entry point of squaremcp/stack-postgres: the official postgres image's contract for the variables the
# stacks use. An empty PGDATA is initialised with POSTGRES_USER (superuser, default postgres) whose
# password is POSTGRES_PASSWORD or the content of POSTGRES_PASSWORD_FILE (a Compose secret), and
# POSTGRES_DB; connections over TCP need that password (scram-sha-256). Then postgres runs as PID 1.
set -euo pipefail

# file_env VAR [default]: VAR, or the content of the file VAR_FILE names (docker-entrypoint-lib.sh).
# shellcheck source=/dev/null
. /usr/local/lib/docker-entrypoint-lib.sh

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    if [ -z "$POSTGRES_PASSWORD" ]; then
      echo "error: POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required to initialise the database" >&2
      exit 1
    fi
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    as_postgres initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
      as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /run/postgresql" -w start >/dev/null
      as_postgres psql -v ON_ERROR_STOP=1 -h /run/postgresql -U "$POSTGRES_USER" -d postgres -q \
        -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\""
      as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    unset POSTGRES_PASSWORD
    echo "database initialised in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$@" -c listen_addresses='*' \
    -c unix_socket_directories=/run/postgresql
fi
exec "$@"
