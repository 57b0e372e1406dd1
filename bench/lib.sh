# shellcheck shell=bash disable=SC2034  # (the variables set here are the scripts')
# The set-up every benchmark script shares. Sourced, never run: bench/<name> sets its defaults
# and checks its own options, then `source "$(dirname "$0")/lib.sh"` and calls, in this order,
# what it needs:
#
#   bench_keep_env PATTERN [VARIABLE…]   unset the caller's variables matching PATTERN but VARIABLE…
#   bench_workdir NAME                   $work (/tmp/pgbackup-bench-NAME.*), removed at exit
#   bench_require_postgres [time]        PostgreSQL 15 in $bindir (and GNU time), or die
#   bench_pgbackup_binary                $built: PGBACKUP, or the last build (SKIP_BUILD=1), or a build
#   bench_install_pgbackup PATH          $pgbackup: a copy of $built at PATH, mode 0755
#   bench_initdb / bench_pg_start        a throwaway PostgreSQL 15 in $work/pgdata on 127.0.0.1:$port
#   bench_pgbench_init SCALE [LOG]       pgbench -i -s SCALE into it
#   bench_start_moto                     moto on loopback, signature checks on, bucket $bucket
#
# Cleanup, even on failure: $current_pid's process tree, the script's `bench_cleanup_hook` if it
# defines one, every pid in bench_pids (and its children), every server in bench_pg_dirs and
# $restored_dir, moto; then $work is removed unless KEEP=1 (or, after a failure, KEEP_ON_FAILURE=1).
# A script whose KEEP means something else names its own switch in bench_keep_variable.

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
repo_root=$PWD
bindir=/usr/lib/postgresql/15/bin
python=$(command -v python3 || echo python3)

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
busy() {  # load average triple -> a warning when its 1-minute figure exceeds the core count
  awk -v l="${1%% *}" -v c="$(nproc)" 'BEGIN {if (l > c) printf ", above the %d cores: WARNING, other work competes", c}'
}
kill_tree() {  # pid: the process and all its descendants, children first
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -KILL "$1" 2>/dev/null || true
}

# PostgreSQL refuses to run as root: as root, its server programs (and whatever the script runs
# through as_pg) run as postgres.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then (cd "$work" && runuser -u postgres -- "$@"); else "$@"; fi
}
run_pg() { local program=$1; shift; as_pg "$bindir/$program" "$@"; }
pg_dir() {  # directory…: created, owned by the user the servers run as
  mkdir -p "$@"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$@"
}

# bench_keep_env PATTERN [VARIABLE…]: the tools run with the benchmark's settings only: no
# configuration, none of the caller's variables matching PATTERN (an extended regex: a slot, an
# encryption key, an endpoint…) except the VARIABLEs the script reads as its own settings.
bench_keep_env() {
  local pattern=$1 variable; shift
  for variable in $(compgen -e | grep -E "$pattern" || true); do
    case " $* " in *" $variable "*) ;; *) unset "$variable" ;; esac
  done
}

# ---------------------------------------------------------------- the work directory, and its cleanup
current_pid=""      # the measured command while it runs
restored_dir=""     # a restored server's data directory while it may run
moto_pid=""
bench_pids=()       # background processes (with their children) to end
bench_pg_dirs=()    # data directories of servers started
bench_keep_variable=KEEP
bench_workdir() {  # name
  work=$(mktemp -d "/tmp/pgbackup-bench-$1.XXXXXX")
  chmod 0755 "$work"
  log "work directory $work"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
bench_cleanup() {
  local status=$? pid dir
  set +e
  if [ -n "$current_pid" ] && kill -0 "$current_pid" 2>/dev/null; then kill_tree "$current_pid"; fi
  if declare -F bench_cleanup_hook >/dev/null; then bench_cleanup_hook; fi
  for pid in "${bench_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      pkill -KILL -P "$pid" 2>/dev/null
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  for dir in "$restored_dir" "${bench_pg_dirs[@]}"; do
    if [ -n "$dir" ] && [ -f "$dir/postmaster.pid" ]; then run_pg pg_ctl -D "$dir" -m immediate -w stop >/dev/null 2>&1; fi
  done
  if [ -n "$moto_pid" ] && kill -0 "$moto_pid" 2>/dev/null; then kill_tree "$moto_pid"; fi
  if [ "${!bench_keep_variable:-0}" = 1 ] || { [ "$status" -ne 0 ] && [ "${KEEP_ON_FAILURE:-0}" = 1 ]; }; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}

bench_require_postgres() {  # [time]: PostgreSQL 15's programs, and GNU time when asked
  [ -x "$bindir/postgres" ] || die "PostgreSQL 15 is not installed in $bindir"
  [ "${1:-}" != time ] || [ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is missing"
}

# ---------------------------------------------------------------- the binary
# bench_pgbackup_binary: sets built to PGBACKUP, or with SKIP_BUILD=1 the last scripts/build
# (.build/release-bin/pgbackup), or builds it there (so that SKIP_BUILD=1 can reuse it).
bench_pgbackup_binary() {
  if [ -n "${PGBACKUP:-}" ]; then
    built=$PGBACKUP
  elif [ "${SKIP_BUILD:-0}" = 1 ]; then
    built="$repo_root/.build/release-bin/pgbackup"
  else
    log "building pgbackup (release)"
    scripts/build >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "scripts/build"; }
    built="$repo_root/.build/release-bin/pgbackup"
  fi
  [ -x "$built" ] || die "no pgbackup binary at $built"
}
# bench_install_pgbackup PATH: sets pgbackup to a copy of $built at PATH. A copy of our own: a
# rebuild elsewhere cannot swap it mid-run, and the servers' user (restore_command,
# archive_command) can run it.
bench_install_pgbackup() {
  mkdir -p "$(dirname "$1")"
  install -m 0755 "$built" "$1"
  pgbackup=$1
}

# ---------------------------------------------------------------- a throwaway PostgreSQL 15
# bench_initdb: port, and $work/pgdata initialized with the settings every bench needs; the
# script may append its own to $work/pgdata/postgresql.conf before bench_pg_start.
bench_initdb() {
  port=$(free_port)
  pg_dir "$work/pgdata"
  run_pg initdb -D "$work/pgdata" -U postgres --auth=trust >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die initdb; }
  cat >>"$work/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work/pgdata'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
max_wal_size = 4GB
CONF
  conninfo="host=127.0.0.1 port=$port user=postgres dbname=postgres"
}
bench_pg_start() {
  run_pg pg_ctl -D "$work/pgdata" -l "$work/pgdata/server.log" -w start >/dev/null
  bench_pg_dirs+=("$work/pgdata")
  log "PostgreSQL 15 on 127.0.0.1:$port"
}
sql() { "$bindir/psql" -X -Atq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$1"; }
bench_pgbench_init() {  # scale [log file]
  local output=${2:-$work/pgbench-init.log}
  log "pgbench -i -s $1"
  "$bindir/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$1" -q postgres >"$output" 2>&1 \
    || { cat "$output" >&2; die "pgbench -i"; }
}

# CPU (s) of a process tree: utime+stime of every process, plus cutime+cstime (its exited, waited
# children, each with theirs). Threads are inside their process's figures.
tree_cpu() {
  [ -n "$1" ] || { echo 0; return; }
  "$python" - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
parent, cpu = {}, {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(fields[i]) for i in (11, 12, 13, 14))
def inside(pid):
    while pid > 1:
        if pid == root:
            return True
        pid = parent.get(pid, 0)
    return False
print(round(sum(c for p, c in cpu.items() if inside(p)) / os.sysconf("SC_CLK_TCK"), 2))
PY
}

# ---------------------------------------------------------------- moto, signature checks on
# bench_start_moto: moto (scripts/moto-server.py) on 127.0.0.1:$moto_port, its log $work/moto.log;
# exports the bootstrapped credentials and the AWS_* settings the aws CLI needs, and makes the
# bucket $bucket at $endpoint. The first three requests go unauthenticated (spent by --bootstrap on
# IAM), then SigV4 and IAM are checked on every request. The port is awaited with a TCP connect,
# not an HTTP call: any request counts among the three.
bench_start_moto() {
  "$python" -c 'import moto.server, boto3' 2>/dev/null || die "moto[server] and boto3 are missing for $python"
  moto_port=$(free_port)
  endpoint="http://127.0.0.1:$moto_port"
  bucket="pgbackup-bench"
  INITIAL_NO_AUTH_ACTION_COUNT=3 "$python" scripts/moto-server.py -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  disown "$moto_pid"   # no "Killed" job report when the cleanup ends it
  local deadline=$((SECONDS + 60)) credentials
  until "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$moto_port" 2>/dev/null; do
    kill -0 "$moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; die "moto exited"; }
    [ "$SECONDS" -lt "$deadline" ] || die "moto did not listen within 60 s"
    sleep 0.2
  done
  credentials=$("$python" scripts/moto-server.py --bootstrap "$endpoint") || die "moto bootstrap"
  AWS_ACCESS_KEY_ID=$("$python" -c 'import json,sys; print(json.load(sys.stdin)["AccessKeyId"])' <<<"$credentials")
  AWS_SECRET_ACCESS_KEY=$("$python" -c 'import json,sys; print(json.load(sys.stdin)["SecretAccessKey"])' <<<"$credentials")
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  aws --endpoint-url "$endpoint" s3api create-bucket --bucket "$bucket" >/dev/null || die "create-bucket"
  # A wrong secret must be refused: the figures are for a server that checks signatures.
  if AWS_SECRET_ACCESS_KEY=wrong aws --endpoint-url "$endpoint" s3api list-objects-v2 --bucket "$bucket" >/dev/null 2>&1; then
    die "moto accepted a wrong secret: signature checks are off"
  fi
  log "moto $("$python" -c 'import moto; print(moto.__version__)') on $endpoint (pid $moto_pid), signature checks on, bucket $bucket"
}
