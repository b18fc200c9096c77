#!/bin/bash
# Interleaved runs of several builds of the async bench (order reversed every
# other round), each headed `=== round R bin LABEL` for async_ab.py:
#   benches/scripts/async_ab.sh out.txt 10 /tmp/async_before /tmp/async_after
# ALL=1 also runs the tracing cells (osprey_layer, tracing_otel).
out=$1; rounds=$2; shift 2
: > $out
for r in $(seq 1 $rounds); do
  bins=("$@")
  if (( r % 2 == 0 )); then bins=($(printf '%s\n' "$@" | tac)); fi
  for b in "${bins[@]}"; do
    echo "=== round $r bin $(basename $b) $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $out
    if [[ -n "$ALL" ]]; then
      $b --bench >> $out 2>&1
    else
      $b --bench --skip osprey_layer --skip tracing_otel >> $out 2>&1
    fi
  done
done
echo DONE >> $out
