//! Per-second statistics computed from the transaction index.

use crate::storage::SecondStats;
use std::collections::HashMap;
use std::sync::Arc;

use osprey::model::SecondAggregate;

use super::Index;

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
