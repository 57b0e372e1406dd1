#!/bin/bash
# Entry point of both PostgreSQL services (the official image's, with two additions):
# - the replication password goes to ~postgres/.pgpass, so a standby authenticates without a
#   password in primary_conninfo (what `pgbackup follow` writes: the conninfo without password);
# - with PRIMARY_HOST set and no data directory yet, the primary is cloned as a streaming standby.
set -euo pipefail
: "${PGDATA:=/var/lib/postgresql/data}"
pgpass=/var/lib/postgresql/.pgpass
printf '*:*:*:replicator:%s\n' "${REPLICATION_PASSWORD:?}" > "$pgpass"
chown postgres:postgres "$pgpass"
chmod 0600 "$pgpass"

if [ -n "${PRIMARY_HOST:-}" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    until gosu postgres pg_isready --host="$PRIMARY_HOST" --quiet; do sleep 1; done
    echo "cloning $PRIMARY_HOST into $PGDATA as a standby"
    gosu postgres pg_basebackup --host="$PRIMARY_HOST" --username=replicator --no-password \
        --pgdata="$PGDATA" --wal-method=stream --checkpoint=fast --write-recovery-conf
fi
exec docker-entrypoint.sh "$@"
