//! Per-second statistics computed from the transaction index.

use std::collections::HashMap;
use std::sync::Arc;

use osprey::model::{HISTOGRAM_BOUNDS_MS, SecondAggregate};
use serde::Serialize;

use super::Index;

/// Statistics of one second (transactions placed by end time).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SecondStats {
    /// UNIX second.
    pub second: u64,
    /// Transactions ended in this second (= TPS).
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Mean elapsed ms (0 when none).
    pub elapsed_avg_ms: f64,
    /// Largest elapsed ms.
    pub elapsed_max_ms: f64,
    /// Counts per bucket of `histogram_bounds_ms` plus an overflow bucket.
    pub histogram: Vec<u64>,
    /// Distinct visitors (user id, else client IP) among transactions that
    /// ended in the `window_s` seconds up to and including this one.
    pub concurrent_users: u64,
}

/// Upper bounds (ms, inclusive) of the histogram buckets.
pub fn bounds_ms() -> &'static [u64] {
    &HISTOGRAM_BOUNDS_MS
}

pub(super) fn seconds(index: &Index, from_s: u64, to_s: u64, window_s: u64) -> Vec<SecondStats> {
    if to_s < from_s {
        return Vec::new();
    }
    let window_s = window_s.max(1);
    let mut aggs: Vec<SecondAggregate> = (from_s..=to_s).map(SecondAggregate::new).collect();
    // Visitors per second over the widened range, for the sliding window.
    let lo = from_s.saturating_sub(window_s - 1);
    let mut visitors: Vec<Vec<Arc<str>>> = vec![Vec::new(); (to_s - lo + 1) as usize];
    for (sec, t) in index.seconds_range(lo, to_s) {
        if sec >= from_s {
            aggs[(sec - from_s) as usize].add(t.elapsed_ns, t.error);
        }
        if let Some(v) = t.visitor() {
            visitors[(sec - lo) as usize].push(v.clone());
        }
    }
    let mut live: HashMap<Arc<str>, u32> = HashMap::new();
    let mut out = Vec::with_capacity(aggs.len());
    for sec in lo..=to_s {
        for v in &visitors[(sec - lo) as usize] {
            *live.entry(v.clone()).or_default() += 1;
        }
        if sec >= lo + window_s {
            for v in &visitors[(sec - window_s - lo) as usize] {
                if let Some(n) = live.get_mut(v) {
                    *n -= 1;
                    if *n == 0 {
                        live.remove(v);
                    }
                }
            }
        }
        if sec >= from_s {
            let a = &aggs[(sec - from_s) as usize];
            out.push(SecondStats {
                second: sec,
                count: a.count,
                errors: a.errors,
                elapsed_avg_ms: if a.count == 0 {
                    0.0
                } else {
                    a.elapsed_sum_ns as f64 / a.count as f64 / 1e6
                },
                elapsed_max_ms: a.elapsed_max_ns as f64 / 1e6,
                histogram: a.histogram.clone(),
                concurrent_users: live.len() as u64,
            });
        }
    }
    out
}
