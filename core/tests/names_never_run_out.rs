//! The scenario: a program issuing SQL with its literals
//! concatenated in. Every statement is sanitised before it is interned, so
//! however many distinct literal statements run, the table holds one shape
//! per statement, every endpoint (also one first seen at the end) is named
//! right and memory stays flat. Its own process (the name table is
//! process-wide).
//!
//! CI runs 1 M statements; the 10 M run of `RELIABILITY.md`:
//! `OSPREY_NAMES_STATEMENTS=10000000 cargo test --release -p osprey --test names_never_run_out -- --nocapture`
#![cfg(feature = "enable")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use osprey::export::{ExportError, Exporter};
use osprey::model::{ExportBatch, StepKind};
use osprey::names::{self, NameKind};
use osprey::{Config, raw};

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

const ENDPOINTS: u64 = 25;
const SHAPE: &str = "SELECT * FROM orders WHERE id = ? AND note = ? AND total > ?";

/// Checks every delivered transaction as it arrives and keeps only counts,
/// so that the test itself stays within bounded memory.
#[derive(Clone, Default)]
struct Check {
    delivered: Arc<AtomicU64>,
    wrong: Arc<AtomicU64>,
    steps: Arc<AtomicU64>,
    first_seen_at_the_end: Arc<AtomicU64>,
}

impl Exporter for Check {
    fn name(&self) -> &'static str {
        "check"
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        for t in batch.transactions.iter() {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            let name = batch.name(t.name);
            let endpoint_ok = name
                .strip_prefix("GET /endpoint-")
                .and_then(|k| k.parse::<u64>().ok())
                .is_some_and(|k| k < ENDPOINTS)
                || &*name == "GET /first-seen-at-the-end";
            if &*name == "GET /first-seen-at-the-end" {
                self.first_seen_at_the_end.fetch_add(1, Ordering::Relaxed);
            }
            let steps_ok = t.steps.iter().all(|s| {
                self.steps.fetch_add(1, Ordering::Relaxed);
                s.kind == StepKind::Sql && &*batch.name(s.name) == SHAPE && s.attributes.is_empty()
            });
            if !endpoint_ok || !steps_ok {
                self.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

#[test]
fn ten_million_literal_statements_leave_every_endpoint_named_and_memory_flat() {
    let n: u64 = std::env::var("OSPREY_NAMES_STATEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let check = Check::default();
    let guard = osprey::init(
        Config::default()
            .batch_delay(Duration::from_millis(50))
            .trees_per_second(None)
            .exporter(check.clone()),
    )
    .expect("init");

    let mut rss_warm = 0;
    let mut rss_peak = 0;
    let mut statement = String::new();
    for i in 0..n {
        if i == n / 10 {
            rss_warm = rss_kib();
        }
        if i % 100_000 == 0 {
            rss_peak = rss_peak.max(rss_kib());
        }
        let txn = osprey::transaction(format!("GET /endpoint-{}", i % ENDPOINTS))
            .server()
            .begin();
        statement.clear();
        use std::fmt::Write;
        let _ = write!(
            statement,
            "SELECT * FROM orders WHERE id = {i} AND note = 'customer {i} says ''hi''' AND total > {}.5",
            i % 977
        );
        let h = raw::enter_named(&statement, StepKind::Sql);
        raw::exit_step(h);
        txn.end();
    }
    // Room in the queue, so that the new endpoint is not dropped with the flood's tail.
    assert!(osprey::flush(Duration::from_secs(60)));
    let last = osprey::transaction(String::from("GET /first-seen-at-the-end"))
        .server()
        .begin();
    last.end();
    assert!(guard.shutdown(Duration::from_secs(60)));
    let rss_end = rss_kib();
    rss_peak = rss_peak.max(rss_end);

    let stats = osprey::stats();
    let delivered = check.delivered.load(Ordering::Relaxed);
    let wrong = check.wrong.load(Ordering::Relaxed);
    eprintln!(
        "statements={n} delivered={delivered} dropped_queue={} dropped_export={} steps_checked={} wrong={wrong} \
         sql_table_bytes={} endpoint_table_bytes={} refused={} rss_warm_kib={rss_warm} \
         rss_peak_kib={rss_peak} rss_end_kib={rss_end}",
        stats.dropped_queue,
        stats.exporters[0].dropped,
        check.steps.load(Ordering::Relaxed),
        names::used_bytes(NameKind::Sql),
        names::used_bytes(NameKind::Endpoint),
        names::refused_count(),
    );
    assert_eq!(wrong, 0, "every delivered transaction named right");
    assert_eq!(
        check.first_seen_at_the_end.load(Ordering::Relaxed),
        1,
        "the endpoint first seen after the flood is delivered, named right"
    );
    assert_eq!(
        delivered + stats.dropped_queue + stats.exporters[0].dropped,
        n + 1,
        "each one delivered or counted as dropped"
    );
    assert!(delivered > 0);
    assert_eq!(names::refused_count(), 0, "no name refused");
    assert!(
        names::used_bytes(NameKind::Sql) < 4096,
        "one shape, not one name per statement"
    );
    assert!(
        names::used_bytes(NameKind::Endpoint) < 8192,
        "{ENDPOINTS} endpoints"
    );
    // The literals are not kept anywhere: after warm-up, memory does not
    // grow with the statements (1 M of them would be over 100 MiB).
    assert!(
        rss_peak.saturating_sub(rss_warm) < 24 * 1024,
        "RSS grew from {rss_warm} KiB to {rss_peak} KiB"
    );
}
