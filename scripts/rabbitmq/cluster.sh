#!/usr/bin/env bash
# A local three-node RabbitMQ cluster for the cluster tests, from the locally installed server.
# Each node is a node of its own (scripts/rabbitmq/node.sh: its own config, database, logs
# and ports, run as the user who runs this script); the nodes share one home, hence one
# Erlang cookie, in the cluster's directory. The shared node (rabbit@… on 5672) and its
# cookie are never touched.
#
# Usage: scripts/rabbitmq/cluster.sh start|stop|status|kill <n>|restart <n>|leader <queue>|ctl <n> …|queues <n> …
#   start           stop the cluster's nodes left running, start every node on a fresh database,
#                   join nodes 2… to node 1 (stop_app, join_cluster, start_app) and wait until
#                   every node is up in the cluster
#   stop            stop every node (their directories stay, for the logs, until the next start)
#   status          each node's state and the cluster's status; exit 0 if every node is up
#   kill <n>        SIGKILL node n, as a crash would (its database stays)
#   restart <n>     stop node n if it runs, start it again on its database, and wait until it
#                   is back in the cluster
#   leader <queue>  the node that leads the quorum queue <queue> (asked of a node that is up)
#   ctl <n> …       rabbitmqctl against node n, e.g. `ctl 1 cluster_status`
#   queues <n> …    rabbitmq-queues against node n, e.g. `queues 1 quorum_status my-queue`
#
# Environment:
#   TRACEBUS_RABBITMQ_CLUSTER_NAME       node names are <name><n>@localhost (default tracebus-c)
#   TRACEBUS_RABBITMQ_CLUSTER_SIZE       number of nodes (default 3)
#   TRACEBUS_RABBITMQ_CLUSTER_PORT       AMQP port of node 1 on 127.0.0.1; node n listens on
#                                        PORT + n - 1 (default 5691: 5691, 5692, 5693)
#   TRACEBUS_RABBITMQ_CLUSTER_DIST_PORT  Erlang distribution port of node 1, node n on + n - 1
#                                        (default 25691)
#   TRACEBUS_RABBITMQ_CLUSTER_DIR        the cluster's directory, one folder per node and the
#                                        shared home (default ${TMPDIR:-/tmp}/tracebus-rabbitmq-<name>)
#   TRACEBUS_RABBITMQ_START_TIMEOUT, RABBITMQ_SCRIPTS_DIR: as for scripts/rabbitmq/node.sh
#
# Clients connect to amqp://guest:guest@127.0.0.1:<port> (guest may log in from localhost).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${TRACEBUS_RABBITMQ_CLUSTER_NAME:-tracebus-c}
SIZE=${TRACEBUS_RABBITMQ_CLUSTER_SIZE:-3}
PORT=${TRACEBUS_RABBITMQ_CLUSTER_PORT:-5691}
DIST_PORT=${TRACEBUS_RABBITMQ_CLUSTER_DIST_PORT:-25691}
ROOT=${TRACEBUS_RABBITMQ_CLUSTER_DIR:-${TMPDIR:-/tmp}/tracebus-rabbitmq-$NAME}

node_name() { echo "$NAME$1@localhost"; }

on_node() {  # on_node <n> <node.sh arguments…>
  local n=$1; shift
  TRACEBUS_RABBITMQ_NODE=$(node_name "$n") \
    TRACEBUS_RABBITMQ_PORT=$((PORT + n - 1)) \
    TRACEBUS_RABBITMQ_DIST_PORT=$((DIST_PORT + n - 1)) \
    TRACEBUS_RABBITMQ_DIR=$ROOT/$NAME$n \
    TRACEBUS_RABBITMQ_HOME=$ROOT/home \
    bash "$HERE/node.sh" "$@"
}

nodes() { seq 1 "$SIZE"; }

check_node() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= SIZE)) && return 0
  echo "rabbitmq-cluster: no node '${1:-}' (nodes are 1 to $SIZE)" >&2
  exit 2
}

in_parallel() {  # in_parallel <node.sh command>: runs it on every node at once; fails if one fails
  local n failed=0 pids=()
  for n in $(nodes); do on_node "$n" "$1" & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || failed=1; done
  return $failed
}

start() {
  # Nodes left running by an earlier run that was killed are ours to stop.
  [[ -d $ROOT ]] && in_parallel stop
  rm -rf "$ROOT"
  on_node 1 cookie
  in_parallel start || { stop; return 1; }
  local n
  for n in $(seq 2 "$SIZE"); do
    # join_cluster logs errors about tables of nodes not yet running, which it then creates:
    # its output is shown only when it fails.
    { on_node "$n" ctl -q stop_app && on_node "$n" ctl -q join_cluster "$(node_name 1)" && on_node "$n" ctl -q start_app; } >"$ROOT/join-$n.log" 2>&1 ||
      { cat "$ROOT/join-$n.log" >&2; echo "rabbitmq-cluster: $(node_name "$n") could not join $(node_name 1)" >&2; stop; return 1; }
  done
  on_node 1 ctl -q await_online_nodes "$SIZE" --timeout 120
  echo "rabbitmq-cluster: $SIZE nodes up: $(for n in $(nodes); do printf '%s on 127.0.0.1:%s  ' "$(node_name "$n")" $((PORT + n - 1)); done)"
}

stop() { in_parallel stop; }

status() {
  local n up=0
  for n in $(nodes); do
    if on_node "$n" status; then
      up=$((up + 1)); echo "$(node_name "$n") on 127.0.0.1:$((PORT + n - 1)): up"
    else
      echo "$(node_name "$n") on 127.0.0.1:$((PORT + n - 1)): down"
    fi
  done
  for n in $(nodes); do on_node "$n" status && { on_node "$n" ctl cluster_status; break; }; done
  ((up == SIZE))
}

restart() {
  on_node "$1" stop
  on_node "$1" resume
  # Back in the cluster: its database, and the queues' members on it, are in sync again.
  on_node "$1" ctl -q await_startup --timeout 120
  on_node "$1" ctl -q await_online_nodes "$SIZE" --timeout 120
}

leader() {
  local n
  for n in $(nodes); do
    on_node "$n" status || continue
    on_node "$n" ctl -q list_queues --no-table-headers name leader | awk -F'\t' -v queue="$1" '$1 == queue { print $2; found = 1 } END { exit !found }' && return 0
    echo "rabbitmq-cluster: no queue '$1' on $(node_name "$n")" >&2
    return 1
  done
  echo "rabbitmq-cluster: no node is up" >&2
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) check_node "${2:-}"; on_node "$2" kill ;;
  restart) check_node "${2:-}"; restart "$2" ;;
  leader) [[ -n ${2:-} ]] || { echo "rabbitmq-cluster: leader needs a queue name" >&2; exit 2; }; leader "$2" ;;
  ctl | queues) check_node "${2:-}"; n=$2; command=$1; shift 2; on_node "$n" "$command" "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
