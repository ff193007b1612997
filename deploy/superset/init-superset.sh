#!/usr/bin/env bash
# One-off set-up of Superset (service superset-init): metadata database, admin user, roles, and
# the read-only connection to the published marts. Idempotent: safe at every `docker compose up`.
set -euo pipefail

superset db upgrade
if ! superset fab list-users | grep -q "username:admin "; then
  superset fab create-admin --username admin --firstname Admin --lastname User \
    --email admin@example.invalid --password "${SUPERSET_ADMIN_PASSWORD}"
fi
superset init
superset set-database-uri --database_name "Commune marts (read-only)" --uri "${COMMUNE_MARTS_URI}"
echo "superset-init: ready; database 'Commune marts (read-only)' -> ${COMMUNE_MARTS_URI}"
