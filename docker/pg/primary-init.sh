#!/usr/bin/env bash
# primary-init.sh: first start of the compose primary (official postgres image,
# /docker-entrypoint-initdb.d): the application role and database, a
# replication slot for the replica, and replication connections from the
# compose network (trust: the network is private to the compose project).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE memberapi LOGIN;
CREATE DATABASE memberapi OWNER memberapi TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8';
SELECT pg_create_physical_replication_slot('replica1');
SQL
echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"
