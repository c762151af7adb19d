#!/usr/bin/env bash
# migrate.sh: applies db/migrations/NNNN_*.sql in order, each in one
# transaction with its row in schema_migrations, under an advisory lock so two
# runs cannot interleave. Rerunning applies nothing.
#   usage: db/migrate.sh [DATABASE_URL]      (default: $DATABASE_URL)
set -euo pipefail
url=${1:-${DATABASE_URL:?DATABASE_URL is not set}}
dir=$(cd "$(dirname "$0")/migrations" && pwd)
psql_() { psql "$url" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_ -c "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    text PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now())" 2>&1 | grep -v 'already exists' || true

applied=0
for f in "$dir"/[0-9][0-9][0-9][0-9]_*.sql; do
    v=$(basename "$f" .sql)
    # The check is repeated inside the transaction, after the lock.
    done_=$(psql_ -At -c "SELECT 1 FROM schema_migrations WHERE version = '$v'")
    [ -n "$done_" ] && continue
    {
        echo "BEGIN;"
        echo "SELECT pg_advisory_xact_lock(7215001);"
        echo "DO \$\$ BEGIN IF EXISTS (SELECT 1 FROM schema_migrations WHERE version = '$v') THEN RAISE EXCEPTION 'already applied'; END IF; END \$\$;"
        cat "$f"
        echo ";"
        echo "INSERT INTO schema_migrations (version) VALUES ('$v');"
        echo "COMMIT;"
    } | psql_ >/dev/null
    echo "migrate: applied $v"
    applied=$((applied + 1))
done
echo "migrate: $applied applied, schema at $(psql_ -At -c 'SELECT max(version) FROM schema_migrations')"
