//! The compile-time off switch: Osprey built without its `enable` feature,
//! where every recording call must cost (next to) nothing.
//!
//! `cargo bench -p osprey-benches --no-default-features --bench disabled`
//!
//! Built with default features instead, the same benchmarks measure the
//! enabled build with Osprey not started (the runtime-off path).

use std::hint::black_box;

fn main() {
    let compiled_out = std::mem::size_of::<osprey::StepGuard>() == 0;
    println!(
        "osprey recording {}",
        if compiled_out {
            "compiled out (--no-default-features)"
        } else {
            "compiled in, not started (build with --no-default-features for the disabled build)"
        }
    );
    divan::main();
}

/// `step` enter + exit with no transaction.
#[divan::bench]
fn step(bencher: divan::Bencher) {
    bencher.bench_local(|| drop(black_box(osprey::step("child"))));
}

/// `step` enter + exit inside a (disabled) transaction.
#[divan::bench]
fn step_in_transaction(bencher: divan::Bencher) {
    let txn = osprey::transaction("root").begin();
    bencher.bench_local(|| drop(black_box(osprey::step("child"))));
    txn.end();
}

/// Transaction begin + end with no steps.
#[divan::bench]
fn transaction_begin_end(bencher: divan::Bencher) {
    bencher.bench_local(|| black_box(osprey::transaction("root").begin().end()));
}
