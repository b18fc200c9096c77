#!/usr/bin/env bash
# Runs every check and test of the project, in the order a reviewer cares:
# formatting and lints, then unit, integration and cross-language tests
# (C programs built with gcc, a real Zipkin server, loopback OTLP receivers),
# the Java agent (Maven, JUnit, JDK 17 and 25; embedded Tomcat 11, H2 and Apache HttpClient 5
# fetched from Maven Central), then the doc examples and
# the compile-time-disabled build.
# Usage: bash scripts/test-all.sh   (from anywhere; needs cargo, gcc, java, mvn)
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
  printf '\n==> %s   (%s free)\n' "$*" "$(df -h --output=avail . | tail -1 | tr -d ' ')"
}

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings
# The crate's features one at a time (and none): each must build without a warning, the
# compile-time off switch too (dead code behind a feature shows only here).
for features in "" enable enable,layer enable,otlp enable,zipkin enable,store enable,console; do
  cargo clippy -p osprey --lib --no-default-features --features "$features" -- -D warnings
done

step "build libosprey (cdylib for the C tests)"
cargo build -p osprey-ffi

if [ -f scripts/zipkin-server.sh ]; then
  step "fetch the Zipkin server jar"
  bash scripts/zipkin-server.sh fetch
fi

step "java agent: libosprey (release), Maven build and JUnit tests"
bash scripts/build-agent.sh
# The end-to-end tests ffi/tests/jvm_*.rs (agent, tomcat, servers, http_client, jdbc_pool, ...) run this jar
# on JDK 17 and 25.
export OSPREY_AGENT_JAR="$PWD/jvm-agent/target/osprey-agent.jar"

step "tests"
cargo test --workspace --all-targets

step "doc examples"
cargo test --workspace --doc

step "API docs (one page per library, no broken links)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "fuzz targets, briefly (fuzz/, needs nightly and cargo-fuzz)"
if cargo +nightly --version >/dev/null 2>&1 && cargo fuzz --version >/dev/null 2>&1; then
  for target in sanitize config otlp_ingest segment_file index_file grpc_frames query_params; do
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="${FUZZ_SECONDS:-15}")
  done
else
  echo "skipped: install a nightly toolchain and cargo-fuzz (cargo install cargo-fuzz) to run them"
fi

step "compile-time off switch"
cargo test -p osprey --no-default-features --test disabled

step "all passed"
