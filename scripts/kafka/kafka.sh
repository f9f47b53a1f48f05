#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) broker for local tests, without Docker.
# The broker jars come from Maven Central (pom.xml) and are cached outside the repo.
#
# Usage: scripts/kafka/kafka.sh fetch|start|stop|status|crash|resume
#   fetch   download the jars (once per Kafka version) into the cache
#   start   fetch, wipe the data dir, format it, start the broker in the background
#           and wait until it is ready (no-op if this script's broker is already up)
#   stop    stop the broker started by this script and wait for it to exit
#   status  exit 0 if the broker is running and ready, 1 otherwise
#   crash   SIGKILL the broker, keeping its data (for fault tests)
#   resume  start the broker again on the data it had, and wait until it is ready
#
# Environment:
#   KAFKA_PORT           client port, 127.0.0.1 (default 9092); controller uses KAFKA_PORT+1
#   KAFKA_LOCAL_DIR      cache and run directory (default ~/.cache/tracebus-kafka)
#   KAFKA_VERSION        Kafka version from Maven Central (default 3.9.2)
#   KAFKA_HEAP_OPTS      JVM heap flags (default -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT  seconds to wait for the broker (default 120)
#
# Clients connect to 127.0.0.1:$KAFKA_PORT (not "localhost", which may resolve to ::1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=${KAFKA_VERSION:-3.9.2}
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=$((PORT + 1))
ROOT=${KAFKA_LOCAL_DIR:-$HOME/.cache/tracebus-kafka}
LIBS=$ROOT/libs-$VERSION
RUN=$ROOT/run-$PORT
PIDFILE=$RUN/kafka.pid
LOG=$RUN/kafka.log
CLUSTER_ID=5L6g3nShT-eMCtK--X86sw
READY="Kafka Server started"

read -ra heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
java_opts=("${heap_opts[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$HERE/log4j.properties" "-Dkafka.logs.dir=$RUN")

fetch() {
  [[ -f $LIBS/kafka_2.13-$VERSION.jar ]] && return 0
  echo "kafka: fetching Apache Kafka $VERSION jars from Maven Central into $LIBS"
  mkdir -p "$ROOT"
  local tmp; tmp=$(mktemp -d "$ROOT/libs.XXXXXX")
  if ! mvn -B -q -f "$HERE/pom.xml" -Dkafka.version="$VERSION" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$ROOT/mvn.log" 2>&1; then
    cat "$ROOT/mvn.log" >&2; rm -rf "$tmp"; echo "kafka: mvn failed" >&2; return 1
  fi
  rm -rf "$LIBS"; mv "$tmp" "$LIBS"
}

pid() {  # pid of the broker this script started, if it is still running
  local p; p=$(cat "$PIDFILE" 2>/dev/null) || return 1
  ps -o args= -p "$p" 2>/dev/null | grep -q "kafka.Kafka $RUN/server.properties" && echo "$p"
}

ready() { pid >/dev/null && grep -q "$READY" "$LOG" 2>/dev/null && (: </dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; }

fail() { echo "kafka: $*" >&2; [[ -f $LOG ]] && tail -n 60 "$LOG" >&2; stop; exit 1; }

start() {
  if ready; then echo "kafka: already running on 127.0.0.1:$PORT (pid $(pid))"; return 0; fi
  stop
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
      echo "kafka: port $p is already in use by another process" >&2; exit 1
    fi
  done
  fetch
  rm -rf "$RUN"; mkdir -p "$RUN/data"
  sed -e "s|__DATA_DIR__|$RUN/data|" -e "s|__PORT__|$PORT|g" \
    -e "s|__CONTROLLER_PORT__|$CONTROLLER_PORT|g" "$HERE/server.properties" >"$RUN/server.properties"
  java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$CLUSTER_ID" -c "$RUN/server.properties" >"$LOG" 2>&1 || fail "formatting $RUN/data failed"
  launch
}

launch() {  # runs the broker on the formatted $RUN and waits until it is ready
  local from; from=$(wc -l <"$LOG")
  rm -f "$PIDFILE"
  # New session + nohup: the broker outlives the calling shell; $$ becomes the java pid via exec.
  # shellcheck disable=SC2016
  nohup setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" \
    >>"$LOG" 2>&1 </dev/null &
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
  until tail -n +"$((from + 1))" "$LOG" | grep -q "$READY"; do
    ((SECONDS < deadline)) || fail "not ready after ${KAFKA_START_TIMEOUT:-120}s"
    [[ ! -s $PIDFILE ]] || kill -0 "$(cat "$PIDFILE")" 2>/dev/null || fail "broker exited during start-up"
    sleep 0.25
  done
  echo "kafka: Apache Kafka $VERSION ready on 127.0.0.1:$PORT (pid $(pid)), log $LOG"
}

crash() {  # SIGKILL, as a crashed host would; the data directory stays for `resume`
  local p; p=$(pid) || { echo "kafka: not running" >&2; return 1; }
  kill -9 "$p"
  for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
  rm -f "$PIDFILE"
  echo "kafka: killed (pid $p)"
}

resume() {  # starts the broker again on the data a `crash` or `stop` left
  if ready; then echo "kafka: already running on 127.0.0.1:$PORT (pid $(pid))"; return 0; fi
  [[ -f $RUN/server.properties ]] || { echo "kafka: nothing to resume in $RUN; use start" >&2; exit 1; }
  launch
}

stop() {
  local p; p=$(pid) || { rm -f "$PIDFILE"; return 0; }
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$p" 2>/dev/null; then kill -9 "$p" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$PIDFILE"
  echo "kafka: stopped (pid $p)"
}

status() {
  if ready; then echo "kafka: running on 127.0.0.1:$PORT (pid $(pid))"
  else echo "kafka: not running on 127.0.0.1:$PORT"; return 1; fi
}

case "${1:-}" in
  fetch | start | stop | status | crash | resume) "$1" ;;
  *) echo "usage: $0 fetch|start|stop|status|crash|resume" >&2; exit 2 ;;
esac
