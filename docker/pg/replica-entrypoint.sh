#!/usr/bin/env bash
# replica-entrypoint.sh: the compose replica. On first start it clones the
# primary with pg_basebackup (-R: standby.signal and primary_conninfo, slot
# replica1), exactly as scripts/lib/stack.sh's start_replica does; then it
# runs postgres as a hot standby.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do sleep 1; done
    pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U postgres -D "$PGDATA" -R -X stream -S replica1 \
        --checkpoint=fast
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
