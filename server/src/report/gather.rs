//! One pass over a service's transactions (newest first, in pages through
//! the storage's cursor), then the call trees of the slowest for SQL and
//! the metric series for the JVM and host summary.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::{
    EndpointRow, Report, ReportError, ReportRequest, SPARK_POINTS, SQL_SAMPLE, SeriesSummary,
    SlowTxn, SqlRow, TOP_ENDPOINTS, TOP_SQL, Totals, TrendPoint,
};
use crate::storage::{SeriesJson, SeriesQuery, Storage, TxnCursor, TxnFilter, TxnRow};

const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
/// Rows read per storage call.
const PAGE: usize = 10_000;

/// Response times in microseconds up to a day (longer ones count as a
/// day), 2 significant digits: percentiles within 1 %, about 30 KiB each.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 86_400_000_000, 2).expect("valid histogram bounds")
}

/// Distinct endpoints kept apart; past it, others share [`OTHER_ENDPOINTS`]
/// (URLs with ids in them would otherwise grow without bound; each
/// endpoint holds a histogram of about 32 KiB).
pub const MAX_ENDPOINTS: usize = 1_000;
/// The name the endpoints past [`MAX_ENDPOINTS`] are counted under.
pub const OTHER_ENDPOINTS: &str = "(other endpoints)";

fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1e3
    }
}

/// Sums of a group of transactions (the range, a bucket, an endpoint).
struct Acc {
    count: u64,
    errors: u64,
    total_ns: u128,
    max_ns: u64,
    hist: Histogram<u64>,
}

impl Acc {
    fn new() -> Self {
        Self {
            count: 0,
            errors: 0,
            total_ns: 0,
            max_ns: 0,
            hist: histogram(),
        }
    }

    fn add(&mut self, t: &TxnRow) {
        self.count += 1;
        self.errors += u64::from(t.error);
        self.total_ns += u128::from(t.elapsed_ns);
        self.max_ns = self.max_ns.max(t.elapsed_ns);
        self.hist.saturating_record(t.elapsed_ns / 1_000);
    }

    fn avg_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.count as f64 / 1e6
        }
    }
}

/// The slowest transactions seen so far (a min-heap of the kept ones).
struct Slowest {
    keep: usize,
    /// `(elapsed ns, seq)`: ties broken by sequence number.
    heap: BinaryHeap<Reverse<(u64, u64)>>,
}

impl Slowest {
    fn add(&mut self, t: &TxnRow, rows: &mut HashMap<u64, TxnRow>) {
        let key = (t.elapsed_ns, t.seq);
        if self.heap.len() == self.keep {
            match self.heap.peek() {
                Some(Reverse(least)) if *least < key => {
                    if let Some(Reverse((_, s))) = self.heap.pop() {
                        rows.remove(&s);
                    }
                }
                _ => return,
            }
        }
        rows.insert(t.seq, t.clone());
        self.heap.push(Reverse(key));
    }

    /// Sequence numbers, slowest first.
    fn into_sorted(self) -> Vec<u64> {
        let mut v: Vec<_> = self.heap.into_iter().map(|Reverse(k)| k).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(_, s)| s).collect()
    }
}

/// Reads what `req` covers from `storage` into a [`Report`].
pub fn gather(storage: &dyn Storage, req: &ReportRequest) -> Result<Report, ReportError> {
    let range_s = (req.to_ns - req.from_ns).div_ceil(NS_PER_S).max(1);
    let bucket_s = match range_s {
        0..=7_200 => 60,
        7_201..=172_800 => 300,
        _ => 3_600,
    };
    let buckets = range_s.div_ceil(bucket_s) as usize;
    let mut per_second = vec![0u32; range_s as usize];
    let mut trend: Vec<Acc> = (0..buckets).map(|_| Acc::new()).collect();
    let mut total = Acc::new();
    let mut endpoints: HashMap<Arc<str>, Acc> = HashMap::new();
    let mut slowest = Slowest {
        keep: SQL_SAMPLE.max(super::SLOWEST),
        heap: BinaryHeap::new(),
    };
    let mut slow_rows = HashMap::new();
    let other: Arc<str> = Arc::from(OTHER_ENDPOINTS);
    let mut filter = TxnFilter {
        service: Some(req.service.clone()),
        from_ns: Some(req.from_ns),
        to_ns: Some(req.to_ns),
        ..TxnFilter::default()
    };
    loop {
        let page = storage.transactions(&filter, PAGE)?.transactions;
        for t in &page {
            let offset = t.end_ns().saturating_sub(req.from_ns);
            let second = (offset / NS_PER_S) as usize;
            if let Some(c) = per_second.get_mut(second) {
                *c = c.saturating_add(1);
            }
            let b = (offset / (bucket_s * NS_PER_S)) as usize;
            if let Some(acc) = trend.get_mut(b) {
                acc.add(t);
            }
            total.add(t);
            let name = if endpoints.len() < MAX_ENDPOINTS || endpoints.contains_key(&t.endpoint) {
                t.endpoint.clone()
            } else {
                Arc::clone(&other)
            };
            endpoints.entry(name).or_insert_with(Acc::new).add(t);
            slowest.add(t, &mut slow_rows);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => filter.before = Some(TxnCursor::of(last)),
            _ => break,
        }
    }

    let order = slowest.into_sorted();
    let slow: Vec<&TxnRow> = order.iter().filter_map(|s| slow_rows.get(s)).collect();
    let (sql, sql_sampled) = top_sql(storage, &req.service, &slow)?;
    let (jvm, host) = series_summaries(storage, req)?;

    let endpoint_row = |(name, a): (&Arc<str>, &Acc)| EndpointRow {
        endpoint: name.to_string(),
        count: a.count,
        errors: a.errors,
        total_ms: a.total_ns as f64 / 1e6,
        avg_ms: a.avg_ms(),
        p95_ms: quantile_ms(&a.hist, 0.95),
        max_ms: a.max_ns as f64 / 1e6,
    };
    let mut by_time: Vec<_> = endpoints.iter().map(endpoint_row).collect();
    by_time.sort_by(|a, b| {
        b.total_ms
            .total_cmp(&a.total_ms)
            .then(a.endpoint.cmp(&b.endpoint))
    });
    let mut by_errors: Vec<_> = by_time.iter().filter(|e| e.errors > 0).cloned().collect();
    by_errors.sort_by(|a, b| b.errors.cmp(&a.errors).then(a.endpoint.cmp(&b.endpoint)));
    by_time.truncate(TOP_ENDPOINTS);
    by_errors.truncate(TOP_ENDPOINTS);

    let from_ms = req.from_ns / NS_PER_MS;
    Ok(Report {
        service: req.service.clone(),
        from_ms,
        to_ms: req.to_ns / NS_PER_MS,
        generated_ms: crate::time::now_ms(),
        bucket_s,
        totals: Totals {
            count: total.count,
            errors: total.errors,
            error_pct: if total.count == 0 {
                0.0
            } else {
                total.errors as f64 * 100.0 / total.count as f64
            },
            tps_avg: total.count as f64 / range_s as f64,
            tps_peak: per_second.iter().copied().max().unwrap_or(0).into(),
            avg_ms: total.avg_ms(),
            p50_ms: quantile_ms(&total.hist, 0.50),
            p95_ms: quantile_ms(&total.hist, 0.95),
            p99_ms: quantile_ms(&total.hist, 0.99),
            max_ms: total.max_ns as f64 / 1e6,
        },
        trend: trend
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let start_s = i as u64 * bucket_s;
                let width = bucket_s.min(range_s - start_s).max(1);
                TrendPoint {
                    start_ms: from_ms + start_s * 1_000,
                    count: a.count,
                    errors: a.errors,
                    tps: a.count as f64 / width as f64,
                    avg_ms: a.avg_ms(),
                    p95_ms: quantile_ms(&a.hist, 0.95),
                    max_ms: a.max_ns as f64 / 1e6,
                }
            })
            .collect(),
        top_by_time: by_time,
        top_by_errors: by_errors,
        slowest: slow
            .iter()
            .take(super::SLOWEST)
            .map(|t| SlowTxn {
                id: t.span_id.to_hex(),
                trace_id: t.trace_id.to_hex(),
                endpoint: t.endpoint.to_string(),
                end_ms: t.end_ns() / NS_PER_MS,
                elapsed_ms: t.elapsed_ns as f64 / 1e6,
                error: t.error,
                instance: t.instance.as_deref().map(str::to_owned),
            })
            .collect(),
        sql,
        sql_sampled,
        jvm,
        host,
    })
}

/// SQL of the call trees of `slow` (each trace read once), by total time.
fn top_sql(
    storage: &dyn Storage,
    service: &str,
    slow: &[&TxnRow],
) -> Result<(Vec<SqlRow>, usize), ReportError> {
    let mut seen = HashSet::new();
    let mut rows: HashMap<String, (SqlRow, u128)> = HashMap::new();
    for t in slow.iter().take(SQL_SAMPLE) {
        if !seen.insert(t.trace_id) {
            continue;
        }
        for s in storage.trace_spans(t.trace_id)? {
            if s.service != service {
                continue;
            }
            let Some(sql) = s.sql() else { continue };
            let (row, ns) = rows.entry(sql).or_default();
            row.count += 1;
            row.errors += u64::from(s.error);
            *ns += u128::from(s.elapsed_ns());
            row.max_ms = row.max_ms.max(s.elapsed_ns() as f64 / 1e6);
        }
    }
    let mut list: Vec<SqlRow> = rows
        .into_iter()
        .map(|(sql, (mut row, ns))| {
            row.sql = sql;
            row.total_ms = ns as f64 / 1e6;
            row.avg_ms = row.total_ms / row.count as f64;
            row
        })
        .collect();
    list.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then(a.sql.cmp(&b.sql)));
    list.truncate(TOP_SQL);
    Ok((list, slow.len().min(SQL_SAMPLE)))
}

/// Which summary a metric belongs to, if any.
fn group(name: &str) -> Option<bool> {
    if name.starts_with("jvm.") || name.starts_with("process.runtime.jvm.") {
        Some(true)
    } else if ["system.", "container.", "process.", "k8s."]
        .iter()
        .any(|p| name.starts_with(p))
    {
        Some(false)
    } else {
        None
    }
}

type Summaries = (Vec<SeriesSummary>, Vec<SeriesSummary>);

/// The service's JVM and host series over the range.
fn series_summaries(storage: &dyn Storage, req: &ReportRequest) -> Result<Summaries, ReportError> {
    let all = storage.series(&SeriesQuery {
        service: Some(req.service.clone()),
        from_ns: Some(req.from_ns),
        to_ns: Some(req.to_ns),
        ..SeriesQuery::default()
    })?;
    let (mut jvm, mut host) = (Vec::new(), Vec::new());
    for s in all {
        let Some(is_jvm) = group(&s.name) else {
            continue;
        };
        let Some(summary) = summarize(s) else {
            continue;
        };
        if is_jvm { &mut jvm } else { &mut host }.push(summary);
    }
    let order = |a: &SeriesSummary, b: &SeriesSummary| {
        (&a.name, &a.attributes).cmp(&(&b.name, &b.attributes))
    };
    jvm.sort_by(order);
    host.sort_by(order);
    Ok((jvm, host))
}

fn summarize(s: SeriesJson) -> Option<SeriesSummary> {
    let mut points = s.points;
    points.sort_by_key(|p| p.0);
    let n = points.len();
    let last = points.last()?.1;
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for p in &points {
        min = min.min(p.1);
        max = max.max(p.1);
        sum += p.1;
    }
    let step = n.div_ceil(SPARK_POINTS).max(1);
    let spark = points.iter().step_by(step).map(|p| (p.0, p.1)).collect();
    Some(SeriesSummary {
        name: s.name,
        attributes: s.attributes,
        unit: s.unit,
        points: n,
        min,
        avg: sum / n as f64,
        max,
        last,
        spark,
    })
}
