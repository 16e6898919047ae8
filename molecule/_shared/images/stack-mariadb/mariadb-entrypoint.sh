#!/usr/bin/env bash
# Entry point of squaremcp/stack-mariadb: the official mariadb image's contract for the variables the
# stacks use. An empty /var/lib/mysql is initialised with root@'%' and root@localhost protected by
# MARIADB_ROOT_PASSWORD(_FILE), MARIADB_DATABASE, and MARIADB_USER with MARIADB_PASSWORD(_FILE) and all
# rights on that database. Then mariadbd runs as PID 1, listening on every address.
set -euo pipefail

# file_env VAR [default]: VAR, or the content of the file VAR_FILE names (docker-entrypoint-lib.sh).
# shellcheck source=/dev/null
. /usr/local/lib/docker-entrypoint-lib.sh

sql_string() {  # a value as a SQL string literal
  local value=${1//\\/\\\\}
  printf "'%s'" "${value//\'/\'\'}"
}

if [ "${1:-}" = mariadbd ] && [ "$(id -u)" = 0 ]; then
  mkdir -p /var/lib/mysql /run/mysqld
  chown mysql:mysql /var/lib/mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    file_env MARIADB_ROOT_PASSWORD
    file_env MARIADB_DATABASE
    file_env MARIADB_USER
    file_env MARIADB_PASSWORD
    if [ -z "$MARIADB_ROOT_PASSWORD" ]; then
      echo "error: MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_FILE is required to initialise the database" >&2
      exit 1
    fi
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
      --skip-test-db >/dev/null
    socket=/run/mysqld/init.sock
    mariadbd --user=mysql --skip-networking --socket="$socket" &
    pid=$!
    for _ in $(seq 60); do mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1 && break; sleep 0.5; done
    root=$(sql_string "$MARIADB_ROOT_PASSWORD")
    {
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root;"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY $root; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      if [ -n "$MARIADB_DATABASE" ]; then
        echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
      fi
      if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
        echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
        if [ -n "$MARIADB_DATABASE" ]; then
          echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
        fi
      fi
      echo "FLUSH PRIVILEGES;"
    } | mariadb --socket="$socket" -uroot
    kill "$pid"
    wait "$pid" || true
    unset MARIADB_ROOT_PASSWORD MARIADB_PASSWORD
    echo "database initialised (database ${MARIADB_DATABASE:-none}, user ${MARIADB_USER:-none})"
  fi
  exec mariadbd --user=mysql --bind-address=0.0.0.0 "${@:2}"
fi
exec "$@"
