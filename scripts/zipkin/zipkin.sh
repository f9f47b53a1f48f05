#!/usr/bin/env bash
# Zipkin server with in-memory storage, a trace UI without Docker. The server is the
# executable jar io.zipkin:zipkin-server:<version>:exec from Maven Central (about 131 MB),
# fetched with Maven and cached outside the repo.
#
# Usage: scripts/zipkin/zipkin.sh fetch|start|stop|status
#   fetch   download the jar (once per Zipkin version) into the cache
#   start   fetch, start the server in the background on 127.0.0.1:$ZIPKIN_PORT and wait
#           until GET /health answers UP (no-op if this script's server is already up)
#   stop    stop the server started by this script and wait for it to exit
#   status  exit 0 if the server is running and healthy, 1 otherwise
#
# Environment:
#   ZIPKIN_PORT           HTTP port, 127.0.0.1 only (default 9411): UI at /zipkin/,
#                         spans in at /api/v2/spans, traces out at /api/v2/trace/{traceId}
#   ZIPKIN_VERSION        zipkin-server version from Maven Central (default 3.5.1)
#   ZIPKIN_LOCAL_DIR      cache and run directory (default ~/.cache/tracebus-zipkin)
#   ZIPKIN_HEAP_OPTS      JVM heap flags (default -Xms64m -Xmx256m)
#   ZIPKIN_START_TIMEOUT  seconds to wait for the server (default 120)
#
# Traces are kept in memory only and are gone when the server stops.
# Send spans with OTEL_TRACES_EXPORTER=zipkin (examples/support/tracing.ts), which posts to
# OTEL_EXPORTER_ZIPKIN_ENDPOINT (default http://localhost:9411/api/v2/spans).
set -euo pipefail

VERSION=${ZIPKIN_VERSION:-3.5.1}
PORT=${ZIPKIN_PORT:-9411}
ROOT=${ZIPKIN_LOCAL_DIR:-$HOME/.cache/tracebus-zipkin}
JAR=$ROOT/zipkin-server-$VERSION-exec.jar
RUN=$ROOT/run-$PORT
PIDFILE=$RUN/zipkin.pid
LOG=$RUN/zipkin.log
TIMEOUT=${ZIPKIN_START_TIMEOUT:-120}

read -ra heap_opts <<<"${ZIPKIN_HEAP_OPTS:--Xms64m -Xmx256m}"
java_opts=("${heap_opts[@]}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
# Zipkin reads its settings from the environment (zipkin-server-shared.yml) and from Spring
# arguments. The port list is replaced whole, so the loopback entry names port and protocol too.
server_env=(STORAGE_TYPE=mem SELF_TRACING_ENABLED=false QUERY_PORT="$PORT")
server_args=("--server.port=$PORT" "--armeria.ports[0].ip=127.0.0.1" "--armeria.ports[0].port=$PORT"
  "--armeria.ports[0].protocols[0]=http")

fetch() {
  [[ -f $JAR ]] && return 0
  echo "zipkin: fetching io.zipkin:zipkin-server:$VERSION:exec from Maven Central into $ROOT"
  mkdir -p "$ROOT"
  local tmp; tmp=$(mktemp -d "$ROOT/fetch.XXXXXX")
  if ! mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="io.zipkin:zipkin-server:$VERSION:jar:exec" -DoutputDirectory="$tmp" \
      >"$ROOT/mvn.log" 2>&1; then
    cat "$ROOT/mvn.log" >&2; rm -rf "$tmp"; echo "zipkin: mvn failed" >&2; return 1
  fi
  mv "$tmp/zipkin-server-$VERSION-exec.jar" "$JAR"; rm -rf "$tmp"
}

pid() {  # pid of the server this script started, if it is still running
  local p; p=$(cat "$PIDFILE" 2>/dev/null) || return 1
  ps -o args= -p "$p" 2>/dev/null | grep -qF -- "-jar $ROOT/zipkin-server-" && echo "$p"
}

healthy() {  # GET /health answers 200 with "status" : "UP"
  local answer up='"status" *: *"UP"'
  answer=$({ exec 3<>/dev/tcp/127.0.0.1/"$PORT" &&
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && timeout 5 cat <&3; } 2>/dev/null) || return 1
  [[ $answer == "HTTP/1."?" 200"* && $answer =~ $up ]]
}

ready() { pid >/dev/null && healthy; }

fail() { echo "zipkin: $*" >&2; [[ -f $LOG ]] && tail -n 60 "$LOG" >&2; stop; exit 1; }

start() {
  if ready; then echo "zipkin: already running on http://127.0.0.1:$PORT (pid $(pid))"; return 0; fi
  stop
  if (: </dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "zipkin: port $PORT is already in use by another process" >&2; exit 1
  fi
  fetch
  rm -rf "$RUN"; mkdir -p "$RUN"
  # New session + nohup: the server outlives the calling shell; $$ becomes the java pid via exec.
  # shellcheck disable=SC2016
  nohup setsid env "${server_env[@]}" bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    java "${java_opts[@]}" -jar "$JAR" "${server_args[@]}" >"$LOG" 2>&1 </dev/null &
  local deadline=$((SECONDS + TIMEOUT))
  until healthy; do
    ((SECONDS < deadline)) || fail "not healthy after ${TIMEOUT}s"
    [[ ! -s $PIDFILE ]] || kill -0 "$(cat "$PIDFILE")" 2>/dev/null || fail "server exited during start-up"
    sleep 0.5
  done
  echo "zipkin: Zipkin $VERSION ready on http://127.0.0.1:$PORT (pid $(pid)), log $LOG"
}

stop() {
  local p; p=$(pid) || { rm -f "$PIDFILE"; return 0; }
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$p" 2>/dev/null; then kill -9 "$p" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$PIDFILE"
  echo "zipkin: stopped (pid $p)"
}

status() {
  if ready; then echo "zipkin: running on http://127.0.0.1:$PORT (pid $(pid))"
  else echo "zipkin: not running on http://127.0.0.1:$PORT"; return 1; fi
}

case "${1:-}" in
  fetch | start | stop | status) "$1" ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
