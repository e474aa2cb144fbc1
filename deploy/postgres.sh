#!/usr/bin/env bash
# A PostgreSQL for the Dagster instance and MLflow (development and CI): uses the server on 127.0.0.1:$PGPORT
# (default 5432) when it answers; otherwise installs Debian's package, starts a cluster on that port listening on
# 127.0.0.1 only (trust for this machine's local connections: a development server, see deploy/README.md for
# production) and creates a superuser role for the current OS user. Then creates DATABASE (default healthcare_assets)
# and DATABASE_mlflow if missing, and prints the line to export:
#
#   eval "$(bash deploy/postgres.sh)"   # HEALTHCARE_ASSETS_POSTGRES_URL=postgresql+psycopg2://USER@127.0.0.1:5432/healthcare_assets
#   bash deploy/postgres.sh --check        # exit 0 if a server answers, 1 if not; installs nothing
#
# Progress goes to stderr; only the export line goes to stdout.
source "$(dirname "$0")/env.sh"

HOST=127.0.0.1
PORT="${PGPORT:-5432}"
ROLE="${PGUSER:-$(id -un)}"
CHECK_ONLY=0
DATABASE=healthcare_assets
for arg in "$@"; do
  case "$arg" in
    --check) CHECK_ONLY=1 ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "error: unknown option $arg (try --help)" >&2
      exit 2
      ;;
    *) DATABASE="$arg" ;;
  esac
done
if ! [[ "$DATABASE" =~ ^[a-z_][a-z0-9_]{0,40}$ ]]; then
  echo "error: database name must be lower-case letters, digits and _ (got '$DATABASE')" >&2
  exit 2
fi
SERVER_URL="postgresql://$ROLE@$HOST:$PORT/postgres"
say() { echo "postgres.sh: $*" >&2; }

answers() { # a connection as $ROLE works (psycopg2 from the project's environment, so psql is not needed)
  "$VENV/bin/python" - "$SERVER_URL" <<'PY' 2>/dev/null
import sys
import psycopg2
psycopg2.connect(sys.argv[1], connect_timeout=3).close()
PY
}

start_debian_postgres() {
  if [ "$(id -u)" -ne 0 ]; then
    say "no PostgreSQL answers on $HOST:$PORT for role $ROLE, and installing Debian's package needs root"
    exit 1
  fi
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    say "installing Debian's postgresql package"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  local version cluster
  version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
  cluster="$(pg_lsclusters -h | awk -v port="$PORT" '$3 == port { print $1 "/" $2; exit }')"
  if [ -z "$cluster" ]; then
    say "creating cluster $version/healthcare_assets on port $PORT"
    pg_createcluster "$version" healthcare_assets -p "$PORT" -- --auth-local=peer --auth-host=scram-sha-256 >&2
    cluster="$version/healthcare_assets"
  fi
  local conf="/etc/postgresql/$cluster"
  # Loopback only, and trust for loopback: this is the development/CI server (production: deploy/README.md).
  sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
  if ! grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf"; then
    sed -i "1i host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf"
  fi
  say "starting cluster $cluster"
  pg_ctlcluster --skip-systemctl-redirect "${cluster%/*}" "${cluster#*/}" restart >&2 ||
    pg_ctlcluster --skip-systemctl-redirect "${cluster%/*}" "${cluster#*/}" start >&2
  local socket_dir=/var/run/postgresql
  runuser -u postgres -- psql -h "$socket_dir" -p "$PORT" -qAt -d postgres -c \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN CREATE ROLE \"$ROLE\" LOGIN SUPERUSER; END IF; END\$\$;" >&2
  for _ in $(seq 1 30); do
    answers && return 0
    sleep 1
  done
  say "cluster $cluster started but $HOST:$PORT does not answer for role $ROLE"
  exit 1
}

ensure_venv >&2
if answers; then
  say "PostgreSQL answers on $HOST:$PORT (role $ROLE)"
elif [ "$CHECK_ONLY" = 1 ]; then
  say "no PostgreSQL answers on $HOST:$PORT (role $ROLE)"
  exit 1
else
  start_debian_postgres
fi
[ "$CHECK_ONLY" = 1 ] && exit 0

"$VENV/bin/python" - "$SERVER_URL" "$DATABASE" "${DATABASE}_mlflow" <<'PY' >&2
import sys

import psycopg2
from psycopg2 import sql

url, *databases = sys.argv[1:]
con = psycopg2.connect(url, connect_timeout=5)
con.autocommit = True  # CREATE DATABASE cannot run in a transaction
with con.cursor() as cur:
    for name in databases:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone():
            print(f"postgres.sh: database {name} exists")
        else:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"postgres.sh: created database {name}")
con.close()
PY
echo "export HEALTHCARE_ASSETS_POSTGRES_URL=postgresql+psycopg2://$ROLE@$HOST:$PORT/$DATABASE"
