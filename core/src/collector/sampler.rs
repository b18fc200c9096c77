//! Tail sampling, decided when a transaction ends: errors and slow
//! transactions are always kept; of the rest, a fraction, and at most a
//! budget of call trees per second.

use std::time::Duration;

use super::convert::TreeFacts;
use crate::rng::Rng;

/// The keep-or-drop rule for call trees.
pub(crate) struct Sampler {
    ratio: f64,
    slow: Duration,
    budget: Option<TreeBudget>,
}

impl Sampler {
    /// `trees_per_second`: `None` keeps every ordinary tree the ratio lets through.
    pub fn new(ratio: f64, slow: Duration, trees_per_second: Option<u32>) -> Self {
        Self {
            ratio,
            slow,
            budget: trees_per_second.map(TreeBudget::new),
        }
    }

    /// True when the transaction's call tree is kept. `upstream_sampled`
    /// is the inbound `traceparent` flag, honoured so traces stay whole.
    pub fn keep(&mut self, txn: &TreeFacts, upstream_sampled: bool, rng: &mut Rng) -> bool {
        if upstream_sampled || txn.failed || txn.elapsed_ns >= self.slow.as_nanos() as u64 {
            return true;
        }
        let by_ratio = self.ratio >= 1.0 || (self.ratio > 0.0 && rng.unit() < self.ratio);
        by_ratio
            && self
                .budget
                .as_mut()
                .is_none_or(|b| b.take(txn.start_unix_ns.saturating_add(txn.elapsed_ns)))
    }
}

/// A token bucket of call trees, refilled at `per_second` and holding at
/// most one second's worth, clocked by the transactions' own end times so
/// the decision needs no clock read and a replayed stream decides the same.
struct TreeBudget {
    per_second: u64,
    /// Tokens scaled by 10⁹ (one tree = `NANOS` units), so that refilling
    /// at any rate over any nanosecond gap stays exact in integers.
    units: u64,
    last_ns: u64,
}

const NANOS: u64 = 1_000_000_000;

impl TreeBudget {
    fn new(per_second: u32) -> Self {
        let per_second = u64::from(per_second);
        Self {
            per_second,
            units: per_second * NANOS,
            last_ns: 0,
        }
    }

    /// Takes one tree if the budget has one at `now_ns` (UNIX ns).
    fn take(&mut self, now_ns: u64) -> bool {
        let capacity = self.per_second * NANOS;
        if now_ns > self.last_ns {
            let gap = (now_ns - self.last_ns).min(NANOS);
            self.units = (self.units + gap * self.per_second).min(capacity);
            self.last_ns = now_ns;
        }
        if self.units >= NANOS {
            self.units -= NANOS;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(end_ms: u64, elapsed_ms: u64) -> TreeFacts {
        TreeFacts {
            start_unix_ns: (end_ms - elapsed_ms) * 1_000_000,
            elapsed_ns: elapsed_ms * 1_000_000,
            failed: false,
        }
    }

    fn kept(s: &mut Sampler, txns: impl IntoIterator<Item = TreeFacts>) -> usize {
        let mut rng = Rng::UNSEEDED;
        txns.into_iter()
            .filter(|t| s.keep(t, false, &mut rng))
            .count()
    }

    #[test]
    fn without_a_budget_every_ordinary_tree_is_kept() {
        let mut s = Sampler::new(1.0, Duration::from_secs(1), None);
        assert_eq!(
            kept(&mut s, (0..5000).map(|i| txn(1_000 + i / 10, 1))),
            5000
        );
    }

    #[test]
    fn the_budget_caps_ordinary_trees_per_second_and_refills() {
        let mut s = Sampler::new(1.0, Duration::from_secs(1), Some(100));
        // 1000 transactions within one millisecond: the full bucket's 100.
        let burst = kept(&mut s, (0..1000).map(|_| txn(10_000, 1)));
        assert_eq!(burst, 100);
        // Over the next two seconds, one every millisecond: 100 per second
        // (plus the one the first millisecond refills at most).
        let steady = kept(&mut s, (1..=2000).map(|ms| txn(10_000 + ms, 1)));
        assert!((199..=201).contains(&steady), "kept {steady}");
        // A quiet second refills the bucket, but never beyond one second's worth.
        assert_eq!(kept(&mut s, (0..1000).map(|_| txn(20_000, 1))), 100);
    }

    #[test]
    fn errors_slow_and_upstream_sampled_trees_bypass_a_spent_budget() {
        let mut s = Sampler::new(1.0, Duration::from_millis(500), Some(0));
        let mut rng = Rng::UNSEEDED;
        assert!(!s.keep(&txn(5_000, 1), false, &mut rng));
        assert!(s.keep(&txn(5_000, 1), true, &mut rng));
        assert!(s.keep(&txn(5_000, 600), false, &mut rng));
        let failed = TreeFacts {
            failed: true,
            ..txn(5_000, 1)
        };
        assert!(s.keep(&failed, false, &mut rng));
    }

    #[test]
    fn the_ratio_applies_before_the_budget() {
        let mut s = Sampler::new(0.0, Duration::from_secs(1), Some(1000));
        assert_eq!(kept(&mut s, (0..100).map(|i| txn(1_000 + i, 1))), 0);
    }
}
