//! Per-second transaction statistics kept in memory for the rules: one
//! [`Bucket`] per second and (service, instance, endpoint), fed from the
//! live transaction feed ([`crate::live`]) and kept only as long as the
//! longest rule looks back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use osprey::model::HISTOGRAM_BOUNDS_MS;
use parking_lot::Mutex;

use crate::storage::{SecondStats, TxnRow};

/// Histogram buckets: [`HISTOGRAM_BOUNDS_MS`] and an overflow bucket.
pub const BUCKETS: usize = HISTOGRAM_BOUNDS_MS.len() + 1;

/// Counts of the transactions of a period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    /// Transactions.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Sum of elapsed, ns.
    pub sum_ns: u64,
    /// Largest elapsed, ns (an upper bound after [`Bucket::subtract`]).
    pub max_ns: u64,
    /// Counts per [`HISTOGRAM_BOUNDS_MS`] bucket plus overflow.
    pub hist: [u64; BUCKETS],
}

impl Bucket {
    /// Counts one transaction.
    pub fn add(&mut self, elapsed_ns: u64, error: bool) {
        self.count += 1;
        self.errors += u64::from(error);
        self.sum_ns = self.sum_ns.saturating_add(elapsed_ns);
        self.max_ns = self.max_ns.max(elapsed_ns);
        let i = HISTOGRAM_BOUNDS_MS
            .iter()
            .position(|b| elapsed_ns <= b * 1_000_000)
            .unwrap_or(HISTOGRAM_BOUNDS_MS.len());
        self.hist[i] += 1;
    }

    /// Adds `o`'s counts.
    pub fn merge(&mut self, o: &Bucket) {
        self.count += o.count;
        self.errors += o.errors;
        self.sum_ns = self.sum_ns.saturating_add(o.sum_ns);
        self.max_ns = self.max_ns.max(o.max_ns);
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a += b;
        }
    }

    /// Removes `o`'s counts (a sliding window); the max stays.
    pub fn subtract(&mut self, o: &Bucket) {
        self.count -= o.count;
        self.errors -= o.errors;
        self.sum_ns = self.sum_ns.saturating_sub(o.sum_ns);
        for (a, b) in self.hist.iter_mut().zip(&o.hist) {
            *a -= b;
        }
    }

    /// The `q` quantile (0–1) in ms, as the upper bound of the histogram
    /// bucket that holds it (never above the largest elapsed); 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let max_ms = self.max_ns as f64 / 1e6;
        let mut seen = 0;
        for (i, n) in self.hist.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return match HISTOGRAM_BOUNDS_MS.get(i) {
                    Some(&b) => (b as f64).min(max_ms),
                    None => max_ms,
                };
            }
        }
        max_ms
    }

    /// A second of [`crate::storage::Storage::seconds`] as a bucket.
    pub fn from_second(s: &SecondStats) -> Self {
        let mut hist = [0; BUCKETS];
        for (a, b) in hist.iter_mut().zip(&s.histogram) {
            *a = *b;
        }
        Self {
            count: s.count,
            errors: s.errors,
            sum_ns: (s.elapsed_avg_ms * s.count as f64 * 1e6) as u64,
            max_ns: (s.elapsed_max_ms * 1e6) as u64,
            hist,
        }
    }
}

/// What a rule looks at: empty fields match everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    /// Service equals.
    pub service: Option<&'a str>,
    /// Instance equals.
    pub instance: Option<&'a str>,
    /// Endpoint equals.
    pub endpoint: Option<&'a str>,
}

impl Scope<'_> {
    /// Whether a row of `service`, `instance`, `endpoint` is in scope.
    pub fn matches(&self, service: &str, instance: Option<&str>, endpoint: &str) -> bool {
        self.service.is_none_or(|s| s == service)
            && self.instance.is_none_or(|i| instance == Some(i))
            && self.endpoint.is_none_or(|e| e == endpoint)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    service: Arc<str>,
    instance: Option<Arc<str>>,
    endpoint: Arc<str>,
}

/// Most (service, instance, endpoint) keys kept per second; further
/// endpoints of that second are counted under [`OTHER_ENDPOINT`].
pub const MAX_KEYS_PER_SECOND: usize = 5_000;
/// The endpoint name of what [`MAX_KEYS_PER_SECOND`] folds together.
pub const OTHER_ENDPOINT: &str = "(other)";

struct Inner {
    keep_s: u64,
    seconds: BTreeMap<u64, HashMap<Key, Bucket>>,
}

/// The last seconds' buckets (shared by the feed and the evaluator).
pub struct Recent {
    inner: Mutex<Inner>,
}

impl Recent {
    /// Keeps `keep_s` seconds before the newest second seen.
    pub fn new(keep_s: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                keep_s: keep_s.max(1),
                seconds: BTreeMap::new(),
            }),
        }
    }

    /// Changes how long seconds are kept (new rules).
    pub fn set_keep(&self, keep_s: u64) {
        self.inner.lock().keep_s = keep_s.max(1);
    }

    /// Counts `rows` in the second each ended in; rows older than the
    /// kept period (relative to `now_s`) are ignored.
    pub fn add(&self, rows: &[TxnRow], now_s: u64) {
        let mut g = self.inner.lock();
        let floor = now_s.saturating_sub(g.keep_s);
        let other: Arc<str> = Arc::from(OTHER_ENDPOINT);
        for r in rows {
            let sec = r.end_ns() / 1_000_000_000;
            if sec < floor {
                continue;
            }
            let map = g.seconds.entry(sec).or_default();
            let mut key = Key {
                service: r.service.clone(),
                instance: r.instance.clone(),
                endpoint: r.endpoint.clone(),
            };
            if map.len() >= MAX_KEYS_PER_SECOND && !map.contains_key(&key) {
                key.endpoint = other.clone();
            }
            map.entry(key).or_default().add(r.elapsed_ns, r.error);
        }
        while g.seconds.first_key_value().is_some_and(|(s, _)| *s < floor) {
            g.seconds.pop_first();
        }
    }

    /// The sum of seconds `from_s..to_s` in `scope`.
    pub fn sum(&self, from_s: u64, to_s: u64, scope: Scope<'_>) -> Bucket {
        let g = self.inner.lock();
        let mut out = Bucket::default();
        for (_, map) in g.seconds.range(from_s..to_s) {
            for (k, b) in map {
                if scope.matches(&k.service, k.instance.as_deref(), &k.endpoint) {
                    out.merge(b);
                }
            }
        }
        out
    }

    /// Seconds held and buckets in them (for status and tests).
    pub fn size(&self) -> (usize, usize) {
        let g = self.inner.lock();
        (g.seconds.len(), g.seconds.values().map(HashMap::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_bounds_capped_by_the_max() {
        let mut b = Bucket::default();
        for _ in 0..95 {
            b.add(3_000_000, false); // 3 ms: bucket ≤ 5
        }
        for _ in 0..5 {
            b.add(700_000_000, true); // 700 ms: bucket ≤ 1000
        }
        assert_eq!(b.quantile_ms(0.95), 5.0);
        assert_eq!(b.quantile_ms(0.99), 700.0);
        assert_eq!(b.errors, 5);
        let mut w = b.clone();
        w.merge(&b);
        w.subtract(&b);
        assert_eq!(w.count, b.count);
        assert_eq!(w.hist, b.hist);
    }
}
