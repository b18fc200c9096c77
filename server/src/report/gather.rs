//! A report's figures, two ways that give the same numbers:
//!
//! - **From rollups** ([`gather`], when the storage keeps them and the
//!   range starts on a minute): the per-service, per-minute rollups of
//!   [`crate::storage::rollup`] for the whole minutes, the rows of the
//!   partial minute at the end (and of any minute the rollups do not
//!   cover), then only the slowest rows, found by a response-time floor
//!   read off the merged histogram.
//! - **Row by row** ([`gather_exact`]): one pass over the service's
//!   transactions, newest first, in pages through the storage's cursor.
//!
//! Then both read the call trees of the slowest for SQL and the metric
//! series for the JVM and host summary.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::{
    EndpointRow, Report, ReportError, ReportRequest, SPARK_POINTS, SQL_SAMPLE, SeriesSummary,
    SlowTxn, SqlRow, TOP_ENDPOINTS, TOP_SQL, Totals, TrendPoint,
};
use crate::storage::rollup::{EndpointAgg, MinuteAgg, NS_PER_MIN, hist_value, histogram};
use crate::storage::{SeriesJson, SeriesQuery, Storage, TxnCursor, TxnFilter, TxnRow};

const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;
/// Rows read per storage call.
const PAGE: usize = 10_000;

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
/// Response times are kept in [`histogram`]s (µs up to a day, longer ones
/// count as a day; 2 significant digits: percentiles within 1 %, about
/// 30 KiB each).
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
        self.hist.saturating_record(hist_value(t.elapsed_ns));
    }

    /// Adds one endpoint's minute.
    fn merge(&mut self, e: &EndpointAgg) {
        self.count += e.count;
        self.errors += e.errors;
        self.total_ns += e.total_ns();
        self.max_ns = self.max_ns.max(e.max_ns);
        e.add_to(&mut self.hist);
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

/// Reads what `req` covers from `storage` into a [`Report`]: from the
/// storage's per-minute rollups when it keeps them and `req` starts on a
/// whole minute, else row by row ([`gather_exact`]); the figures are the
/// same either way.
pub fn gather(storage: &dyn Storage, req: &ReportRequest) -> Result<Report, ReportError> {
    match gather_rollup(storage, req)? {
        Some(r) => Ok(r),
        None => gather_exact(storage, req),
    }
}

/// [`gather`] with one pass over every transaction of the range (what a
/// backend without rollups, or a range not starting on a minute, gets).
pub fn gather_exact(storage: &dyn Storage, req: &ReportRequest) -> Result<Report, ReportError> {
    let mut sums = Sums::new(req, None);
    for_each_row(storage, range_filter(req), |t| {
        sums.add_row(t);
        sums.slowest.add(t, &mut sums.slow_rows);
    })?;
    sums.finish(storage, req)
}

/// [`gather`] from the rollups; `None` when the storage keeps none or the
/// range does not start on a minute (trend buckets would split minutes).
fn gather_rollup(
    storage: &dyn Storage,
    req: &ReportRequest,
) -> Result<Option<Report>, ReportError> {
    if !req.from_ns.is_multiple_of(NS_PER_MIN) {
        return Ok(None);
    }
    let (from_min, to_min) = (req.from_ns / NS_PER_MIN, req.to_ns / NS_PER_MIN);
    // Each endpoint's newest transaction: which ones get their own row
    // when there are more than MAX_ENDPOINTS (the newest-first pass keeps
    // the first it meets).
    let mut newest: HashMap<Arc<str>, TxnCursor> = HashMap::new();
    let mut sums = Sums::new(req, None);
    let Some(covered) = storage.minute_rollup(&req.service, from_min, to_min, &mut |m| {
        for e in &m.endpoints {
            note_newest(&mut newest, &e.endpoint, e.newest());
        }
        sums.add_minute(m);
    })?
    else {
        return Ok(None);
    };
    // The rows outside the covered minutes: the partial minute at the end,
    // and what retention left before the covered start (nothing, or part
    // of one minute).
    let mut rows = Vec::new();
    for part in uncovered(req, &covered) {
        let f = TxnFilter {
            from_ns: Some(part.start),
            to_ns: Some(part.end),
            ..range_filter(req)
        };
        for_each_row(storage, f, |t| rows.push(t.clone()))?;
    }
    for t in &rows {
        note_newest(&mut newest, &t.endpoint, TxnCursor::of(t));
        sums.add_row(t);
    }
    if newest.len() > MAX_ENDPOINTS {
        let mut order: Vec<_> = newest.into_iter().collect();
        order.sort_by_key(|e| std::cmp::Reverse(e.1));
        let slots = order
            .into_iter()
            .take(MAX_ENDPOINTS)
            .map(|(name, _)| name)
            .collect();
        sums = Sums::new(req, Some(slots));
        storage.minute_rollup(&req.service, from_min, to_min, &mut |m| sums.add_minute(m))?;
        for t in &rows {
            sums.add_row(t);
        }
    }
    // The slowest: only rows at or above the response time below which
    // fewer than the kept number lie, read off the merged histogram.
    let floor_ns = slowest_floor_us(&sums.total.hist, sums.slowest.keep as u64) * 1_000;
    let f = TxnFilter {
        min_elapsed_ns: Some(floor_ns),
        ..range_filter(req)
    };
    for_each_row(storage, f, |t| sums.slowest.add(t, &mut sums.slow_rows))?;
    sums.finish(storage, req).map(Some)
}

fn note_newest(newest: &mut HashMap<Arc<str>, TxnCursor>, endpoint: &str, at: TxnCursor) {
    match newest.get_mut(endpoint) {
        Some(n) => *n = (*n).max(at),
        None => {
            newest.insert(Arc::from(endpoint), at);
        }
    }
}

/// The parts of `req`'s range outside the `covered` minutes, in ns.
fn uncovered(req: &ReportRequest, covered: &Range<u64>) -> Vec<Range<u64>> {
    let lo = (covered.start * NS_PER_MIN).clamp(req.from_ns, req.to_ns);
    let hi = (covered.end * NS_PER_MIN).clamp(lo, req.to_ns);
    [req.from_ns..lo, hi..req.to_ns]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect()
}

/// The lowest value (µs) of the histogram bucket at or above which at
/// least `keep` recorded values lie (0 when fewer are recorded): every one
/// of the `keep` slowest transactions took at least this long.
fn slowest_floor_us(h: &Histogram<u64>, keep: u64) -> u64 {
    if h.len() <= keep {
        return 0;
    }
    let buckets: Vec<(u64, u64)> = h
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    let mut above = 0;
    for (value, count) in buckets.into_iter().rev() {
        above += count;
        if above >= keep {
            return h.lowest_equivalent(value);
        }
    }
    0
}

/// The service and range of `req`.
fn range_filter(req: &ReportRequest) -> TxnFilter {
    TxnFilter {
        service: Some(req.service.clone()),
        from_ns: Some(req.from_ns),
        to_ns: Some(req.to_ns),
        ..TxnFilter::default()
    }
}

/// Visits every transaction `filter` matches, newest first, in pages.
fn for_each_row(
    storage: &dyn Storage,
    mut filter: TxnFilter,
    mut visit: impl FnMut(&TxnRow),
) -> Result<(), ReportError> {
    loop {
        let page = storage.transactions(&filter, PAGE)?.transactions;
        page.iter().for_each(&mut visit);
        match page.last() {
            Some(last) if page.len() == PAGE => filter.before = Some(TxnCursor::of(last)),
            _ => return Ok(()),
        }
    }
}

/// Everything a report sums while it reads.
struct Sums {
    /// Start of the range, UNIX ns and s.
    from_ns: u64,
    from_s: u64,
    range_s: u64,
    bucket_s: u64,
    per_second: Vec<u32>,
    trend: Vec<Acc>,
    total: Acc,
    endpoints: HashMap<Arc<str>, Acc>,
    /// The endpoints with a row of their own; `None`: the first
    /// [`MAX_ENDPOINTS`] met.
    slots: Option<HashSet<Arc<str>>>,
    other: Arc<str>,
    slowest: Slowest,
    slow_rows: HashMap<u64, TxnRow>,
}

impl Sums {
    fn new(req: &ReportRequest, slots: Option<HashSet<Arc<str>>>) -> Self {
        let range_s = (req.to_ns - req.from_ns).div_ceil(NS_PER_S).max(1);
        let bucket_s = match range_s {
            0..=7_200 => 60,
            7_201..=172_800 => 300,
            _ => 3_600,
        };
        let buckets = range_s.div_ceil(bucket_s) as usize;
        Self {
            range_s,
            bucket_s,
            per_second: vec![0u32; range_s as usize],
            trend: (0..buckets).map(|_| Acc::new()).collect(),
            total: Acc::new(),
            endpoints: HashMap::new(),
            slots,
            other: Arc::from(OTHER_ENDPOINTS),
            slowest: Slowest {
                keep: SQL_SAMPLE.max(super::SLOWEST),
                heap: BinaryHeap::new(),
            },
            slow_rows: HashMap::new(),
            from_s: req.from_ns / NS_PER_S,
            from_ns: req.from_ns,
        }
    }

    /// The accumulator of `endpoint`, or of [`OTHER_ENDPOINTS`] when it
    /// gets no row of its own.
    fn endpoint(&mut self, endpoint: &str) -> &mut Acc {
        let key = if self.endpoints.contains_key(endpoint) {
            endpoint
        } else {
            let own = match &self.slots {
                Some(slots) => slots.contains(endpoint),
                None => self.endpoints.len() < MAX_ENDPOINTS,
            };
            let name = if own {
                Arc::from(endpoint)
            } else {
                Arc::clone(&self.other)
            };
            self.endpoints.entry(name).or_insert_with(Acc::new);
            if own { endpoint } else { OTHER_ENDPOINTS }
        };
        self.endpoints.get_mut(key).expect("just inserted")
    }

    fn add_row(&mut self, t: &TxnRow) {
        let offset = t.end_ns().saturating_sub(self.from_ns);
        let second = (offset / NS_PER_S) as usize;
        if let Some(c) = self.per_second.get_mut(second) {
            *c = c.saturating_add(1);
        }
        let b = (offset / (self.bucket_s * NS_PER_S)) as usize;
        if let Some(acc) = self.trend.get_mut(b) {
            acc.add(t);
        }
        self.total.add(t);
        self.endpoint(&t.endpoint).add(t);
    }

    /// Adds a rollup minute inside the range (the range starts on a
    /// minute, so the minute lies in one trend bucket).
    fn add_minute(&mut self, m: &MinuteAgg) {
        let offset_s = (m.minute * 60).saturating_sub(self.from_s);
        for (i, n) in m.per_second.iter().enumerate() {
            if let Some(c) = self.per_second.get_mut(offset_s as usize + i) {
                *c = c.saturating_add(*n);
            }
        }
        let b = (offset_s / self.bucket_s) as usize;
        for e in &m.endpoints {
            if let Some(acc) = self.trend.get_mut(b) {
                acc.merge(e);
            }
            self.total.merge(e);
            self.endpoint(&e.endpoint).merge(e);
        }
    }

    /// The call trees and series read, the report assembled.
    fn finish(self, storage: &dyn Storage, req: &ReportRequest) -> Result<Report, ReportError> {
        let Self {
            range_s,
            bucket_s,
            per_second,
            trend,
            total,
            endpoints,
            slowest,
            slow_rows,
            ..
        } = self;
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
