#!/bin/bash
# Runs once, when the primary's data directory is created (docker-entrypoint-initdb.d): the
# role pgbackup and the replica connect as, and replication connections for it. The replica's
# pg_basebackup copies both, so either server can be the primary after a failover.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
