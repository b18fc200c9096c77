#!/usr/bin/env bash
# The demo: a small embedded Tomcat 11 web application (examples/tomcat/demo,
# servlets -> methods -> JDBC on an in-memory H2) under the Osprey Java agent,
# exporting to the local collector (`osprey serve`, with its web viewer) and
# into the agent's local store. Builds libosprey, the agent and the
# collector, fetches Tomcat and H2 from Maven Central, sends a few scripted
# requests, then a minute of mixed traffic from three clients (fast pages,
# 20-step pages, a few slow reports and failures), stops the app, prints the
# first transaction lines, a count per endpoint and the slowest call tree
# read back from the store, and leaves the collector running with the
# viewer's address printed (Ctrl-C stops it): its XLog then shows thousands
# of real dots.
# Usage: bash examples/tomcat/run.sh   (needs cargo, a JDK 17+, mvn, curl)
# Environment: OSPREY_DEMO_PORT (collector port, default 4318),
# OSPREY_DEMO_EXIT=1 (stop the collector at the end instead of waiting),
# OSPREY_DEMO_SECONDS (how long the mixed traffic runs, default 60; 0: none),
# OSPREY_DEMO_GRPC_LISTEN (the collector's OTLP/gRPC address, default 127.0.0.1:4317; off).
# The test examples/tests/tomcat_demo.rs runs it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$root/target/tomcat-demo"
mkdir -p "$work/libs"

# OSPREY_AGENT_JAR: use this agent jar instead of building one.
agent="${OSPREY_AGENT_JAR:-}"
if [ -z "$agent" ]; then
  echo "==> building libosprey and the agent"
  bash scripts/build-agent.sh -DskipTests >/dev/null
  agent="$root/jvm-agent/target/osprey-agent.jar"
fi
# OSPREY_STORE_REPORT: use this store_report binary instead of building one.
report="${OSPREY_STORE_REPORT:-}"
if [ -z "$report" ]; then
  cargo build -q --release -p osprey-examples --bin store_report
  report="$root/target/release/store_report"
fi

# OSPREY_SERVER_BIN: use this `osprey` collector binary instead of building one.
server_bin="${OSPREY_SERVER_BIN:-}"
if [ -z "$server_bin" ]; then
  echo "==> building the collector (osprey serve)"
  cargo build -q --release -p osprey-server --bin osprey
  server_bin="$root/target/release/osprey"
fi
port="${OSPREY_DEMO_PORT:-4318}"
seconds="${OSPREY_DEMO_SECONDS:-60}"
grpc_listen="${OSPREY_DEMO_GRPC_LISTEN:-127.0.0.1:4317}"

echo "==> fetching embedded Tomcat and H2 (Maven Central, once)"
for coords in org.apache.tomcat.embed:tomcat-embed-core:11.0.27 \
              org.apache.tomcat:tomcat-annotations-api:11.0.27 \
              com.h2database:h2:2.5.252; do
  IFS=: read -r _ artifact version <<<"$coords"
  [ -f "$work/libs/$artifact-$version.jar" ] ||
    mvn -q -B dependency:copy -Dartifact="$coords" -DoutputDirectory="$work/libs"
done
cp="$(printf '%s:' "$work"/libs/*.jar)"
rm -rf "$work/classes"
javac --release 17 -nowarn -cp "$cp" -d "$work/classes" examples/tomcat/demo/web/*.java

echo "==> starting the collector on http://127.0.0.1:$port"
rm -rf "$work/collector-data"
"$server_bin" serve --listen "127.0.0.1:$port" --grpc-listen "$grpc_listen" --data "$work/collector-data" >"$work/collector.log" 2>&1 &
collector=$!
app=""
trap 'kill $collector ${app:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && break
  kill -0 "$collector" 2>/dev/null || { cat "$work/collector.log"; exit 1; }
  sleep 0.1
done

echo "==> starting the app under -javaagent"
data="$work/osprey-data"
rm -rf "$data"
java "-javaagent:$agent=hook.methods=demo.web.Work.*,exporter=otlp,store,otlp.endpoint=http://127.0.0.1:$port,store.dir=$data,batch.delay_ms=200,service.name=tomcat-demo" \
  "-Ddemo.lifetime.s=$((seconds + 120))" -cp "$work/classes:$cp" demo.web.WebApp >"$work/app.log" 2>&1 &
app=$!
app_port=""
for _ in $(seq 1 300); do
  app_port="$(sed -n 's/^port=//p' "$work/app.log")"
  [ -n "$app_port" ] && break
  kill -0 "$app" 2>/dev/null || { cat "$work/app.log"; exit 1; }
  sleep 0.1
done
[ -n "$app_port" ] || { echo "the app did not start"; cat "$work/app.log"; exit 1; }

base="http://127.0.0.1:$app_port"
rm -f "$work"/load-*.txt
echo "==> scripted requests on $base"
for id in 42 7 42; do
  curl -s "$base/hello?id=$id&token=not-for-export"; echo
done
curl -s -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
  "$base/hello?id=42"; echo
curl -s "$base/slow?id=42&ms=1500"; echo
curl -s -o /dev/null -w 'GET /fail -> %{http_code}\n' "$base/fail"

# One client: batches of 50 requests on one keep-alive connection until the
# time is up; one HTTP status per line in $work/load-<n>.txt. Of 100 requests
# about 85 are /hello (fast), 12 /bench (20 steps), 1 /slow (0.3-3 s) and 2 /fail.
drive() {
  local out="$work/load-$1.txt" end=$((SECONDS + seconds)) args r
  : >"$out"
  while [ "$SECONDS" -lt "$end" ]; do
    args=()
    for _ in $(seq 1 50); do
      r=$((RANDOM % 100))
      if [ $r -lt 2 ]; then args+=("$base/fail")
      elif [ $r -lt 3 ]; then args+=("$base/slow?id=42&ms=$((300 + RANDOM % 2700))")
      elif [ $r -lt 15 ]; then args+=("$base/bench?id=42")
      else args+=("$base/hello?id=$((RANDOM % 100))")
      fi
      args+=(-o /dev/null)
    done
    curl -s -w '%{http_code}\n' "${args[@]}" >>"$out" || true
  done
}
if [ "$seconds" -gt 0 ]; then
  echo "==> mixed traffic for ${seconds}s from 3 clients (watch it live in the viewer: http://127.0.0.1:$port/)"
  drivers=()
  for n in 1 2 3; do
    drive "$n" &
    drivers+=($!)
  done
  wait "${drivers[@]}"
fi
driven="$(cat "$work"/load-*.txt 2>/dev/null | grep -c '^[1-5]' || true)"
failed="$(cat "$work"/load-*.txt 2>/dev/null | grep -c '^500$' || true)"
echo "drove $driven requests ($failed answered 500) in ${seconds}s"
curl -s "$base/exit"; echo
wait "$app" || true
app=""

echo "==> what the agent recorded (read back from $data)"
"$report" "$data" --lines 12

# Every transaction reaches the collector: the scripted seven and the driven ones.
held="$(curl -s "http://127.0.0.1:$port/api/status" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["index"]["transactions"])')"
echo
echo "The collector holds $held transactions of service tomcat-demo."
echo "Open the viewer: http://127.0.0.1:$port/  (XLog, call trees, server map, inspector, replay)"
if [ "${OSPREY_DEMO_EXIT:-0}" = "1" ]; then
  exit 0
fi
echo "Ctrl-C stops the collector."
wait "$collector"
