//! A plain timing loop over Osprey's hot path, independent of any harness:
//! easy to run under `valgrind --tool=callgrind` or `perf stat` and to read
//! with `objdump -d`.
//!
//! `cargo run --release -p osprey-benches --bin hotpath [-- ITERATIONS]`

use std::hint::black_box;
use std::time::Instant;

fn time(label: &str, iterations: u64, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{label:<36} {ns:>8.2} ns");
}

fn main() {
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    osprey_benches::osprey_start();
    time("clock::now", iterations, || {
        black_box(osprey::clock::now());
    });
    time("step, no transaction", iterations, || {
        drop(black_box(osprey::step("child")));
    });
    time(
        "step in transaction (1/1000 rotate)",
        iterations / 1000,
        || {
            let txn = osprey::transaction("root").begin();
            for _ in 0..1000 {
                drop(osprey::step(black_box("child")));
            }
            txn.end();
        },
    );
    time("  (per step)", iterations, || {
        osprey_benches::osprey_step_in_open_transaction();
    });
    time("transaction begin+end, 0 steps", iterations / 10, || {
        let _ = osprey::transaction(black_box("root")).begin().end();
    });
    assert!(osprey::flush(std::time::Duration::from_secs(30)));
    let (produced, _, _, delivered) = osprey_benches::osprey_counts();
    println!("transactions produced {produced}, delivered {delivered}");
}
