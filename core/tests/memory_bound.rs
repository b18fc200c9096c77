//! Memory stays bounded by configuration while the exporter is stuck:
//! transactions beyond the queue, batch and export-queue budgets are dropped
//! and counted instead of buffered.
#![cfg(feature = "enable")]

#[path = "support/capture.rs"]
mod capture;

use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};
use osprey::export::{ExportError, Exporter};
use osprey::model::ExportBatch;

/// Blocks every export until the test releases it.
struct Stuck(Receiver<()>);

impl Exporter for Stuck {
    fn name(&self) -> &'static str {
        "stuck"
    }
    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        let _ = self.0.recv();
        Ok(())
    }
}

#[path = "support/rss.rs"]
mod rss;

fn rss_bytes() -> u64 {
    rss::rss_kib() * 1024
}

#[test]
fn a_stuck_exporter_cannot_grow_memory_past_the_budget() {
    const TXNS: u64 = 3000;
    const STEPS: usize = 2048;
    let (release, gate) = bounded::<()>(0);
    let guard = osprey::init(
        osprey::Config::default()
            .batch_delay(Duration::from_millis(10))
            .exporter(Stuck(gate)),
    )
    .unwrap();
    let before = rss_bytes();
    for _ in 0..TXNS {
        let txn = osprey::transaction("big").begin();
        for _ in 0..STEPS {
            let s = osprey::step("step");
            drop(s);
        }
        txn.end();
    }
    // The collector takes the last transactions on its own schedule; on a
    // loaded machine that can be well past a fixed pause, so wait for it
    // (bounded) before measuring what it holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while osprey::stats().produced() < TXNS && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let grown = rss_bytes().saturating_sub(before);
    eprintln!("RSS grew by {} KiB", grown >> 10);
    let stats = osprey::stats();
    // Unbounded, 3000 trees of 2048 steps would hold well over 500 MiB.
    assert!(grown < 96 << 20, "RSS grew by {} MiB", grown >> 20);
    assert_eq!(stats.produced(), TXNS);
    assert!(
        stats.dropped_queue + stats.exporters[0].dropped > 0,
        "{stats:?}"
    );
    drop(release); // unblock the exporter so shutdown can finish
    assert!(guard.shutdown(Duration::from_secs(10)));
    let stats = osprey::stats();
    let e = &stats.exporters[0];
    assert_eq!(
        e.delivered + e.dropped + stats.dropped_queue,
        TXNS,
        "{stats:?}"
    );
}
