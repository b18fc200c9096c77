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

/// Polls `future` on this thread until it is ready, with a waker that does
/// nothing (the async workload's children yield once and wake themselves).
fn poll_here<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The async workload's transaction (`in_transaction`, `n` awaited
/// `in_step` children) polled on one thread without a runtime: what the
/// recording thread pays per transaction, the hand-off included, with
/// none of the runtime's scheduling around it. (The collector runs on its
/// own thread meanwhile.)
#[divan::bench(args = [1, 10], sample_count = 1000, sample_size = 64)]
fn async_transaction(bencher: Bencher, n: usize) {
    let f = || poll_here(peers::osprey_async_txn(black_box(n)));
    peers::warm_up(f);
    bencher.bench(f);
}

/// The collector's scan of one string attribute or error message for a
/// credential written inside it (`sanitize::inline_secrets`): text without
/// one (the common case), a struct's `Debug` holding one, a log line.
#[divan::bench(args = [
    "GET /api/orders/{id} from checkout-service (pool 3 of 8, 12 ms)",
    r#"Login { user: "ann", password: "hunter2", remember: true }"#,
    "upstream refused: status=401 token=eyJhbGciOiJIUzI1NiJ9 retry=3",
])]
fn inline_secrets(text: &str) -> usize {
    osprey::collector::sanitize::inline_secrets(black_box(text)).len()
}
