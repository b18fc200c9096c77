#!/usr/bin/env bash
# The Java agent under load (issue #3): the demo Tomcat app (examples/tomcat/demo)
# serving /bench?id=42 (servlet -> 20 method steps -> 2 SQL statements on H2)
# under wrk, in one run, with no agent, the Osprey agent and the OpenTelemetry
# Java agent. Both agents export OTLP http/protobuf to a local sink
# (benches/jvm/sink.py) that answers 200 and counts what it receives; a run in
# which an agent sent no traces naming Work.chain and SQL fails. Prints a
# markdown table (throughput, p50/p99 latency, start-up, bytes allocated and JVM CPU time per
# request) and the ratios the issue targets. Results belong in
# BENCHMARKS.md as ratios, from a quiet machine.
#
# Usage: bash benches/jvm/run.sh
# Needs: wrk (Debian package), mvn, curl, python3, a JDK 17 (BENCH_JDK below),
# and cargo unless OSPREY_AGENT_JAR is given.
# Environment (defaults in brackets):
#   WARMUP [10s] DURATION [30s]   wrk durations: warm-up, then the measured run
#   THREADS [1] CONNECTIONS [8]   wrk -t / -c
#   STARTS [3]                    start-ups per configuration (median reported)
#   ROUNDS [1]                    runs of all of CONFIGS, interleaved (none osprey otel none
#                                 osprey otel ...); the table then shows each configuration's
#                                 medians and the losses are also given per round. A single
#                                 run moves by +-10 % on two shared cores: use 5 or more
#   CONFIGS ["none osprey otel"]  which configurations, in this order; also
#                                 osprey_summaries: as osprey, also sending a summary span
#                                 for each transaction past the tree budget
#                                 (otlp.summaries=on, as it is by default towards an
#                                 Osprey server; the sink is not one);
#                                 osprey_store: Osprey writing to its local store
#                                 (the no-collector default) instead of OTLP;
#                                 osprey_alltrees: Osprey exporting every call tree
#                                 (the agent keeps 1000 ordinary trees a second by
#                                 default and exports the rest without their steps);
#                                 noop_agent / noop_agent_rt: a -javaagent whose premain
#                                 does nothing (benches/jvm/noop), without / with
#                                 Can-Retransform-Classes in its manifest (the cost of
#                                 any agent at all: -javaagent implies --add-modules
#                                 java.instrument, so the JVM resolves its module graph
#                                 at start-up instead of using the pre-resolved one, and
#                                 here C2 then usually stops scalar-replacing H2's
#                                 HashSet iterators: ~245 B/request on JDK 17 and 25)
#   OSPREY_AGENT_JAR              use this agent jar instead of building one
#   BENCH_JDK [/usr/lib/jvm/java-17-openjdk-amd64]   JVM_OPTS [-Xms512m -Xmx512m]
#   JFR                           if set, a flight recording per configuration with these
#                                 settings (default, profile or a .jfc path), in
#                                 target/jvm-bench/<config>.jfr
# Besides the table: the bytes allocated per request split by thread group (request
# threads *-exec-*, the connector's other http-nio-* threads, the agent's osprey-*
# threads, the rest), from /stats?threads=1 before and after the measured run.
# Smoke run: WARMUP=3s DURATION=5s STARTS=1 bash benches/jvm/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

TOMCAT_VERSION=11.0.27
H2_VERSION=2.5.252

WARMUP="${WARMUP:-10s}"
DURATION="${DURATION:-30s}"
STARTS="${STARTS:-3}"
ROUNDS="${ROUNDS:-1}"
work="$root/target/jvm-bench"
mkdir -p "$work/libs" "$work/agents"
rm -rf "$work/store"
# shellcheck source=benches/jvm/common.sh
source benches/jvm/common.sh

check_tools "$jdk/bin/javac"
osprey_agent

echo "==> fetching Tomcat $TOMCAT_VERSION, H2 $H2_VERSION, opentelemetry-javaagent $OTEL_AGENT_VERSION (Maven Central, once)"
fetch "org.apache.tomcat.embed:tomcat-embed-core:$TOMCAT_VERSION" "$work/libs"
fetch "org.apache.tomcat:tomcat-annotations-api:$TOMCAT_VERSION" "$work/libs"
fetch "com.h2database:h2:$H2_VERSION" "$work/libs"
fetch "io.opentelemetry.javaagent:opentelemetry-javaagent:$OTEL_AGENT_VERSION" "$work/agents"
cp="$work/libs/tomcat-embed-core-$TOMCAT_VERSION.jar:$work/libs/tomcat-annotations-api-$TOMCAT_VERSION.jar:$work/libs/h2-$H2_VERSION.jar"
rm -rf "$work/classes"
"$jdk/bin/javac" --release 17 -nowarn -cp "$cp" -d "$work/classes" examples/tomcat/demo/web/*.java
if [[ " $CONFIGS " == *" noop_agent"* ]]; then
  rm -rf "$work/noop"
  "$jdk/bin/javac" --release 8 -nowarn -d "$work/noop/classes" benches/jvm/noop/NoopAgent.java 2>/dev/null
  printf 'Premain-Class: bench.NoopAgent\n' >"$work/noop/plain.mf"
  printf 'Premain-Class: bench.NoopAgent\nCan-Retransform-Classes: true\n' >"$work/noop/rt.mf"
  "$jdk/bin/jar" cfm "$work/noop/noop-agent.jar" "$work/noop/plain.mf" -C "$work/noop/classes" .
  "$jdk/bin/jar" cfm "$work/noop/noop-agent-rt.jar" "$work/noop/rt.mf" -C "$work/noop/classes" .
fi

start_sink

agent_opts() { # config -> the JVM options that load its agent
  case "$1" in
    none) ;;
    osprey)
      echo "-javaagent:$agent=hook.methods=demo.web.Work.*,exporter=otlp,otlp.endpoint=$sink_url,service.name=bench" ;;
    osprey_alltrees)
      echo "-javaagent:$agent=hook.methods=demo.web.Work.*,exporter=otlp,otlp.endpoint=$sink_url,service.name=bench,sample.trees_per_second=unlimited" ;;
    osprey_summaries)
      echo "-javaagent:$agent=hook.methods=demo.web.Work.*,exporter=otlp,otlp.endpoint=$sink_url,service.name=bench,otlp.summaries=on" ;;
    osprey_store)
      echo "-javaagent:$agent=hook.methods=demo.web.Work.*,exporter=store,store.dir=$work/store,service.name=bench" ;;
    noop_agent) echo "-javaagent:$work/noop/noop-agent.jar" ;;
    noop_agent_rt) echo "-javaagent:$work/noop/noop-agent-rt.jar" ;;
    otel) echo "$(otel_opts bench) -Dotel.instrumentation.methods.include=demo.web.Work[chain,inner,outer]" ;;
    *) echo "unknown configuration: $1" >&2; return 1 ;;
  esac
}

# Starts the app; sets app (pid), port and startup_ms (spawn -> the `port=` line,
# read from a pipe, no polling).
start_app() { # config log
  local opts
  read -r -a opts <<<"$(agent_opts "$1")"
  if [ -n "${JFR:-}" ]; then
    opts+=("-XX:StartFlightRecording=settings=$JFR,filename=$work/$1.jfr")
  fi
  spawn_app "$2" "$java" "${jvm_opts[@]}" "${opts[@]}" -Ddemo.lifetime.s=3600 \
    -cp "$work/classes:$cp" demo.web.WebApp
  read_app "$2" 'port=*' 120
  startup_ms="$line_ms"
  [ -n "$port" ] || { echo "the app did not start ($1)"; cat "$2" "$2.err"; exit 1; }
}

stop_app() {
  curl -s -o /dev/null "http://127.0.0.1:$port/exit" || true
  reap_app /exit TERM
}

allocated() { curl -s "http://127.0.0.1:$port/stats" | sed -n 's/^allocated_bytes=//p'; }

by_thread() { # file -> /stats?threads=1 saved there
  curl -s "http://127.0.0.1:$port/stats?threads=1" >"$1"
}

thread_groups() { # before after requests -> bytes per request by thread group (threads alive at the end)
  awk -F'\t' -v n="$3" '
    FNR == NR { if ($1 == "thread") b[$2] = $3; next }
    $1 == "thread" {
      d = $3 - b[$2]; name = $4
      if (name ~ /-exec-[0-9]+$/) g = "request"
      else if (name ~ /^http-nio-/) g = "connector"
      else if (name ~ /^osprey-/) g = "agent"
      else g = "other"
      sum[g] += d
      if (g != "request" && d > 0) top[name] += d
    }
    END {
      printf "request %.1f connector %.1f agent %.1f other %.1f", sum["request"] / n, sum["connector"] / n,
        sum["agent"] / n, sum["other"] / n
      for (t in top) if (top[t] / n >= 0.5) printf "; %s %.1f", t, top[t] / n
      printf "\n"
    }' "$1" "$2"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.tsv"
: >"$work/thread-groups.txt"
printf 'config\trps\tp50_ms\tp99_ms\tstartup_ms\talloc_per_req\trequests\ttraces_posts\ttraces_bytes\tjvm_cpu_us_per_req\tround\n' >"$results"
for round in $(seq 1 "$ROUNDS"); do
for config in $CONFIGS; do
  echo "==> $config (round $round of $ROUNDS)"
  log="$work/app-$config.log"
  : >"$log"
  starts=""
  for i in $(seq 1 "$STARTS"); do
    start_app "$config" "$log"
    starts="$starts $startup_ms"
    echo "start-up $i: $startup_ms ms"
    if [ "$i" -lt "$STARTS" ]; then stop_app; fi
  done
  startup=$(echo "$starts" | median)
  before_sink="$(curl -s "$sink_url/counts")"
  url="http://127.0.0.1:$port/bench?id=42"
  answer="$(curl -s "$url")"
  [ "$answer" = "bench widget widget" ] || { echo "unexpected answer: $answer"; exit 1; }
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >"$work/wrk-$config-warmup.txt"
  by_thread "$work/threads-$config-before.txt"
  a0="$(allocated)"
  c0="$(cpu_ticks)"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" | tee "$work/wrk-$config.txt"
  c1="$(cpu_ticks)"
  a1="$(allocated)"
  by_thread "$work/threads-$config-after.txt"
  stop_app # the agents flush at shutdown
  after_sink="$(curl -s "$sink_url/counts")"
  wrk_numbers "$work/wrk-$config.txt" "$config"
  alloc=$(( (a1 - a0) / requests ))
  cpu_us=$(per_request_us $(( c1 - c0 )) "$requests")
  echo "$config: $(thread_groups "$work/threads-$config-before.txt" "$work/threads-$config-after.txt" "$requests")" \
    >>"$work/thread-groups.txt"
  posts=$(delta posts); bytes=$(delta bytes); chain=$(delta chain); sql=$(delta sql)
  echo "sink, during warm-up, load run and shutdown: $posts POSTs to /v1/traces, $bytes bytes;" \
    "of the one in 16 inspected, $chain name Work.chain, $sql carry SQL"
  echo "sink totals so far:"; sed 's/^/  /' <<<"${after_sink:-(nothing)}"
  if [ "$config" = osprey_store ]; then
    # The local store instead of the sink: its bytes, and the names in them.
    bytes=$(du -sb "$work/store" | cut -f1)
    if ! grep -rqa 'Work.chain' "$work/store" || ! grep -rqa 'SELECT' "$work/store"; then
      echo "FAILED: $config stored no call trees with method steps and SQL in $work/store"
      exit 1
    fi
  elif [ "$config" != none ] && [[ "$config" != noop_agent* ]] && { [ "$posts" -le 0 ] || [ "$chain" -le 0 ] || [ "$sql" -le 0 ]; }; then
    echo "FAILED: $config sent no traces with method steps and SQL to the sink (see $log, $log.err)"
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$rps" "$p50" "$p99" "$startup" \
    "$alloc" "$requests" "$posts" "$bytes" "$cpu_us" "$round" >>"$results"
done
done

{
echo
echo "## Java agent under load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION after $WARMUP warm-up, /bench?id=42"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(host_line)" \
  "Tomcat $TOMCAT_VERSION, H2 $H2_VERSION, opentelemetry-javaagent $OTEL_AGENT_VERSION, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo
awk -F'\t' "$awk_stats"'
  NR == 1 { next }
  {
    k = $1; if (!(k in runs)) order[++nc] = k
    runs[k]++; rps[k] = rps[k] " " $2; p50[k] = p50[k] " " $3; p99[k] = p99[k] " " $4; st[k] = st[k] " " $5
    al[k] = al[k] " " $6; tp[k] = tp[k] " " $8; tb[k] = tb[k] " " $9; cpu[k] = cpu[k] " " $10
    by_round[k, $11] = $2; if ($11 > rounds) rounds = $11
  }
  END {
    for (i = 1; i <= nc; i++) { k = order[i]
      R[k] = median(rps[k]); P50[k] = median(p50[k]); P99[k] = median(p99[k]); ST[k] = median(st[k])
      AL[k] = median(al[k]); TP[k] = median(tp[k]); TB[k] = median(tb[k]); CPU[k] = median(cpu[k]) }
    if (rounds > 1) printf "Medians of %d interleaved rounds.\n\n", rounds
    print "| configuration | requests/s | p50 ms | p99 ms | start-up ms (median) | bytes allocated / request | JVM CPU µs / request | traces POSTs / bytes (store: bytes on disk) |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nc; i++) { k = order[i]
      printf "| %s | %.0f | %.3f | %.3f | %d | %d | %.1f | %d / %.0f |\n", k, R[k], P50[k], P99[k], ST[k], AL[k], CPU[k], TP[k], TB[k] }
    if (!("none" in R)) exit
    print ""
    if ("osprey" in R) { lo = 100 * (1 - R["osprey"] / R["none"])
      printf "- Osprey throughput loss: %.2f %% (target <= 3 %%)\n", lo
      printf "- Osprey start-up added: %d ms (target <= 300 ms)\n", ST["osprey"] - ST["none"]
      printf "- Osprey allocation added per request: %d B (target <= 256 B)\n", AL["osprey"] - AL["none"]
      printf "- Osprey JVM CPU added per request: %.1f us (%.1f %%)\n", CPU["osprey"] - CPU["none"], 100 * (CPU["osprey"] / CPU["none"] - 1)
      if ("noop_agent" in R)
        printf "- Osprey allocation added per request over a no-op -javaagent: %d B\n", AL["osprey"] - AL["noop_agent"] }
    for (i = 1; i <= nc; i++) if (order[i] ~ /^osprey_/)
      printf "- %s throughput loss: %.2f %%\n", order[i], 100 * (1 - R[order[i]] / R["none"])
    if ("otel" in R) { lt = 100 * (1 - R["otel"] / R["none"])
      printf "- OpenTelemetry throughput loss: %.2f %%\n", lt
      printf "- OpenTelemetry start-up added: %d ms\n", ST["otel"] - ST["none"]
      printf "- OpenTelemetry allocation added per request: %d B\n", AL["otel"] - AL["none"] }
    if (("osprey" in R) && ("otel" in R)) {
      if (lt > 0) printf "- Osprey loss / OpenTelemetry loss: %.2f (target <= 0.33)\n", lo / lt
      else print "- Osprey loss / OpenTelemetry loss: n/a (OpenTelemetry lost no throughput in this run)" }
    if (rounds > 1) for (i = 1; i <= nc; i++) { k = order[i]; if (k == "none") continue
      line = ""; for (r = 1; r <= rounds; r++) if (((k, r) in by_round) && (("none", r) in by_round))
        line = line sprintf(" %.1f", 100 * (1 - by_round[k, r] / by_round["none", r]))
      printf "- %s throughput loss per round (%%):%s\n", k, line }
  }' "$results"
echo
echo "Bytes allocated / request by thread group (threads alive at the end of the run):"
echo
sed 's/^/- /' "$work/thread-groups.txt"
} | tee "$work/report.md"
echo
echo "raw: $work/results.tsv, wrk output $work/wrk-*.txt, app logs $work/app-*.log"
