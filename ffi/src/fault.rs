//! Fault injection for the "agent faults never change a response" tests
//! (issue 13): compiled into debug builds and builds with the
//! `fault-inject` feature, never into a release build without it. Off
//! unless the environment asks:
//!
//! - `OSPREY_FAULT_EVERY=N`: once `init` succeeded, every Nth call through
//!   the C/JNI boundary panics inside libosprey before doing anything (as a
//!   bug would), so the boundary's recovery is what the application sees
//!   (a failing `init` just leaves the agent off, which the start-up
//!   tests cover);
//! - `OSPREY_FAULT_EXPORTER_PANIC=1`: `init` adds an exporter named
//!   `panicking` whose every export panics on its thread.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use osprey::Config;
use osprey::export::{ExportError, Exporter};
use osprey::model::ExportBatch;

/// `OSPREY_FAULT_EVERY`, read once; 0 when unset or invalid.
fn every() -> u64 {
    static EVERY: OnceLock<u64> = OnceLock::new();
    *EVERY.get_or_init(|| {
        std::env::var("OSPREY_FAULT_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// Set once `init` succeeded: faults start then.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Starts the faults (after a successful `init`).
pub(crate) fn arm() {
    ARMED.store(true, Ordering::Relaxed);
}

/// Panics on every Nth call when `OSPREY_FAULT_EVERY=N`, once armed.
#[inline]
pub(crate) fn maybe_fail() {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let n = every();
    if n > 0 && (CALLS.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(n) {
        panic!("injected fault (OSPREY_FAULT_EVERY={n})");
    }
}

/// Adds the `panicking` exporter when `OSPREY_FAULT_EXPORTER_PANIC=1`.
pub(crate) fn with_injected_exporter(config: Config) -> Config {
    if std::env::var("OSPREY_FAULT_EXPORTER_PANIC").as_deref() == Ok("1") {
        config.exporter(Panicking)
    } else {
        config
    }
}

/// An exporter whose every export panics.
struct Panicking;

impl Exporter for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }

    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        panic!("injected exporter panic (OSPREY_FAULT_EXPORTER_PANIC=1)")
    }

    fn shutdown(&mut self, _timeout: Duration) -> Result<(), ExportError> {
        Ok(())
    }
}
