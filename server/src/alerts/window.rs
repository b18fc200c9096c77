//! Per-second transaction statistics kept in memory for the rules: one
//! [`Bucket`] per second and per scope (service, instance, endpoint) that
//! a transaction rule uses, fed from the live transaction feed
//! ([`crate::live`]) and kept only as long as the longest rule looks back.

use std::collections::{BTreeMap, HashMap};

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

/// A scope as the rules write it, owned: what [`Recent`] keeps a bucket
/// per second for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeKey {
    /// Service equals.
    pub service: Option<String>,
    /// Instance equals.
    pub instance: Option<String>,
    /// Endpoint equals.
    pub endpoint: Option<String>,
}

impl ScopeKey {
    fn scope(&self) -> Scope<'_> {
        Scope {
            service: self.service.as_deref(),
            instance: self.instance.as_deref(),
            endpoint: self.endpoint.as_deref(),
        }
    }
}

struct Inner {
    keep_s: u64,
    scopes: Vec<ScopeKey>,
    /// Per second, one bucket per scope (in `scopes` order).
    seconds: BTreeMap<u64, Vec<Bucket>>,
}

/// The last seconds' buckets of the scopes the transaction rules use
/// (shared by the feed and the evaluator): memory is seconds × scopes,
/// whatever the number of services and endpoints.
pub struct Recent {
    inner: Mutex<Inner>,
}

impl Recent {
    /// Keeps `keep_s` seconds of `scopes`.
    pub fn new(scopes: Vec<ScopeKey>, keep_s: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                keep_s: keep_s.max(1),
                scopes,
                seconds: BTreeMap::new(),
            }),
        }
    }

    /// New rules: the scopes kept and for how long. A scope that stays
    /// keeps its seconds; a new one starts empty.
    pub fn set_scopes(&self, scopes: Vec<ScopeKey>, keep_s: u64) {
        let mut g = self.inner.lock();
        let old: HashMap<ScopeKey, usize> = g
            .scopes
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        let map: Vec<Option<usize>> = scopes.iter().map(|k| old.get(k).copied()).collect();
        for buckets in g.seconds.values_mut() {
            *buckets = map
                .iter()
                .map(|i| i.and_then(|i| buckets.get(i).cloned()).unwrap_or_default())
                .collect();
        }
        g.scopes = scopes;
        g.keep_s = keep_s.max(1);
    }

    /// Counts `rows` in the second each ended in, in every scope that
    /// holds them; rows older than the kept period (relative to `now_s`)
    /// are ignored.
    pub fn add(&self, rows: &[TxnRow], now_s: u64) {
        self.count(rows, now_s, None);
    }

    /// Counts `rows` in `scope` only (filling a new rule's window from
    /// stored data); nothing when no rule uses that scope.
    pub fn add_to(&self, scope: &ScopeKey, rows: &[TxnRow], now_s: u64) {
        let only = self.inner.lock().scopes.iter().position(|k| k == scope);
        if let Some(i) = only {
            self.count(rows, now_s, Some(i));
        }
    }

    fn count(&self, rows: &[TxnRow], now_s: u64, only: Option<usize>) {
        let mut g = self.inner.lock();
        if g.scopes.is_empty() {
            return;
        }
        let floor = now_s.saturating_sub(g.keep_s);
        let Inner {
            scopes, seconds, ..
        } = &mut *g;
        for r in rows {
            let sec = r.end_ns() / 1_000_000_000;
            if sec < floor {
                continue;
            }
            let holds = |(i, k): (usize, &ScopeKey)| {
                only.is_none_or(|o| o == i)
                    && k.scope()
                        .matches(&r.service, r.instance.as_deref(), &r.endpoint)
            };
            if !scopes.iter().enumerate().any(holds) {
                continue;
            }
            let buckets = seconds
                .entry(sec)
                .or_insert_with(|| vec![Bucket::default(); scopes.len()]);
            for (i, (b, k)) in buckets.iter_mut().zip(scopes.iter()).enumerate() {
                if holds((i, k)) {
                    b.add(r.elapsed_ns, r.error);
                }
            }
        }
        while g.seconds.first_key_value().is_some_and(|(s, _)| *s < floor) {
            g.seconds.pop_first();
        }
    }

    /// The scopes kept.
    pub fn scopes(&self) -> Vec<ScopeKey> {
        self.inner.lock().scopes.clone()
    }

    /// The sum of seconds `from_s..to_s` of `scope` (empty when no rule
    /// uses that scope).
    pub fn sum(&self, from_s: u64, to_s: u64, scope: &ScopeKey) -> Bucket {
        let g = self.inner.lock();
        let mut out = Bucket::default();
        if let Some(i) = g.scopes.iter().position(|k| k == scope) {
            for (_, buckets) in g.seconds.range(from_s..to_s) {
                out.merge(&buckets[i]);
            }
        }
        out
    }

    /// Seconds held and scopes (for status and tests).
    pub fn size(&self) -> (usize, usize) {
        let g = self.inner.lock();
        (g.seconds.len(), g.scopes.len())
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

    fn row(service: &str, endpoint: &str, end_s: u64, error: bool) -> TxnRow {
        use osprey::model::{SpanId, TraceId};
        TxnRow {
            seq: 0,
            trace_id: TraceId::from_hex("0123456789abcdef0123456789abcdef").unwrap(),
            span_id: SpanId::from_hex("0123456789abcdef").unwrap(),
            parent: None,
            service: service.into(),
            endpoint: endpoint.into(),
            start_ns: end_s * 1_000_000_000 - 5_000_000,
            elapsed_ns: 5_000_000,
            error,
            client_ip: None,
            user: None,
            http_status: 200,
            thread: 0,
            instance: None,
            tree_omitted: false,
        }
    }

    #[test]
    fn recent_keeps_the_rules_scopes_and_forgets_old_seconds() {
        let all = ScopeKey::default();
        let shop = ScopeKey {
            service: Some("shop".into()),
            ..ScopeKey::default()
        };
        let pay = ScopeKey {
            endpoint: Some("POST /pay".into()),
            ..shop.clone()
        };
        let r = Recent::new(vec![all.clone(), shop.clone()], 10);
        r.add(
            &[
                row("shop", "POST /pay", 100, true),
                row("shop", "GET /", 101, false),
                row("bill", "GET /", 101, false),
            ],
            105,
        );
        assert_eq!(r.sum(100, 102, &all).count, 3);
        assert_eq!(r.sum(100, 102, &shop).count, 2);
        assert_eq!(r.sum(101, 102, &shop).errors, 0);
        assert_eq!(r.sum(100, 102, &pay).count, 0, "not a rule's scope");
        // New rules: `shop` keeps its seconds, `pay` starts empty.
        r.set_scopes(vec![pay.clone(), shop.clone()], 10);
        assert_eq!(r.sum(100, 102, &shop).count, 2);
        assert_eq!(r.sum(100, 102, &pay).count, 0);
        r.add(
            &[
                row("shop", "POST /pay", 104, false),
                row("shop", "GET /", 80, false),
            ],
            111,
        );
        assert_eq!(r.sum(0, 200, &pay).count, 1, "second 80 is older than kept");
        assert_eq!(r.size(), (2, 2), "seconds 101 and 104 (100 fell out)");
    }
}
