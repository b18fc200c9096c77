//! Osprey against its peers in one run: one root span plus `n` sequential
//! children (`args`), on one and on two threads at once (`threads`), each
//! library's background pipeline live with a counting no-op exporter.
//! One iteration records `reps(n)` such transactions (about 1000 spans) so
//! that every sample is far above the timer's precision; divan counts the
//! spans as items, so `item/s` gives spans per second, and
//! `benches/scripts/compare_table.py` turns the medians into ns per span.
//!
//! `cargo bench -p osprey-benches --bench compare`

use std::hint::black_box;

use divan::Bencher;
use divan::counter::ItemsCount;
use osprey_benches as peers;

fn main() {
    peers::osprey_start();
    peers::fastrace_start();
    let _ = peers::otel_sdk();
    let _ = peers::tracing_otel();
    let _ = peers::tracing_registry();
    // quanta calibrates on first use.
    let _ = quanta::Instant::now();
    divan::main();
}

const N: &[usize] = &[1, 10, 100, 1000];

/// Transactions per iteration: about 1000 spans' worth.
fn reps(n: usize) -> usize {
    (1000 / (n + 1)).max(1)
}

/// Spans per iteration.
fn spans(n: usize) -> ItemsCount {
    ItemsCount::new(reps(n) * (n + 1))
}

/// Warms the pipeline up on this thread, then measures `reps(n)`
/// transactions of `txn` per iteration.
fn measure(bencher: Bencher, n: usize, txn: impl Fn(usize) + Sync) {
    peers::warm_up(|| txn(n));
    bencher.counter(spans(n)).bench(|| {
        for _ in 0..reps(n) {
            txn(black_box(n));
        }
    });
}

#[divan::bench(args = N, threads = [1, 2])]
fn osprey(bencher: Bencher, n: usize) {
    peers::osprey_start();
    measure(bencher, n, peers::osprey_txn);
}

#[divan::bench(args = N, threads = [1, 2])]
fn fastrace(bencher: Bencher, n: usize) {
    peers::fastrace_start();
    measure(bencher, n, peers::fastrace_txn);
}

#[divan::bench(args = N, threads = [1, 2])]
fn otel_sdk(bencher: Bencher, n: usize) {
    let tracer = &peers::otel_sdk().tracer;
    measure(bencher, n, |n| peers::otel_sdk_txn(tracer, n));
}

/// `tracing` with a per-thread default dispatcher: set on each benchmark
/// thread before measuring.
fn measure_tracing(bencher: Bencher, n: usize, dispatch: &'static tracing::Dispatch) {
    measure(bencher, n, |n| {
        peers::use_dispatch(dispatch);
        peers::tracing_txn(n)
    });
}

#[divan::bench(args = N, threads = [1, 2])]
fn tracing_otel(bencher: Bencher, n: usize) {
    measure_tracing(bencher, n, &peers::tracing_otel().0);
}

#[divan::bench(args = N, threads = [1, 2])]
fn tracing_registry(bencher: Bencher, n: usize) {
    measure_tracing(bencher, n, peers::tracing_registry());
}

/// The clock floor of a span: two reads (start and end) per item.
#[divan::bench_group(threads = [1, 2])]
mod clock_pair {
    use super::*;

    #[divan::bench]
    fn rdtsc() -> u64 {
        // SAFETY: rdtsc has no preconditions on x86-64.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let a = core::arch::x86_64::_rdtsc();
            let b = core::arch::x86_64::_rdtsc();
            black_box(a) ^ black_box(b)
        }
        #[cfg(not(target_arch = "x86_64"))]
        0
    }

    #[divan::bench]
    fn quanta() -> quanta::Instant {
        let a = quanta::Instant::now();
        black_box(a);
        quanta::Instant::now()
    }

    #[divan::bench]
    fn std_instant() -> std::time::Instant {
        let a = std::time::Instant::now();
        black_box(a);
        std::time::Instant::now()
    }
}
