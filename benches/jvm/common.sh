# Shared by benches/jvm/run.sh and benches/jvm/spring.sh (sourced, from the repository root,
# after `work` is set): the JDK and wrk settings, the tool checks, the agents, the OTLP sink,
# the app's start, stop and CPU time, and wrk's and the sink's numbers.

THREADS="${THREADS:-1}"
CONNECTIONS="${CONNECTIONS:-8}"
CONFIGS="${CONFIGS:-none osprey otel}"
OTEL_AGENT_VERSION=2.22.0
jdk="${BENCH_JDK:-/usr/lib/jvm/java-17-openjdk-amd64}"
read -r -a jvm_opts <<<"${JVM_OPTS:--Xms512m -Xmx512m}"
java="$jdk/bin/java"
otel_agent="$work/agents/opentelemetry-javaagent-$OTEL_AGENT_VERSION.jar"

# Fails unless wrk (installed from Debian's package when run as root), mvn, curl, python3, the
# JDK's java and the given tools are there; prints the java and wrk versions.
check_tools() { # [TOOL...]
  echo "==> checking tools"
  if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y wrk >/dev/null
    else
      echo "wrk is missing: apt-get install wrk (the issue uses Debian's package)" >&2
      exit 1
    fi
  fi
  for tool in mvn curl python3 "$java" "$@"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
  done
  "$java" -version 2>&1 | head -1
  wrk -v 2>&1 | head -1 || true
}

# Sets agent: OSPREY_AGENT_JAR, or (when CONFIGS has osprey) the jar scripts/build-agent.sh builds.
osprey_agent() {
  agent="${OSPREY_AGENT_JAR:-}"
  if [ -z "$agent" ] && [[ " $CONFIGS " == *" osprey "* ]]; then
    echo "==> building libosprey and the agent"
    bash scripts/build-agent.sh -DskipTests >/dev/null
    agent="$root/jvm-agent/target/osprey-agent.jar"
  fi
  if [[ " $CONFIGS " == *" osprey "* ]] && [ ! -f "$agent" ]; then
    echo "no agent jar at $agent" >&2; exit 1
  fi
}

# Copies the artifact group:artifact:version from Maven Central into DIR, once.
fetch() { # COORDS DIR
  local artifact version
  IFS=: read -r _ artifact version <<<"$1"
  [ -f "$2/$artifact-$version.jar" ] ||
    mvn -q -B dependency:copy -Dartifact="$1" -DoutputDirectory="$2"
}

# The JVM options of the OpenTelemetry agent (its defaults) exporting to the sink as SERVICE.
otel_opts() { # SERVICE
  echo "-javaagent:$otel_agent" \
    "-Dotel.service.name=$1" \
    "-Dotel.traces.exporter=otlp" \
    "-Dotel.exporter.otlp.protocol=http/protobuf" \
    "-Dotel.exporter.otlp.endpoint=$sink_url" \
    "-Dotel.metrics.exporter=none" \
    "-Dotel.logs.exporter=none"
}

# Starts benches/jvm/sink.py (extra arguments: marks it counts), sets sink (pid) and sink_url,
# and on exit stops the app ($app, if set) and the sink.
start_sink() { # [MARK...]
  echo "==> starting the OTLP sink"
  rm -f "$work/sink.port"
  python3 benches/jvm/sink.py "$work/sink.port" "$@" &
  sink=$!
  app=""
  trap 'if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; fi; kill "$sink" 2>/dev/null || true; rm -f "$work/app.fifo"' EXIT
  for _ in $(seq 1 200); do [ -s "$work/sink.port" ] && break; sleep 0.05; done
  sink_url="http://127.0.0.1:$(cat "$work/sink.port")"
  echo "sink on $sink_url"
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# Spawns the app (COMMAND...), its standard output read from a pipe on fd 3, its standard error
# into LOG.err; sets app (pid) and t0 (the spawn, µs).
spawn_app() { # LOG COMMAND...
  local log="$1"
  shift
  rm -f "$work/app.fifo"
  mkfifo "$work/app.fifo"
  t0=${EPOCHREALTIME/./}
  "$@" >"$work/app.fifo" 2>"$log.err" &
  app=$!
  exec 3<"$work/app.fifo"
}

# Reads the app's output lines into LOG (for at most TIMEOUT seconds a line) until one matches
# the pattern LAST, noting port from a `port=` line on the way; sets port (empty if none came)
# and line_ms (spawn -> that line, empty if it never came), then copies the rest of the output
# into LOG in the background.
read_app() { # LOG LAST TIMEOUT
  local line
  port=""
  line_ms=""
  while IFS= read -r -t "$3" line <&3; do
    echo "$line" >>"$1"
    if [[ "$line" == port=* ]]; then
      port="${line#port=}"
    fi
    # shellcheck disable=SC2053 # LAST is a pattern
    if [[ "$line" == $2 ]]; then
      line_ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
      break
    fi
  done
  if [ -n "$line_ms" ]; then
    cat <&3 >>"$1" &
  fi
  exec 3<&-
}

# After the app was asked to stop (HOW, for the message): waits up to 30 s, then kills it with
# SIGNAL; reaps it and clears app.
reap_app() { # HOW SIGNAL
  for _ in $(seq 1 300); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
  kill "-$2" "$app" 2>/dev/null && echo "the app did not stop on $1; killed it" >&2
  wait "$app" || true
  app=""
}

# The app JVM's CPU time so far (user + system, all threads), in clock ticks.
cpu_ticks() { cut -d' ' -f14,15 "/proc/$app/stat" | awk '{ print $1 + $2 }'; }

per_request_us() { # TICKS REQUESTS -> µs of CPU a request
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}

to_ms() { # wrk duration (12.3us, 4.5ms, 1.2s, 2m) -> ms
  awk -v d="$1" 'BEGIN {
    n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

# Sets rps, requests, p50 and p99 (ms) from wrk's --latency output in FILE; fails the run (for
# CONFIG) when wrk saw non-2xx answers or socket errors.
wrk_numbers() { # FILE CONFIG
  if grep -q 'Non-2xx\|Socket errors' "$1"; then
    cat "$1"; echo "wrk saw errors ($2)"; exit 1
  fi
  rps="$(awk '/^Requests\/sec:/ { print $2 }' "$1")"
  requests="$(awk '/requests in/ { print $1 }' "$1")"
  p50="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$1")")"
  p99="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$1")")"
}

field() { # sink counts text, key (posts|bytes|chain|sql|markI) -> that count for /v1/traces (0 if none)
  awk -v k="$2" '$1 == "/v1/traces" { for (i = 2; i <= NF; i++)
    if (index($i, k "=") == 1) v = substr($i, length(k) + 2) } END { printf "%.0f\n", v + 0 }' <<<"$1"
}

# The report's line on the machine and the JVM: CPUs, load average (before: $load_before,
# and now), `java -version`, the JVM options.
host_line() {
  echo "$(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'));" \
    "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg);" \
    "$("$java" -version 2>&1 | head -1); JVM options: ${jvm_opts[*]};"
}

# awk functions for the reports, to put before a program: sortv(v, a) sorts the
# space-separated numbers in v into a[1..n] and returns n; median(v); range(v, f): the lowest
# to the highest, each printed with format f.
awk_stats='
  function sortv(v, a,   n, i, j, t) {
    n = split(v, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n
  }
  function median(v,   a, n) { n = sortv(v, a); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  function range(v, f,   a, n) { n = sortv(v, a); return sprintf(f " to " f, a[1], a[n]) }
'

delta() { # key -> its count in after_sink less that in before_sink
  echo $(( $(field "$after_sink" "$1") - $(field "$before_sink" "$1") ))
}
