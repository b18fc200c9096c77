//! Osprey's primitives, one benchmark each, with the collector running
//! (`NullExporter`).
//!
//! `cargo bench -p osprey-benches --bench primitives`

use std::hint::black_box;

use divan::Bencher;
use osprey_benches as peers;

fn main() {
    peers::osprey_start();
    divan::main();
}

/// One read of Osprey's recording clock (TSC ticks here).
#[divan::bench]
fn clock_now() -> u64 {
    osprey::clock::now()
}

/// `step` enter + exit inside an open transaction: the hot path.
#[divan::bench(threads = [1, 2])]
fn step_in_transaction(bencher: Bencher) {
    peers::warm_up(peers::osprey_step_in_open_transaction);
    bencher.bench(peers::osprey_step_in_open_transaction);
    peers::osprey_close_open_transaction();
}

/// `step` enter + exit with no transaction open on the thread: the
/// runtime-off path.
#[divan::bench(threads = [1, 2])]
fn step_without_transaction(bencher: Bencher) {
    peers::osprey_close_open_transaction();
    assert!(!osprey::raw::in_transaction());
    bencher.bench(|| drop(black_box(osprey::step("child"))));
}

/// A transaction with no steps: begin, end, hand-off to the collector.
#[divan::bench(threads = [1, 2])]
fn transaction_begin_end(bencher: Bencher) {
    let f = || {
        let _ = osprey::transaction(black_box("root")).begin().end();
    };
    peers::warm_up(f);
    bencher.bench(f);
}
