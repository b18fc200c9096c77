#!/usr/bin/env bash
# The Java agents on a Spring Boot application (issue 11, "Measured"): the Spring Boot 3.5
# application in benches/jvm/spring (Spring MVC on embedded Tomcat, GET /owners/{id} reading an
# owner through a Spring Data JPA repository, Hibernate, from in-memory H2), run as a fat jar
# (`java -jar`) with no agent, the Osprey agent (route naming and framework steps on, as by
# default) and the OpenTelemetry Java agent (its defaults), in ROUNDS interleaved rounds
# (none osprey otel none osprey otel ...). Each round starts every configuration afresh, times
# its start-up, loads it with wrk and stops it. Both agents export OTLP http/protobuf to
# benches/jvm/sink.py; a run in which an agent sent no traces naming the route `/owners/{id}`,
# the repository and SQL fails. Prints medians, ratios and their spread over the rounds.
#
# Usage: bash benches/jvm/spring.sh
# Needs: wrk (Debian package), mvn, curl, python3, a JDK 17 (BENCH_JDK), and cargo unless
# OSPREY_AGENT_JAR is given.
# Environment (defaults in brackets):
#   ROUNDS [5]                    interleaved rounds; one start-up and one load run per
#                                 configuration and round (so ROUNDS start-ups each)
#   WARMUP [15s] DURATION [20s]   wrk durations: warm-up, then the measured run
#   THREADS [1] CONNECTIONS [8]   wrk -t / -c
#   CONFIGS ["none osprey otel"]  which configurations, in this order
#   OSPREY_AGENT_JAR              use this agent jar instead of building one
#   BENCH_JDK [/usr/lib/jvm/java-17-openjdk-amd64]   JVM_OPTS [-Xms512m -Xmx512m]
# Start-up is timed from spawning the JVM to (a) the "Started BenchApplication in" log line and
# (b) the first 200 answer to GET /owners/100 (curl every 20 ms once the port is printed): Spring
# Boot logs "Started" before it runs the CommandLineRunner that stores the owners, and owner 100
# is the last one stored.
# JVM CPU per request: utime + stime of the JVM (/proc/PID/stat) over the measured wrk run,
# divided by the requests wrk completed.
# Smoke run: ROUNDS=1 WARMUP=3s DURATION=5s bash benches/jvm/spring.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

ROUNDS="${ROUNDS:-5}"
WARMUP="${WARMUP:-15s}"
DURATION="${DURATION:-20s}"
work="$root/target/jvm-bench/spring"
mkdir -p "$work/agents"
# shellcheck source=benches/jvm/common.sh
source benches/jvm/common.sh

check_tools
osprey_agent

echo "==> building the Spring Boot application; fetching opentelemetry-javaagent $OTEL_AGENT_VERSION (Maven Central, once)"
(cd benches/jvm/spring && mvn -q -B package -DskipTests -Dspring.bench.build.dir="$work/app")
jar="$work/app/spring-bench.jar"
fetch "io.opentelemetry.javaagent:opentelemetry-javaagent:$OTEL_AGENT_VERSION" "$work/agents"

# An agent sends a few POSTs a second here; the first ones carry the start-up's INSERTs: look into
# one in 4 so that the load run's traces are seen. Marks counted in the inspected bodies: the
# route, the repository step, the controller step and the SQL of findById (Hibernate 6 writes it
# in lower case: `select ... from owner o1_0 ...`).
export SINK_INSPECT_EVERY=4
start_sink '/owners/{id}' 'OwnerRepository' 'OwnerController' 'from owner'

agent_opts() { # config -> the JVM options that load its agent
  case "$1" in
    none) ;;
    osprey) echo "-javaagent:$agent=exporter=otlp,otlp.endpoint=$sink_url,service.name=spring-bench" ;;
    otel) otel_opts spring-bench ;;
    *) echo "unknown configuration: $1" >&2; return 1 ;;
  esac
}

# Starts the app; sets app (pid), port, started_ms (spawn -> "Started BenchApplication in")
# and first_ms (spawn -> first 200 from GET /owners/100, the last owner stored).
start_app() { # config log
  local opts
  read -r -a opts <<<"$(agent_opts "$1")"
  spawn_app "$2" "$java" "${jvm_opts[@]}" "${opts[@]}" -jar "$jar"
  read_app "$2" '*Started BenchApplication in*' 300
  started_ms="$line_ms"
  [ -n "$port" ] && [ -n "$started_ms" ] || { echo "the app did not start ($1)"; cat "$2" "$2.err"; exit 1; }
  first_ms=""
  for _ in $(seq 1 3000); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/owners/100")" = 200 ]; then
      first_ms=$(( ($(now_us) - t0) / 1000 ))
      break
    fi
    sleep 0.02
  done
  [ -n "$first_ms" ] || { echo "GET /owners/100 never answered 200 ($1)"; exit 1; }
}

stop_app() { # SIGTERM: Spring closes its context, the agents flush at shutdown
  kill -TERM "$app" 2>/dev/null || true
  reap_app SIGTERM KILL
}

# The CPU time so far of each JIT compiler thread of the app (C1/C2 CompilerThreadN) as
# "tid ticks" lines into a file. JDK 17 starts and ends compiler threads as needed: one that
# ended between two readings is missed, so this is a lower bound.
jit_ticks() { # file
  local t comm
  for t in /proc/"$app"/task/*; do
    comm="$(cat "$t/comm" 2>/dev/null)" || continue
    [[ "$comm" == C[12]\ Compiler* ]] || continue
    echo "${t##*/} $(sed 's/^.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
  done >"$1"
}

run_start="$(date -u '+%Y-%m-%d %H:%M')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.tsv"
printf 'config\tround\trps\tp50_ms\tp99_ms\tstarted_ms\tfirst_ms\tjvm_cpu_us_per_req\trequests\tposts\tbytes\tload1\tjit_cpu_us_per_req\n' >"$results"
for round in $(seq 1 "$ROUNDS"); do
for config in $CONFIGS; do
  echo "==> $config (round $round of $ROUNDS)"
  log="$work/app-$config-$round.log"
  : >"$log"
  start_app "$config" "$log"
  echo "start-up: 'Started' line $started_ms ms, first 200 $first_ms ms"
  before_sink="$(curl -s "$sink_url/counts")"
  answer="$(curl -s "http://127.0.0.1:$port/owners/42")"
  [ "$answer" = "owner 42: First42 Last42, McFarland" ] || { echo "unexpected answer: $answer"; exit 1; }
  url="http://127.0.0.1:$port"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/jvm/spring/owners.lua "$url" >"$work/wrk-$config-$round-warmup.txt"
  jit_ticks "$work/jit-before"
  c0="$(cpu_ticks)"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/jvm/spring/owners.lua "$url" >"$work/wrk-$config-$round.txt"
  c1="$(cpu_ticks)"
  jit_ticks "$work/jit-after"
  load1="$(cut -d' ' -f1 /proc/loadavg)"
  stop_app
  after_sink="$(curl -s "$sink_url/counts")"
  wrk_numbers "$work/wrk-$config-$round.txt" "$config"
  cpu_us=$(per_request_us $(( c1 - c0 )) "$requests")
  jit_us=$(awk -v hz="$(getconf CLK_TCK)" -v n="$requests" 'FNR == NR { b[$1] = $2; next }
    { t += $2 - b[$1] } END { printf "%.1f", t / hz * 1e6 / n }' "$work/jit-before" "$work/jit-after")
  posts=$(delta posts); bytes=$(delta bytes); route=$(delta mark0); repo=$(delta mark1)
  ctrl=$(delta mark2); sql=$(delta mark3)
  echo "$rps requests/s, p50 $p50 ms, p99 $p99 ms, JVM CPU $cpu_us us/request (JIT compiler threads $jit_us), load average $load1"
  echo "sink: $posts POSTs to /v1/traces, $bytes bytes; of the one in 4 inspected: $route name" \
    "/owners/{id}, $repo OwnerRepository, $ctrl OwnerController, $sql the SQL (from owner)"
  if [ "$config" != none ] && { [ "$posts" -le 0 ] || [ "$route" -le 0 ] || [ "$repo" -le 0 ] || [ "$sql" -le 0 ]; }; then
    echo "FAILED: $config sent no traces with the route, the repository step and SQL to the sink (see $log, $log.err)"
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$round" "$rps" "$p50" "$p99" \
    "$started_ms" "$first_ms" "$cpu_us" "$requests" "$posts" "$bytes" "$load1" "$jit_us" >>"$results"
done
done

{
echo
echo "## Spring Boot app under load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION after $WARMUP warm-up, GET /owners/{1..100}"
echo
echo "$run_start–$(date -u '+%H:%M') UTC; $(host_line)" \
  "Spring Boot 3.5.7 fat jar;" \
  "opentelemetry-javaagent $OTEL_AGENT_VERSION; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo
awk -F'\t' "$awk_stats"'
  NR == 1 { next }
  {
    k = $1; r = $2; if (!(k in seen)) { order[++nc] = k; seen[k] = 1 }
    if (r > rounds) rounds = r
    RPS[k, r] = $3; CPU[k, r] = $8; FIRST[k, r] = $7; STARTED[k, r] = $6; LOAD[r] = LOAD[r] " " $12; NOJIT[k, r] = $8 - $13; jit[k] = jit[k] " " $13
    rps[k] = rps[k] " " $3; p50[k] = p50[k] " " $4; p99[k] = p99[k] " " $5; st[k] = st[k] " " $6
    fi[k] = fi[k] " " $7; cpu[k] = cpu[k] " " $8; loads = loads " " $12
  }
  END {
    printf "Medians of %d interleaved rounds (spread: lowest to highest round); load average (1 min) at the end of each measured run: %s.\n\n", rounds, range(loads, "%.1f")
    print "| configuration | requests/s | p50 ms | p99 ms | JVM CPU µs / request | of which JIT compiler threads | start-up: \"Started\" line ms | start-up: first 200 ms |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nc; i++) { k = order[i]
      printf "| %s | %.0f (%s) | %.2f | %.2f | %.1f (%s) | %.1f (%s) | %d (%s) | %d (%s) |\n", k, median(rps[k]), range(rps[k], "%.0f"),
        median(p50[k]), median(p99[k]), median(cpu[k]), range(cpu[k], "%.1f"), median(jit[k]), range(jit[k], "%.1f"), median(st[k]), range(st[k], "%d"),
        median(fi[k]), range(fi[k], "%d") }
    if (!("none" in seen)) exit
    print ""
    # Per-round paired ratios: each agent against no agent (and Osprey against OpenTelemetry) in the same round.
    for (i = 1; i <= nc; i++) { k = order[i]; if (k == "none") continue
      loss = ""; cr = ""; add = ""; adds = ""; nj = ""
      for (r = 1; r <= rounds; r++) if (((k, r) in RPS) && (("none", r) in RPS)) {
        loss = loss " " 100 * (1 - RPS[k, r] / RPS["none", r]); cr = cr " " CPU[k, r] / CPU["none", r]; nj = nj " " NOJIT[k, r] / NOJIT["none", r]
        add = add " " FIRST[k, r] - FIRST["none", r]; adds = adds " " STARTED[k, r] - STARTED["none", r] }
      L[k] = median(loss); C[k] = median(cr); A[k] = median(add); AS[k] = median(adds)
      printf "- %s against no agent: throughput loss %.1f %% (%s), JVM CPU per request x%.2f (%s), start-up added (first 200) %+d ms (%s), (\"Started\" line) %+d ms (%s)\n",
        k, L[k], range(loss, "%.1f"), C[k], range(cr, "%.2f"), A[k], range(add, "%+d"), AS[k], range(adds, "%+d")
      printf "  - JVM CPU per request less the JIT compiler threads x%.2f (%s)\n", median(nj), range(nj, "%.2f") }
    if (("osprey" in seen) && ("otel" in seen)) {
      rr = ""; cr = ""; sr = ""
      for (r = 1; r <= rounds; r++) if ((("osprey", r) in RPS) && (("otel", r) in RPS)) {
        rr = rr " " RPS["osprey", r] / RPS["otel", r]; cr = cr " " CPU["osprey", r] / CPU["otel", r]
        sr = sr " " FIRST["osprey", r] - FIRST["otel", r] }
      printf "- Osprey against OpenTelemetry: requests/s x%.2f (%s), JVM CPU per request x%.2f (%s), start-up (first 200) %+d ms (%s)\n",
        median(rr), range(rr, "%.2f"), median(cr), range(cr, "%.2f"), median(sr), range(sr, "%+d")
      if (L["otel"] > 0) printf "- Osprey loss / OpenTelemetry loss: %.2f; Osprey CPU added / OpenTelemetry CPU added: %.2f; Osprey start-up added / OpenTelemetry start-up added: %.2f\n",
        L["osprey"] / L["otel"], (C["otel"] > 1 ? (C["osprey"] - 1) / (C["otel"] - 1) : 0), (A["otel"] > 0 ? A["osprey"] / A["otel"] : 0)
    }
  }' "$results"
} | tee "$work/report.md"
echo
echo "raw: $results, wrk output $work/wrk-*.txt, app logs $work/app-*.log"
