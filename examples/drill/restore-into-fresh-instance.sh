#!/bin/bash
# The disaster-recovery drill's fresh instance (service restore-drill, examples/README.md):
# `pgbackup restore` into an empty directory — the arguments are restore's, e.g.
# --target-time '2026-11-30 14:00:00+00'; none: the latest point — then PostgreSQL runs in the
# foreground on that directory, fetching WAL through `pgbackup wal-fetch` (this image has both)
# and promoting at the target. Connect with: psql -h 127.0.0.1 -p 5439 -U postgres
set -euo pipefail
pgdata=/var/lib/pgbackup/restore-drill/data
rm -rf "$pgdata"
mkdir -p "$(dirname "$pgdata")"
pgbackup restore --pgdata "$pgdata" "$@"
# The restored backup's own major (the image carries every supported one).
major=$(cat "$pgdata/PG_VERSION")
exec "/usr/lib/postgresql/$major/bin/postgres" -D "$pgdata" \
    -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/tmp
