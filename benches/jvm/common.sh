# Shared by benches/jvm/run.sh and benches/jvm/spring.sh (sourced, from the repository root,
# after `work` is set): the OTLP sink, the app's CPU time and wrk's and the sink's numbers.

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

# The app JVM's CPU time so far (user + system, all threads), in clock ticks.
cpu_ticks() { cut -d' ' -f14,15 "/proc/$app/stat" | awk '{ print $1 + $2 }'; }

to_ms() { # wrk duration (12.3us, 4.5ms, 1.2s, 2m) -> ms
  awk -v d="$1" 'BEGIN {
    n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

field() { # sink counts text, key (posts|bytes|chain|sql|markI) -> that count for /v1/traces (0 if none)
  awk -v k="$2" '$1 == "/v1/traces" { for (i = 2; i <= NF; i++)
    if (index($i, k "=") == 1) v = substr($i, length(k) + 2) } END { printf "%.0f\n", v + 0 }' <<<"$1"
}
