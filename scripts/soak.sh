#!/usr/bin/env bash
# Soak: the Tomcat demo (examples/tomcat) under the Java agent with every
# call tree exported (OTLP to `osprey serve`, plus the agent's local store),
# driven by wrk at a steady rate for SOAK_MINUTES. Every SOAK_SAMPLE_S
# seconds it samples the JVM (live heap after a GC, native RSS, threads,
# file descriptors) and the server (RSS, threads, fds) into a CSV, then
# prints the totals, a flatness check (the last quarter against the first,
# after warm-up; the server's RSS, which grows with its hot segment until
# that is sealed, is held to its memory budget instead) and ASCII plots,
# and fails when something grew or the server went past its budget.
#
# Usage:   bash scripts/soak.sh                     # 30 minutes (the documented run)
#          SOAK_MINUTES=4 bash scripts/soak.sh      # a short run
# Environment:
#   SOAK_MINUTES (30), SOAK_SAMPLE_S (10), SOAK_CONNECTIONS (4),
#   SOAK_DELAY_MS (10: each connection waits this long between requests,
#     so the rate is at most CONNECTIONS * 1000 / DELAY_MS requests/s),
#   SOAK_OUT (target/soak: CSV, logs, report),
#   OSPREY_AGENT_JAR, OSPREY_SERVER_BIN (prebuilt artifacts; otherwise
#     built in release mode), JAVA_HOME.
# Needs: cargo, a JDK 17+ (java, javac, jcmd), mvn, wrk, curl, python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
minutes="${SOAK_MINUTES:-30}"
sample_s="${SOAK_SAMPLE_S:-10}"
connections="${SOAK_CONNECTIONS:-4}"
delay_ms="${SOAK_DELAY_MS:-10}"
out="${SOAK_OUT:-$root/target/soak}"
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
javac_bin="${JAVA_HOME:+$JAVA_HOME/bin/}javac"
jcmd_bin="${JAVA_HOME:+$JAVA_HOME/bin/}jcmd"
mkdir -p "$out/libs"
rm -rf "$out/server-data" "$out/agent-store" "$out/classes"

agent="${OSPREY_AGENT_JAR:-}"
if [ -z "$agent" ]; then
  bash scripts/build-agent.sh -DskipTests >/dev/null
  agent="$root/jvm-agent/target/osprey-agent.jar"
fi
server_bin="${OSPREY_SERVER_BIN:-}"
if [ -z "$server_bin" ]; then
  cargo build -q --release -p osprey-server --bin osprey
  server_bin="$root/target/release/osprey"
fi
for coords in org.apache.tomcat.embed:tomcat-embed-core:11.0.27 \
              org.apache.tomcat:tomcat-annotations-api:11.0.27 \
              com.h2database:h2:2.5.252; do
  IFS=: read -r _ artifact version <<<"$coords"
  [ -f "$out/libs/$artifact-$version.jar" ] ||
    mvn -q -B dependency:copy -Dartifact="$coords" -DoutputDirectory="$out/libs"
done
cp="$(printf '%s:' "$out"/libs/*.jar)"
"$javac_bin" --release 17 -nowarn -cp "$cp" -d "$out/classes" examples/tomcat/demo/web/*.java

# The server's memory budget (server/README.md, "Memory"): two hot segments
# of --max-transactions at about 500 B each, the query cache, and 96 MiB for
# the process itself and the requests being decoded (4 at once).
max_txn=50000
cache=$((32 << 20))
budget_kib=$(( (2 * max_txn * 500 + cache + (96 << 20)) / 1024 ))
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$server_bin" serve --listen "127.0.0.1:$port" --grpc-listen off --data "$out/server-data" \
  --max-transactions "$max_txn" --cache-bytes "$cache" >"$out/server.log" 2>&1 &
server=$!
app=""
load=""
trap 'kill $server ${app:-} ${load:-} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && break
  sleep 0.1
done

seconds=$((minutes * 60))
"$java_bin" "-javaagent:$agent=hook.methods=demo.web.Work.*,exporter=otlp,store,otlp.endpoint=http://127.0.0.1:$port,store.dir=$out/agent-store,store.max_bytes=268435456,batch.delay_ms=200,sample.trees_per_second=1000000,service.name=soak" \
  -Xmx256m "-Ddemo.lifetime.s=$((seconds + 300))" -cp "$out/classes:$cp" demo.web.WebApp >"$out/app.log" 2>&1 &
app=$!
app_port=""
for _ in $(seq 1 300); do
  app_port="$(sed -n 's/^port=//p' "$out/app.log")"
  [ -n "$app_port" ] && break
  sleep 0.1
done
[ -n "$app_port" ] || { cat "$out/app.log"; exit 1; }
base="http://127.0.0.1:$app_port"

# 85 % /hello (2 methods, 2 SQL), 12 % /bench (20 methods, 2 SQL), 3 % /fail.
cat >"$out/mix.lua" <<EOF
local paths = {}
for i = 1, 85 do paths[#paths + 1] = "/hello?id=" .. (i % 50) end
for i = 1, 12 do paths[#paths + 1] = "/bench?id=42" end
for i = 1, 3 do paths[#paths + 1] = "/fail" end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
delay = function() return $delay_ms end
EOF
wrk -t1 "-c$connections" "-d${seconds}s" --latency -s "$out/mix.lua" "$base" >"$out/wrk.txt" 2>&1 &
load=$!

csv="$out/samples.csv"
echo "t_s,jvm_heap_live_kib,jvm_rss_kib,jvm_threads,jvm_fds,server_rss_kib,server_threads,server_fds,server_transactions,server_sealed" >"$csv"
status_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
started=$SECONDS
while kill -0 "$load" 2>/dev/null; do
  t=$((SECONDS - started))
  # The live heap: what a full GC leaves (GC.heap_info after GC.run).
  "$jcmd_bin" "$app" GC.run >/dev/null 2>&1 || true
  heap="$("$jcmd_bin" "$app" GC.heap_info 2>/dev/null |
    sed -n 's/.*total [0-9]*K, used \([0-9]*\)K.*/\1/p' | head -1)"
  held="$(curl -s "http://127.0.0.1:$port/api/status" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["index"]["transactions"])' 2>/dev/null || echo 0)"
  echo "$t,${heap:-0},$(status_of "$app" VmRSS),$(status_of "$app" Threads),$(ls "/proc/$app/fd" | wc -l),$(status_of "$server" VmRSS),$(status_of "$server" Threads),$(ls "/proc/$server/fd" | wc -l),$held,$(find "$out/server-data" -name '*.osx' | wc -l)" >>"$csv"
  sleep "$sample_s"
done
wait "$load" || true
load=""
curl -s "$base/exit" >/dev/null || true
wait "$app" || true
app=""
sleep 2
held="$(curl -s "http://127.0.0.1:$port/api/status" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["index"]["transactions"])')"

python3 scripts/soak_report.py "$csv" "$out/wrk.txt" "$held" "$budget_kib" | tee "$out/report.txt"
