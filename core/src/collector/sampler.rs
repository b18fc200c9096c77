//! Tail sampling, decided when a transaction ends: errors and slow
//! transactions are always kept, a fraction of the rest.

use std::time::Duration;

use crate::model::TransactionRecord;
use crate::rng::Rng;

/// The keep-or-drop rule for call trees.
pub(crate) struct Sampler {
    pub ratio: f64,
    pub slow: Duration,
}

impl Sampler {
    /// True when the transaction's call tree is kept. `upstream_sampled`
    /// is the inbound `traceparent` flag, honoured so traces stay whole.
    pub fn keep(&self, txn: &TransactionRecord, upstream_sampled: bool, rng: &mut Rng) -> bool {
        upstream_sampled
            || txn.error.is_some()
            || txn.steps.iter().any(|s| s.error.is_some())
            || txn.elapsed_ns >= self.slow.as_nanos() as u64
            || self.ratio >= 1.0
            || (self.ratio > 0.0 && rng.unit() < self.ratio)
    }
}
