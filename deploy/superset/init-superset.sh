#!/usr/bin/env bash
# One-off set-up of Superset (service superset-init, and `make bi` before it serves): metadata
# database, admin user, roles, the dashboard bundle and the read-only connection to the published
# marts. Idempotent: safe at every start.
#   SUPERSET_ADMIN_PASSWORD   password of user "admin" (set again at every run)
#   COMMUNE_MARTS_URI         the DuckDB URI of serving.duckdb, read-only
#   COMMUNE_DASHBOARD_DIR     the bundle (default: dashboard/ beside this script)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bundle_dir="${COMMUNE_DASHBOARD_DIR:-$here/dashboard}"

superset db upgrade
if superset fab list-users | grep -q "username:admin "; then
  superset fab reset-password --username admin --password "${SUPERSET_ADMIN_PASSWORD}"
else
  superset fab create-admin --username admin --firstname Admin --lastname User \
    --email admin@example.invalid --password "${SUPERSET_ADMIN_PASSWORD}"
fi
superset init

# Superset imports a bundle as a ZIP whose first folder holds metadata.yaml, databases/,
# datasets/, charts/ and dashboards/. Charts and datasets already imported are kept as they are
# (Superset's dashboard import does not overwrite them); the dashboard itself is replaced.
zip_file="$(mktemp -d)/commune_dashboard.zip"
(cd "$(dirname "$bundle_dir")" && python -m zipfile -c "$zip_file" "$(basename "$bundle_dir")")
superset import-dashboards --path "$zip_file" --username admin
rm -rf "$(dirname "$zip_file")"

# After the import: the bundle's database carries the compose URI; this sets the one of this host.
superset set-database-uri --database_name "Commune marts (read-only)" --uri "${COMMUNE_MARTS_URI}"
echo "superset-init: ready; dashboard imported from $bundle_dir;" \
  "database 'Commune marts (read-only)' -> ${COMMUNE_MARTS_URI}"
