#!/usr/bin/env bash
# Fetches and runs a real Zipkin server for the Zipkin exporter's integration
# test (core/tests/zipkin_server.rs).
#
# Usage:
#   scripts/zipkin-server.sh fetch          # download the jar into target/zipkin/zipkin.jar
#   scripts/zipkin-server.sh start [PORT]   # fetch if needed, start on 127.0.0.1:PORT
#                                           # (default 9411), wait for /health, print the pid
#   scripts/zipkin-server.sh stop           # stop the server started by `start` (waits <= 20 s)
#
# The jar comes from Maven Central through Maven
# (io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec, default 3.5.1) and needs
# Java 17+. The server binds to the loopback address only, keeps spans in
# memory, and logs to target/zipkin/zipkin.log.
#
# The Rust test starts the jar itself on a free port when the jar exists (or
# ZIPKIN_JAR names one), so `scripts/zipkin-server.sh fetch` followed by
# `cargo test -p osprey --test zipkin_server` is all that is needed.
set -euo pipefail

ZIPKIN_VERSION="${ZIPKIN_VERSION:-3.5.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/target/zipkin"
JAR="${ZIPKIN_JAR:-$DIR/zipkin.jar}"
PIDFILE="$DIR/zipkin.pid"
LOG="$DIR/zipkin.log"

fetch() {
    if [[ -s "$JAR" ]]; then
        return 0
    fi
    mkdir -p "$DIR"
    local tmp
    tmp="$(mktemp -d "$DIR/download.XXXXXX")"
    mvn -q -B dependency:copy \
        "-Dartifact=io.zipkin:zipkin-server:${ZIPKIN_VERSION}:jar:exec" \
        "-DoutputDirectory=$tmp"
    mv "$tmp/zipkin-server-${ZIPKIN_VERSION}-exec.jar" "$JAR"
    rmdir "$tmp"
    echo "fetched zipkin-server ${ZIPKIN_VERSION} into $JAR" >&2
}

start() {
    local port="${1:-9411}"
    fetch
    # Zipkin 3 serves through Armeria; its port list must be given whole to
    # bind a single address (server.port alone listens on every interface).
    java -Xmx256m -jar "$JAR" \
        "--armeria.ports[0].port=$port" \
        "--armeria.ports[0].ip=127.0.0.1" \
        "--armeria.ports[0].protocols[0]=http" \
        >"$LOG" 2>&1 &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    for _ in $(seq 1 120); do
        if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
            echo "$pid"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "zipkin exited early; see $LOG" >&2
            return 1
        fi
        sleep 1
    done
    echo "zipkin did not answer /health within 120 s; see $LOG" >&2
    kill "$pid" 2>/dev/null || true
    return 1
}

stop() {
    if [[ -f "$PIDFILE" ]]; then
        local pid
        pid="$(cat "$PIDFILE")"
        kill "$pid" 2>/dev/null || true
        # Give the JVM up to 20 s to stop, then force it.
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
        rm -f "$PIDFILE"
    fi
}

case "${1:-}" in
    fetch) fetch ;;
    start) shift; start "$@" ;;
    stop) stop ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
