//! A capturing exporter and a tree renderer shared by integration tests.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use osprey::export::{ExportError, Exporter};
use osprey::model::{ExportBatch, SecondAggregate, TransactionRecord};
use parking_lot::Mutex;

/// What a [`Capture`] exporter received.
#[derive(Default)]
pub struct Captured {
    pub transactions: Vec<TransactionRecord>,
    pub aggregates: Vec<SecondAggregate>,
    pub batches: usize,
}

/// Keeps every batch in memory; optionally sleeps per batch to play a slow
/// collector.
#[derive(Clone, Default)]
pub struct Capture {
    pub seen: Arc<Mutex<Captured>>,
    pub delay: Duration,
    /// Like OTLP and Zipkin: wants only transactions that kept their tree.
    pub trees_only: bool,
}

impl Capture {
    pub fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// A capture that, like OTLP and Zipkin, wants kept trees only.
    pub fn trees_only() -> Self {
        Self {
            trees_only: true,
            ..Self::default()
        }
    }

    pub fn transactions(&self) -> Vec<TransactionRecord> {
        self.seen.lock().transactions.clone()
    }
}

impl Exporter for Capture {
    fn name(&self) -> &'static str {
        "capture"
    }

    fn wants_unsampled(&self) -> bool {
        !self.trees_only
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let mut seen = self.seen.lock();
        seen.batches += 1;
        seen.transactions.extend(batch.transactions.iter().cloned());
        seen.aggregates.extend(batch.aggregates.iter().cloned());
        Ok(())
    }
}

/// Renders a transaction's tree, one line per step, indented by depth:
/// `name attrs… !error` (busy times, which vary run to run, are fields:
/// tests that check them read them directly).
pub fn render(txn: &TransactionRecord) -> String {
    let names = osprey::names::resolve;
    let mut out = format!("{}\n", names(txn.name));
    for step in &txn.steps {
        out.push_str(&"  ".repeat(step.depth as usize));
        out.push_str(&names(step.name));
        for a in &step.attributes {
            out.push_str(&format!(" {}={}", names(a.key), a.value));
        }
        if let Some(e) = &step.error {
            out.push_str(&format!(" !{}", e.message));
        }
        if step.repaired {
            out.push_str(" (repaired)");
        }
        out.push('\n');
    }
    out
}
