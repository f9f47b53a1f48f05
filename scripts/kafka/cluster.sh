#!/usr/bin/env bash
# A three-node Apache Kafka (KRaft) cluster for local tests, without Docker: every node is a
# broker and a controller, with a static quorum (controller.quorum.voters). The jars are
# kafka.sh's (same Maven Central fetch, same cache, same Kafka version).
#
# Usage: scripts/kafka/cluster.sh start|stop|status|kill <node>|restart <node>|leader|fetch
#   start          fetch, wipe the run directory, format the three nodes, start them in the
#                  background and wait until all are ready (no-op if all are already up)
#   stop           stop every node of this cluster and wait for them to exit
#   status         one line per node; exit 0 if all three are running and ready
#   kill <node>    SIGKILL node 1, 2 or 3, as a crashed host would; its data stays
#   restart <node> start that node again on its data and wait until it is ready
#   leader         print the node id of the active controller (the KRaft quorum leader)
#   fetch          download the jars into the cache (kafka.sh fetch, and Kafka's tools jar
#                  for `leader`)
#
# Environment:
#   KAFKA_CLUSTER_BASE_PORT  client port of node 1 (default 39092); node n listens for clients
#                            on BASE+n-1 and for controllers on BASE+100+n-1 (39192, 39193, 39194)
#   KAFKA_LOCAL_DIR          cache and run directory (default ~/.cache/tracebus-kafka); the run
#                            directory is cluster-$KAFKA_CLUSTER_BASE_PORT under it
#   KAFKA_VERSION            Kafka version from Maven Central (default 3.9.2)
#   KAFKA_HEAP_OPTS          JVM heap flags of each node (default -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT      seconds to wait for the nodes (default 180)
#
# Clients bootstrap from 127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39094.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=${KAFKA_VERSION:-3.9.2}
BASE=${KAFKA_CLUSTER_BASE_PORT:-39092}
ROOT=${KAFKA_LOCAL_DIR:-$HOME/.cache/tracebus-kafka}
LIBS=$ROOT/libs-$VERSION
TOOLS=$ROOT/tools-$VERSION
RUN=$ROOT/cluster-$BASE
CLUSTER_ID=nit4v9X73W5wRv24c_11rQ
READY="Kafka Server started"
NODES=(1 2 3)
TIMEOUT=${KAFKA_START_TIMEOUT:-180}

read -ra heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
java_opts=("${heap_opts[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$HERE/log4j.properties")

port() { echo $((BASE + $1 - 1)); }
controller_port() { echo $((BASE + 100 + $1 - 1)); }
dir() { echo "$RUN/node-$1"; }
bootstrap() { local n list=(); for n in "${NODES[@]}"; do list+=("127.0.0.1:$(port "$n")"); done; (IFS=,; echo "${list[*]}"); }

node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || { echo "kafka-cluster: expected a node number 1, 2 or 3, got '${1:-}'" >&2; exit 2; }
}

pid() {  # pid of node $1 as this script started it, if it is still running
  local p; p=$(cat "$(dir "$1")/kafka.pid" 2>/dev/null) || return 1
  ps -o args= -p "$p" 2>/dev/null | grep -q "kafka.Kafka $(dir "$1")/server.properties" && echo "$p"
}

ready() {
  local d; d=$(dir "$1")
  # awk, not tail | grep -q: under pipefail, grep leaving early would fail the pipeline.
  pid "$1" >/dev/null && [[ -f $d/started ]] &&
    awk -v from="$(cat "$d/started")" -v ready="$READY" 'NR >= from && index($0, ready) { found = 1; exit } END { exit !found }' "$d/kafka.log" 2>/dev/null &&
    (: </dev/tcp/127.0.0.1/"$(port "$1")") 2>/dev/null
}

fail() { local n; echo "kafka-cluster: $*" >&2; for n in "${NODES[@]}"; do [[ -f $(dir "$n")/kafka.log ]] && { echo "--- node $n" >&2; tail -n 30 "$(dir "$n")/kafka.log" >&2; }; done; stop >&2; exit 1; }

fetch() { bash "$HERE/kafka.sh" fetch; }

fetch_tools() {  # Kafka's tools jar (MetadataQuorumCommand), on its own: the broker does not need it
  fetch
  [[ -f $TOOLS/kafka-tools-$VERSION.jar ]] && return 0
  echo "kafka-cluster: fetching kafka-tools $VERSION from Maven Central into $TOOLS" >&2
  local tmp; tmp=$(mktemp -d "$ROOT/tools.XXXXXX")
  if ! mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="org.apache.kafka:kafka-tools:$VERSION" -DoutputDirectory="$tmp" >"$ROOT/mvn-tools.log" 2>&1; then
    cat "$ROOT/mvn-tools.log" >&2; rm -rf "$tmp"; echo "kafka-cluster: mvn failed" >&2; return 1
  fi
  rm -rf "$TOOLS"; mv "$tmp" "$TOOLS"
}

configure() {  # writes node $1's server.properties
  local voters=() n
  for n in "${NODES[@]}"; do voters+=("$n@127.0.0.1:$(controller_port "$n")"); done
  mkdir -p "$(dir "$1")/data"
  sed -e "s|__NODE_ID__|$1|" -e "s|__DATA_DIR__|$(dir "$1")/data|" -e "s|__PORT__|$(port "$1")|g" \
    -e "s|__CONTROLLER_PORT__|$(controller_port "$1")|g" -e "s|__VOTERS__|$(IFS=,; echo "${voters[*]}")|" \
    "$HERE/cluster.properties" >"$(dir "$1")/server.properties"
}

launch() {  # starts node $1 on its formatted data directory, without waiting
  local d; d=$(dir "$1")
  rm -f "$d/kafka.pid"
  touch "$d/kafka.log"
  echo $(($(wc -l <"$d/kafka.log") + 1)) >"$d/started"
  # New session + nohup: the node outlives the calling shell; $$ becomes the java pid via exec.
  # shellcheck disable=SC2016
  nohup setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$d/kafka.pid" \
    java "${java_opts[@]}" "-Dkafka.logs.dir=$d" -cp "$LIBS/*" kafka.Kafka "$d/server.properties" \
    >>"$d/kafka.log" 2>&1 </dev/null &
}

await_ready() {  # waits until every node given is ready
  local deadline=$((SECONDS + TIMEOUT)) n waiting
  while :; do
    waiting=()
    for n in "$@"; do
      ready "$n" && continue
      waiting+=("$n")
      [[ ! -s $(dir "$n")/kafka.pid ]] || kill -0 "$(cat "$(dir "$n")/kafka.pid")" 2>/dev/null || fail "node $n exited during start-up"
    done
    ((${#waiting[@]} == 0)) && return 0
    ((SECONDS < deadline)) || fail "node(s) ${waiting[*]} not ready after ${TIMEOUT}s"
    sleep 0.25
  done
}

all_ready() { local n; for n in "${NODES[@]}"; do ready "$n" || return 1; done; }

start() {
  if all_ready; then echo "kafka-cluster: already running on $(bootstrap)"; return 0; fi
  stop
  local n p
  for n in "${NODES[@]}"; do
    for p in "$(port "$n")" "$(controller_port "$n")"; do
      if (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
        echo "kafka-cluster: port $p is already in use by another process" >&2; exit 1
      fi
    done
  done
  fetch_tools
  rm -rf "$RUN"
  local formats=()
  for n in "${NODES[@]}"; do
    configure "$n"
    java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
      -t "$CLUSTER_ID" -c "$(dir "$n")/server.properties" >"$(dir "$n")/kafka.log" 2>&1 &
    formats+=($!)
  done
  for p in "${formats[@]}"; do wait "$p" || fail "formatting a node's data directory failed"; done
  for n in "${NODES[@]}"; do launch "$n"; done
  await_ready "${NODES[@]}"
  echo "kafka-cluster: Apache Kafka $VERSION, three nodes ready on $(bootstrap), run directory $RUN"
}

kill_node() {  # SIGKILL; the data directory stays for `restart`
  node_arg "${1:-}"
  local p; p=$(pid "$1") || { echo "kafka-cluster: node $1 is not running" >&2; return 1; }
  kill -9 "$p"
  for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
  rm -f "$(dir "$1")/kafka.pid"
  echo "kafka-cluster: node $1 killed (pid $p)"
}

restart() {
  node_arg "${1:-}"
  if ready "$1"; then echo "kafka-cluster: node $1 already running (pid $(pid "$1"))"; return 0; fi
  [[ -f $(dir "$1")/server.properties ]] || { echo "kafka-cluster: nothing to restart in $(dir "$1"); use start" >&2; exit 1; }
  pid "$1" >/dev/null && kill_node "$1" >/dev/null
  launch "$1"
  await_ready "$1"
  echo "kafka-cluster: node $1 ready on 127.0.0.1:$(port "$1") (pid $(pid "$1"))"
}

stop() {  # all nodes at once: with the quorum gone, a node stopping last would wait in vain
  local n p pids=()
  for n in "${NODES[@]}"; do
    if p=$(pid "$n"); then kill "$p" 2>/dev/null || true; pids+=("$p"); fi
  done
  for _ in $(seq 1 80); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.25
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for n in "${NODES[@]}"; do rm -f "$(dir "$n")/kafka.pid"; done
  ((${#pids[@]} == 0)) || echo "kafka-cluster: stopped (pids ${pids[*]})"
}

status() {
  local n ok=0
  for n in "${NODES[@]}"; do
    if ready "$n"; then echo "kafka-cluster: node $n running on 127.0.0.1:$(port "$n") (pid $(pid "$n"))"
    else echo "kafka-cluster: node $n not running on 127.0.0.1:$(port "$n")"; ok=1; fi
  done
  return $ok
}

leader() {  # kafka-metadata-quorum.sh describe --status, from Kafka's tools jar: its LeaderId
  fetch_tools
  local out
  out=$(java -Xmx128m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="file:$HERE/log4j.properties" \
    -cp "$LIBS/*:$TOOLS/*" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$(bootstrap)" describe --status) ||
    { echo "kafka-cluster: describing the metadata quorum failed" >&2; exit 1; }
  sed -n 's/^LeaderId:[[:space:]]*\([0-9-]*\)$/\1/p' <<<"$out"
}

case "${1:-}" in
  start | stop | status | leader) "$1" ;;
  fetch) fetch_tools ;;
  kill) kill_node "${2:-}" ;;
  restart) restart "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|kill <node>|restart <node>|leader|fetch" >&2; exit 2 ;;
esac
