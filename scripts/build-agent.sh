#!/usr/bin/env bash
# Builds jvm-agent/target/osprey-agent.jar: libosprey first (release), then the
# Maven project, which embeds target/release/libosprey.so.
# Extra arguments go to Maven (e.g. -DskipTests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release -p osprey-ffi
cd jvm-agent
mvn -q -B package -Dosprey.native.dir="$root/target/release" "$@"
ls -l "$root/jvm-agent/target/osprey-agent.jar"
