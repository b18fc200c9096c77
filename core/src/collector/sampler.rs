//! Tail sampling, decided when a transaction ends: errors and slow
//! transactions are always kept, a fraction of the rest.

use std::time::Duration;

use crate::model::TransactionRecord;

/// A small, fast PRNG (wyrand) for sampling and span ids.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn from_os() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Self(u64::from_le_bytes(seed) ^ crate::clock::monotonic_ns())
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    pub fn next_nonzero(&mut self) -> u64 {
        loop {
            let v = self.next();
            if v != 0 {
                return v;
            }
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

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
