#!/usr/bin/env bash
# `make bi`: Superset from .venv-bi on 127.0.0.1, in the foreground (Ctrl-C stops it), with an
# embedded SQLite metadata database and the same initialisation as the compose profile "bi".
#   WAREHOUSE_DIR            where serving.duckdb is published (default data/warehouse)
#   BI_PORT                  port on 127.0.0.1 (default 8088)
#   BI_ADMIN_PASSWORD        password of user "admin" (default: generated once, kept in the state dir)
#   SUPERSET_HOME            the state dir (default .superset/): metadata DB, secret key, password
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/deploy/superset"
venv="$repo/.venv-bi"
warehouse="$(cd "$repo" && realpath -m "${WAREHOUSE_DIR:-data/warehouse}")"
port="${BI_PORT:-8088}"
export SUPERSET_HOME="${SUPERSET_HOME:-$repo/.superset}"
mkdir -p "$SUPERSET_HOME/duckdb_spill"
chmod 700 "$SUPERSET_HOME"

if [ ! -f "$warehouse/serving.duckdb" ]; then
  echo "bi: no published warehouse at $warehouse/serving.duckdb; run 'make run' (or 'make night AS_OF=...')" \
    "first, or set WAREHOUSE_DIR" >&2
  exit 2
fi

# Secrets of this install, generated once and kept with the metadata database they belong to.
secret_file="$SUPERSET_HOME/secret_key"
password_file="$SUPERSET_HOME/admin_password"
umask 077
[ -s "$secret_file" ] || "$venv/bin/python" -c "import secrets; print(secrets.token_hex(32))" >"$secret_file"
if [ -n "${BI_ADMIN_PASSWORD:-}" ]; then
  printf '%s\n' "$BI_ADMIN_PASSWORD" >"$password_file"
elif [ ! -s "$password_file" ]; then
  "$venv/bin/python" -c "import secrets; print(secrets.token_urlsafe(12))" >"$password_file"
fi

export PATH="$venv/bin:$PATH"
export SUPERSET_CONFIG_PATH="$here/superset_config.py"
export SUPERSET_SECRET_KEY="$(cat "$secret_file")"
export SUPERSET_DATABASE_URI="sqlite:///$SUPERSET_HOME/superset.db"
export SUPERSET_ADMIN_PASSWORD="$(cat "$password_file")"
# The options of the compose profile (docker-compose.yaml, COMMUNE_MARTS_URI); only paths differ.
export COMMUNE_MARTS_URI="duckdb:///$warehouse/serving.duckdb?access_mode=read_only&enable_external_access=false&temp_directory=$SUPERSET_HOME/duckdb_spill"
export FLASK_APP=superset

init_log="$SUPERSET_HOME/init.log"
echo "bi: initialising Superset in $SUPERSET_HOME (metadata database, user, dashboard bundle; log: $init_log) …"
if ! "$here/init-superset.sh" >"$init_log" 2>&1; then
  tail -n 40 "$init_log" >&2
  echo "bi: initialising Superset failed; the whole log is $init_log" >&2
  exit 1
fi
grep "^superset-init:" "$init_log" || true
echo
echo "bi: Superset on http://127.0.0.1:$port/  user admin, password $SUPERSET_ADMIN_PASSWORD"
echo "bi: (password kept in $password_file; Ctrl-C stops Superset)"
exec gunicorn --bind "127.0.0.1:$port" --workers 1 --worker-class gthread --threads 8 \
  --timeout 120 --access-logfile - "superset.app:create_app()"
