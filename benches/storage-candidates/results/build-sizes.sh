#!/bin/bash
# Build time and binary size per candidate, each from a clean target dir.
cd "$(dirname "$0")/.."
OUT=${SC_BUILD_DIR:-/tmp/sc-build}
for f in none sqlite fjall parquet; do
  T=$OUT/$f; rm -rf $T
  if [ $f = none ]; then feat="--no-default-features"; else feat="--no-default-features --features $f"; fi
  s=$(date +%s.%N)
  CARGO_TARGET_DIR=$T nice -n 19 cargo build --release -j 1 $feat >/dev/null 2>&1 || echo "$f FAILED"
  e=$(date +%s.%N)
  sz=$(stat -c %s $T/release/storage-candidates)
  echo "$f build_s=$(echo "$e - $s" | bc) size=$sz"
  rm -rf $T/release/deps $T/release/build
done
