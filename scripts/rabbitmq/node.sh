#!/usr/bin/env bash
# One RabbitMQ node of its own, for tests that stop, kill or cluster nodes: never the shared
# node (rabbit@… on 5672), whose configuration, database and Erlang cookie are not touched.
#
# The node runs from the locally installed server (Debian's rabbitmq-server package, or any
# install whose scripts are on the PATH) as the user who runs this script (root in CI): the
# scripts in /usr/lib/rabbitmq/bin, not Debian's /usr/sbin wrappers, which switch to the
# rabbitmq user and so to its home and cookie. Everything is in one directory: config file,
# enabled-plugins file, database, logs and pid file; HOME, where Erlang keeps the cookie that
# the node and rabbitmqctl share, is that directory too unless TRACEBUS_RABBITMQ_HOME names
# another (the nodes of one cluster share one home, hence one cookie).
#
# Usage: scripts/rabbitmq/node.sh start|resume|stop|kill|status|destroy|cookie|ctl …|queues …
#   start    stop a node of this name left running, wipe its database and logs, write its
#            config, start it and wait until it has booted and accepts AMQP connections
#   resume   start it again on the database it had (after stop or kill) and wait likewise
#   stop     stop it (rabbitmqctl stop) and wait until its VM has exited; no-op when it is down
#   kill     SIGKILL its VM, keeping its database, as a crash would; no-op when it is down
#   status   exit 0 if its VM runs and RabbitMQ is up in it, 1 otherwise
#   destroy  stop it and remove its directory
#   cookie   write a new Erlang cookie into its HOME unless one is there (start does it too;
#            nodes that share a home and start side by side need it written first)
#   ctl …    rabbitmqctl -n <node> … with the node's cookie, e.g. `ctl cluster_status`
#   queues … rabbitmq-queues -n <node> …, e.g. `queues quorum_status my-queue`
#
# Environment:
#   TRACEBUS_RABBITMQ_NODE       node name (default tracebus-faults@localhost)
#   TRACEBUS_RABBITMQ_PORT       AMQP port, on 127.0.0.1 (default 5673)
#   TRACEBUS_RABBITMQ_DIST_PORT  Erlang distribution port (default TRACEBUS_RABBITMQ_PORT + 20000)
#   TRACEBUS_RABBITMQ_DIR        the node's directory (default ${TMPDIR:-/tmp}/tracebus-rabbitmq-<node>)
#   TRACEBUS_RABBITMQ_HOME       HOME of the node and its CLI (default the node's directory)
#   TRACEBUS_RABBITMQ_START_TIMEOUT  seconds to wait for the node to accept connections (default 90)
#   RABBITMQ_SCRIPTS_DIR         where rabbitmq-server and rabbitmqctl are (default
#                                /usr/lib/rabbitmq/bin, else the PATH)
set -euo pipefail

NODE=${TRACEBUS_RABBITMQ_NODE:-tracebus-faults@localhost}
PORT=${TRACEBUS_RABBITMQ_PORT:-5673}
DIST_PORT=${TRACEBUS_RABBITMQ_DIST_PORT:-$((PORT + 20000))}
DIR=${TRACEBUS_RABBITMQ_DIR:-${TMPDIR:-/tmp}/tracebus-rabbitmq-${NODE//[^A-Za-z0-9_.-]/_}}
NODE_HOME=${TRACEBUS_RABBITMQ_HOME:-$DIR}
START_TIMEOUT=${TRACEBUS_RABBITMQ_START_TIMEOUT:-90}
PIDFILE=$DIR/rabbitmq.pid

scripts_dir() {
  local candidate
  local IFS=:
  for candidate in "${RABBITMQ_SCRIPTS_DIR:-}" /usr/lib/rabbitmq/bin $PATH; do
    if [[ -n $candidate && -x $candidate/rabbitmq-server && -x $candidate/rabbitmqctl ]]; then
      echo "$candidate"; return 0
    fi
  done
  echo "rabbitmq: no rabbitmq-server installation found (looked in RABBITMQ_SCRIPTS_DIR, /usr/lib/rabbitmq/bin and the PATH)" >&2
  return 1
}
SCRIPTS=$(scripts_dir)

# The server's environment: nothing from /etc/rabbitmq, whose files name the shared node and
# its listener on 5672. The extra `-tracebus_node <dir>` argument marks this node's VM, so
# that `pid` finds it (and only it) among the processes.
export HOME=$NODE_HOME \
  RABBITMQ_NODENAME=$NODE \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=$PORT \
  RABBITMQ_DIST_PORT=$DIST_PORT \
  RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq-env.conf \
  RABBITMQ_CONFIG_FILE=$DIR/rabbitmq.conf \
  RABBITMQ_ADVANCED_CONFIG_FILE=$DIR/advanced.config \
  RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/enabled_plugins \
  RABBITMQ_MNESIA_BASE=$DIR/mnesia \
  RABBITMQ_LOG_BASE=$DIR/log \
  RABBITMQ_PID_FILE=$PIDFILE \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} -tracebus_node $DIR" \
  ERL_EPMD_ADDRESS=127.0.0.1

ctl() { "$SCRIPTS/rabbitmqctl" -n "$NODE" "$@"; }
queues() { "$SCRIPTS/rabbitmq-queues" -n "$NODE" "$@"; }

# Whether process $1 is this node's VM (a zombie has no arguments, so it does not count).
is_node() { ps -o args= -p "$1" 2>/dev/null | grep -qF -- "-tracebus_node $DIR "; }

pid() {  # pid of this node's VM, if it runs
  local p; p=$(cat "$PIDFILE" 2>/dev/null) || return 1
  is_node "$p" && echo "$p"
}

port_open() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

status() { pid >/dev/null && ctl -q await_startup --timeout 5 >/dev/null 2>&1; }

log_tail() {
  local file
  for file in "$DIR"/log/*.log; do
    [[ -s $file ]] && { echo "--- $file"; tail -n 40 "$file"; }
  done
}

stop() {
  local p deadline=$((SECONDS + 30))
  p=$(pid) || return 0
  # Without the pid-file argument: with it, rabbitmqctl waits for a file that a node that
  # never finished booting does not write.
  ctl -q stop >/dev/null 2>&1 || kill -TERM "$p" 2>/dev/null || true
  # The node removes its pid file before its VM has exited: wait for the process itself.
  while is_node "$p" || port_open "$PORT"; do
    if ((SECONDS > deadline)); then
      echo "rabbitmq: $NODE still runs 30 s after stop; killing it" >&2
      kill -KILL "$p" 2>/dev/null || true
      sleep 1
      return 0
    fi
    sleep 0.2
  done
}

kill_node() {
  local p
  p=$(pid) || { echo "rabbitmq: $NODE is not running" >&2; return 0; }
  kill -KILL "$p"
  while is_node "$p"; do sleep 0.05; done
  echo "rabbitmq: killed $NODE (pid $p)"
}

launch() {  # starts the VM on $DIR and waits until it accepts AMQP connections
  local deadline=$((SECONDS + START_TIMEOUT)) seen=
  if port_open "$PORT"; then echo "rabbitmq: port $PORT is in use by another process" >&2; return 1; fi
  "$SCRIPTS/rabbitmq-server" -detached
  # The listener opens late in the boot, after the database and the queues are up.
  until pid >/dev/null && port_open "$PORT"; do
    if pid >/dev/null; then
      seen=1
    elif [[ -n $seen ]]; then
      echo "rabbitmq: $NODE exited while starting" >&2; log_tail >&2; return 1
    fi
    if ((SECONDS > deadline)); then
      echo "rabbitmq: $NODE did not accept connections on 127.0.0.1:$PORT within $START_TIMEOUT s" >&2
      log_tail >&2
      stop; return 1
    fi
    sleep 0.25
  done
  ctl -q await_startup --timeout "$START_TIMEOUT" >/dev/null
  echo "rabbitmq: $NODE up on 127.0.0.1:$PORT (pid $(pid))"
}

start() {
  stop
  rm -rf "$DIR/mnesia" "$DIR/log"
  mkdir -p "$DIR"
  : >"$DIR/rabbitmq-env.conf"
  echo "listeners.tcp.1 = 127.0.0.1:$PORT" >"$DIR/rabbitmq.conf"
  echo '[].' >"$DIR/advanced.config"
  echo '[].' >"$DIR/enabled_plugins"
  cookie
  launch
}

cookie() {  # writes the Erlang cookie into HOME unless one is there
  mkdir -p "$NODE_HOME"
  [[ -s $NODE_HOME/.erlang.cookie ]] && return 0
  (umask 077; od -An -N16 -tx1 /dev/urandom | tr -dc 0-9a-f | tr a-f A-F >"$NODE_HOME/.erlang.cookie")
  chmod 400 "$NODE_HOME/.erlang.cookie"
}

case "${1:-}" in
  start) start ;;
  resume) pid >/dev/null && { echo "rabbitmq: $NODE already runs"; exit 0; }; launch ;;
  stop) stop ;;
  kill) kill_node ;;
  status) status ;;
  destroy) stop; rm -rf "$DIR" ;;
  cookie) cookie ;;
  ctl) shift; ctl "$@" ;;
  queues) shift; queues "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
