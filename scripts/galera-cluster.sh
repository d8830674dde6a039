#!/usr/bin/env bash
# galera-cluster.sh: a three-node MariaDB Galera cluster on one machine, for
# authql's cluster tests (test/cluster) and for trying authql against a
# synchronous multi-primary database by hand.
#
#   galera-cluster.sh start   DIR [BASEPORT]  create (first time) and start nodes 1..3
#   galera-cluster.sh stop    DIR             shut every running node down cleanly
#   galera-cluster.sh kill    DIR N           SIGKILL node N (a crash: no goodbye to the cluster)
#   galera-cluster.sh restart DIR N           start node N again; it rejoins by IST
#   galera-cluster.sh status  DIR             one line per node
#
# Needs Debian's mariadb-server, galera-4 and rsync, and root (the nodes run as
# the mysql user, which the rsync state transfer needs; DIR is chowned to it).
#
# Ports, from BASEPORT (default 13306, clear of a system MariaDB on 3306):
# node N (1..3) serves SQL on BASEPORT+N-1, group communication on
# BASEPORT+10+N-1, IST on BASEPORT+20+N-1 and rsync SST on BASEPORT+30+N-1, all
# on 127.0.0.1. Each node has its own datadir, socket, pid file and error log
# under DIR/nodeN. Node 1 bootstraps the cluster (--wsrep-new-cluster), 2 and
# 3 join it by SST; start returns once every node says Synced in a cluster of
# 3. It creates the user authql/authql (all privileges, from 127.0.0.1 and
# localhost) on node 1, whence it replicates; connect with
#   mysql://authql:authql@127.0.0.1:BASEPORT/DB
#
# The nodes are lean so that three fit beside the tests: a 32 MB buffer pool,
# no performance_schema, no fsync per commit (Galera's replication is what
# makes a commit durable here; this is a test cluster). Each commit is still
# written to the OS (innodb_flush_log_at_trx_commit=2), so a node that was
# SIGKILLed recovers every commit it made and asks only for what it missed
# while down; with 0 it recovered hundreds of write sets short. The 128 MB
# gcache keeps what it asks for on its peers, so it rejoins by IST: an
# rsync SST instead would block its donor.
#
# Failure detection is shortened for test speed: a node that dies without
# leaving (SIGKILL) is suspected after evs.suspect_timeout (2 s here, 5 s by
# default) and evicted once every survivor agrees; until then the survivors
# hold every commit, since each write set must be delivered to all members of
# the primary component. So a crash stalls writes cluster-wide for about 2-3 s,
# then the two survivors go on as the primary component. Only the suspicion
# is shortened: evs.inactive_timeout, after which a node declares a peer dead
# on its own, keeps its default (15 s), as in MariaDB's own Galera tests.
# Shortened to 4 s as well, the two survivors of a kill sometimes fell into
# a non-primary component together (2 of 14 kills in a row).
set -euo pipefail

GALERA_LIB=${GALERA_LIB:-/usr/lib/galera/libgalera_smm.so}
NODES=3

die() { echo "galera-cluster: $*" >&2; exit 1; }

usage() { sed -n '2,12p' "$0" >&2; exit 2; }

node_dir() { echo "$DIR/node$1"; }
sql_port() { echo $((BASEPORT + $1 - 1)); }
gcomm_port() { echo $((BASEPORT + 10 + $1 - 1)); }
ist_port() { echo $((BASEPORT + 20 + $1 - 1)); }
sst_port() { echo $((BASEPORT + 30 + $1 - 1)); }

# client N ARGS...: the mariadb client as root over node N's socket.
client() {
  local n=$1
  shift
  mariadb --no-defaults -uroot -S "$(node_dir "$n")/mysqld.sock" -N -B "$@"
}

status_var() { client "$1" -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{print $2}'; }

# node_pid N: the pid launch recorded for node N. It keeps a file of its own:
# mariadbd rewrites its pid-file as it starts, and a check that read it then
# found it empty and took a joiner for dead.
node_pid() {
  local f
  f="$(node_dir "$1")/launched.pid"
  [ -s "$f" ] && cat "$f"
}

running() {
  local pid
  pid=$(node_pid "$1") || return 1
  kill -0 "$pid" 2>/dev/null
}

write_config() {
  local n=$1 d
  d=$(node_dir "$n")
  local peers="127.0.0.1:$(gcomm_port 1),127.0.0.1:$(gcomm_port 2),127.0.0.1:$(gcomm_port 3)"
  cat >"$d/my.cnf" <<EOF
[mysqld]
user=mysql
datadir=$d/data
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
port=$(sql_port "$n")
bind-address=127.0.0.1
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=32M
innodb_log_file_size=32M
innodb_flush_log_at_trx_commit=2
sync_binlog=0
max_connections=200
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=$GALERA_LIB
wsrep_cluster_name=authql_test_$BASEPORT
wsrep_cluster_address=gcomm://$peers
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(sst_port "$n")
wsrep_slave_threads=2
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n");gcache.size=128M;evs.suspect_timeout=PT2S;evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S"
EOF
}

# tails: the end of every node's error log, for a failure to explain itself.
tails() {
  local m
  for m in $(seq $NODES); do
    echo "--- node $m error.log (last 25 lines)" >&2
    tail -n 25 "$(node_dir "$m")/error.log" >&2 2>/dev/null || true
  done
}

# wait_synced N SECONDS: until node N is Synced in a primary component of 3.
# Every node that was launched must stay up meanwhile: one that exited
# (a joiner whose state transfer failed) would never make the 3.
wait_synced() {
  local n=$1 secs=$2 state size m
  local deadline=$((SECONDS + secs))
  while [ $SECONDS -lt $deadline ]; do
    for m in $(seq $NODES); do
      if [ -f "$(node_dir "$m")/launched.pid" ] && ! running "$m"; then
        tails
        die "node $m exited"
      fi
    done
    state=$(status_var "$n" wsrep_local_state_comment || true)
    size=$(status_var "$n" wsrep_cluster_size || true)
    if [ "$state" = Synced ] && [ "$size" = "$NODES" ]; then
      return 0
    fi
    sleep 0.2
  done
  tails
  die "node $n not Synced in a cluster of $NODES within ${secs}s (state=${state:-?} size=${size:-?})"
}

# launch N [ARGS...]: run node N's mariadbd in the background, detached. Its
# pid is recorded at once (node_pid), so that a joiner still in state
# transfer counts as running.
launch() {
  local n=$1 d
  shift
  d=$(node_dir "$n")
  running "$n" && die "node $n is already running (pid $(node_pid "$n"))"
  # setsid runs mariadbd in this process (a background job of a script is no
  # group leader), so $! is the server's pid.
  setsid mariadbd --defaults-file="$d/my.cnf" "$@" </dev/null >>"$d/error.log" 2>&1 &
  echo $! >"$d/launched.pid"
}

cmd_start() {
  [ -x "$GALERA_LIB" ] || [ -f "$GALERA_LIB" ] || die "no Galera library at $GALERA_LIB (apt-get install galera-4)"
  command -v mariadbd >/dev/null || die "no mariadbd (apt-get install mariadb-server)"
  command -v rsync >/dev/null || die "no rsync (apt-get install rsync)"
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  if [ -f "$DIR/baseport" ]; then
    BASEPORT=$(cat "$DIR/baseport")
  else
    echo "$BASEPORT" >"$DIR/baseport"
  fi
  chmod 0755 "$DIR"
  local n
  for n in $(seq $NODES); do
    mkdir -p "$(node_dir "$n")/data"
    write_config "$n"
  done
  chown -R mysql:mysql "$DIR"
  su -s /bin/sh mysql -c "test -w '$DIR/node1'" || die "the mysql user cannot reach $DIR (a parent directory is not searchable by it)"
  if [ ! -d "$DIR/node1/data/mysql" ]; then
    mariadb-install-db --defaults-file="$DIR/node1/my.cnf" --user=mysql --auth-root-authentication-method=socket \
      --skip-test-db >"$DIR/node1/install.log" 2>&1 || { cat "$DIR/node1/install.log" >&2; die "mariadb-install-db failed"; }
    launch 1 --wsrep-new-cluster
    local deadline=$((SECONDS + 60))
    until [ "$(status_var 1 wsrep_local_state_comment || true)" = Synced ]; do
      running 1 || { tail -n 30 "$DIR/node1/error.log" >&2; die "node 1 exited"; }
      [ $SECONDS -lt $deadline ] || die "node 1 did not bootstrap within 60s"
      sleep 0.2
    done
    client 1 <<'SQL'
CREATE USER IF NOT EXISTS 'authql'@'127.0.0.1' IDENTIFIED BY 'authql';
CREATE USER IF NOT EXISTS 'authql'@'localhost' IDENTIFIED BY 'authql';
GRANT ALL PRIVILEGES ON *.* TO 'authql'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'authql'@'localhost' WITH GRANT OPTION;
SQL
  else
    # A cluster stopped cleanly: node 1 shut down last, so it may bootstrap.
    running 1 || {
      sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$DIR/node1/data/grastate.dat" 2>/dev/null || true
      launch 1 --wsrep-new-cluster
    }
  fi
  for n in $(seq 2 $NODES); do
    running "$n" || launch "$n"
  done
  for n in $(seq $NODES); do
    wait_synced "$n" 120
  done
  cmd_status
}

cmd_stop() {
  local n pid
  # Joiners first, the bootstrap node last, so that it can bootstrap next time.
  for n in $(seq $NODES -1 1); do
    running "$n" || continue
    pid=$(node_pid "$n")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "node $n did not stop within 30s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(node_dir "$n")/launched.pid"
  done
}

cmd_kill() {
  local n=$1 pid
  pid=$(node_pid "$n") || die "node $n has no pid file"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$(node_dir "$n")/launched.pid" "$(node_dir "$n")/mysqld.pid"
}

# recovered_position N: the last committed position of node N, uuid:seqno,
# read from InnoDB by mariadbd --wsrep-recover. A node killed without a clean
# shutdown has seqno -1 in grastate.dat and would otherwise ask for a full SST;
# with its position it gets only what it missed, by IST (what Debian's
# galera_recovery does for the systemd unit).
recovered_position() {
  local d log pos
  d=$(node_dir "$1")
  log="$d/recover.log"
  rm -f "$log"
  su -s /bin/sh mysql -c "mariadbd --defaults-file='$d/my.cnf' --wsrep-recover --log-error='$log'" >/dev/null 2>&1 || true
  pos=$(sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*:-\{0,1\}[0-9]*\).*/\1/p' "$log" 2>/dev/null | tail -n 1)
  echo "$pos"
}

cmd_restart() {
  local n=$1
  local began=$SECONDS pos logged how
  logged=$(wc -l <"$(node_dir "$n")/error.log" 2>/dev/null || echo 0)
  pos=$(recovered_position "$n")
  if [ -n "$pos" ]; then
    launch "$n" --wsrep-start-position="$pos"
  else
    launch "$n"
  fi
  wait_synced "$n" 120
  # How: "Prepared IST receiver for 1070-1094" (what it had, what the
  # cluster had), or a full state transfer.
  how=$(tail -n +$((logged + 1)) "$(node_dir "$n")/error.log" |
    sed -n 's/.*Prepared IST receiver for \([0-9]*\)-\([0-9]*\).*/by IST of write sets \1-\2/p' | tail -n 1)
  echo "node $n rejoined in $((SECONDS - began))s ${how:-by SST}"
}

cmd_status() {
  local n
  for n in $(seq $NODES); do
    if running "$n"; then
      printf 'node%s pid=%s port=%s state=%s cluster_size=%s status=%s ready=%s\n' "$n" "$(node_pid "$n")" "$(sql_port "$n")" \
        "$(status_var "$n" wsrep_local_state_comment || echo ?)" "$(status_var "$n" wsrep_cluster_size || echo ?)" \
        "$(status_var "$n" wsrep_cluster_status || echo ?)" "$(status_var "$n" wsrep_ready || echo ?)"
    else
      printf 'node%s down port=%s\n' "$n" "$(sql_port "$n")"
    fi
  done
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
BASEPORT=${3:-13306}
if [ "$CMD" != start ]; then
  [ -f "$DIR/baseport" ] || die "$DIR holds no cluster (no baseport file)"
  BASEPORT=$(cat "$DIR/baseport")
fi
node_arg() {
  [ -n "${1:-}" ] && [ "$1" -ge 1 ] 2>/dev/null && [ "$1" -le $NODES ] || die "node must be 1..$NODES"
}
case $CMD in
  start) cmd_start ;;
  stop) cmd_stop ;;
  kill) node_arg "${3:-}"; cmd_kill "$3" ;;
  restart) node_arg "${3:-}"; cmd_restart "$3" ;;
  status) cmd_status ;;
  *) usage ;;
esac
