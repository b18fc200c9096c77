//! In-memory indexes over the stored records, rebuilt from the segments at
//! start-up and updated on every acknowledged request. Every structure is
//! capped ([`IndexConfig`]); the oldest entries go first.
//!
//! Transaction summaries live here; span details (call trees) stay on disk
//! and are read back by position ([`Index::trace_locations`]).

// The exact answers the mergeable aggregates of `storage::disk::agg` are
// checked against.
#[cfg(test)]
mod aggregate;
mod metrics;
mod servermap;

// The query, row and answer types live with the storage trait; re-exported
// here for existing callers.
pub use crate::storage::{
    EdgeJson, IndexStats, InstanceJson, SecondStats, SeriesJson, SeriesQuery, TargetKind,
    TxnFilter, TxnJson, aggregate_bounds_ms,
};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use osprey::model::{SpanId, TraceId};

use crate::record::{MetricPoint, SpanRec};
use crate::storage::TxnRow;
use crate::storage::disk::agg::{EdgeAgg, SecondAgg};
use crate::store::Loc;
use metrics::MetricIndex;
use servermap::EdgeIndex;
pub use servermap::call_target;

/// Calls of one edge that ended in one second.
#[derive(Clone, Debug)]
pub struct EdgeSecond {
    /// UNIX second of the calls' end.
    pub second: u64,
    /// Calling service.
    pub caller: Arc<str>,
    /// Callee: service, database or host.
    pub callee: Arc<str>,
    /// What the callee is.
    pub kind: TargetKind,
    /// The calls' counts and durations.
    pub agg: EdgeAgg,
}

/// Caps on what the indexes hold in memory.
#[derive(Clone, Debug)]
pub struct IndexConfig {
    /// Transactions indexed in memory for the segment being written
    /// (default 200,000, about 500 B each); past it the segment is closed
    /// and sealed to disk.
    pub max_transactions: usize,
    /// Bytes of decoded sealed-segment index parts cached for queries
    /// (default 256 MiB).
    pub cache_bytes: u64,
    /// Outgoing calls kept for the server map (default 1,000,000, about 80 B each).
    pub max_edges: usize,
    /// Metric series kept (default 2,048); points of new series beyond it are dropped and counted.
    pub max_series: usize,
    /// Points kept per series (default 3,600), oldest dropped first.
    pub max_points_per_series: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            max_transactions: 200_000,
            cache_bytes: 256 << 20,
            max_edges: 1_000_000,
            max_series: 2_048,
            max_points_per_series: 3_600,
        }
    }
}

/// One transaction's summary (an XLog entry) and where its root span is
/// stored; the summary's fields are reached through `Deref`.
#[derive(Clone, Debug)]
pub struct Txn {
    /// The summary, as [`crate::storage::Storage`] returns it.
    pub row: TxnRow,
    /// Where the root span is stored.
    pub loc: Loc,
}

impl std::ops::Deref for Txn {
    type Target = TxnRow;

    fn deref(&self) -> &TxnRow {
        &self.row
    }
}

impl Txn {
    /// The "user" counted for concurrent users: the user id, else the client IP.
    pub fn visitor(&self) -> Option<&Arc<str>> {
        self.user.as_ref().or(self.client_ip.as_ref())
    }

    /// The plain row a [`crate::storage::Storage`] returns.
    pub fn row(&self) -> TxnRow {
        self.row.clone()
    }
}

impl TxnFilter {
    fn accepts(&self, t: &Txn) -> bool {
        self.matches(&t.row)
    }
}

/// Most instances (service, `service.instance.id`) remembered; past it the
/// one seen longest ago is forgotten.
pub const MAX_INSTANCES: usize = 4_096;

/// What the index knows of one process of a service.
#[derive(Clone, Debug)]
struct InstanceEntry {
    host: Option<Arc<str>>,
    pid: Option<i64>,
    first_ns: u64,
    last_ns: u64,
    transactions: u64,
    errors: u64,
    summaries: u64,
}

const NS_PER_S: u64 = 1_000_000_000;

/// What the index knows about one trace.
#[derive(Default)]
struct TraceEntry {
    /// Records holding its spans.
    locs: Vec<Loc>,
    /// Sequence numbers of its transactions.
    txns: Vec<u64>,
}

/// The in-memory indexes.
pub struct Index {
    cfg: IndexConfig,
    next_seq: u64,
    txns: VecDeque<Txn>,
    by_end_second: BTreeMap<u64, Vec<u64>>,
    by_id: HashMap<SpanId, u64>,
    traces: HashMap<TraceId, TraceEntry>,
    trace_order: VecDeque<TraceId>,
    edges: EdgeIndex,
    metrics: MetricIndex,
    strings: HashSet<Arc<str>>,
    instances: HashMap<(Arc<str>, Arc<str>), InstanceEntry>,
    stats: IndexStats,
}

impl Index {
    /// Empty indexes with caps `cfg`.
    pub fn new(cfg: IndexConfig) -> Self {
        Self::starting_at(cfg, 1)
    }

    /// Empty indexes whose first transaction gets sequence number
    /// `next_seq` (the indexes of successive segments continue one
    /// numbering).
    pub fn starting_at(cfg: IndexConfig, next_seq: u64) -> Self {
        Self {
            edges: EdgeIndex::new(cfg.max_edges),
            metrics: MetricIndex::new(cfg.max_series, cfg.max_points_per_series),
            cfg,
            next_seq: next_seq.max(1),
            txns: VecDeque::new(),
            by_end_second: BTreeMap::new(),
            by_id: HashMap::new(),
            traces: HashMap::new(),
            trace_order: VecDeque::new(),
            strings: HashSet::new(),
            instances: HashMap::new(),
            stats: IndexStats::default(),
        }
    }

    /// Shares one allocation per distinct string; the table is a cache and
    /// is cleared when it grows past the transaction cap.
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        if self.strings.len() >= self.cfg.max_transactions.max(1024) {
            self.strings.clear();
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(a.clone());
        a
    }

    /// Indexes the spans of the record at `loc`.
    pub fn add_spans(&mut self, loc: Loc, spans: &[SpanRec]) {
        for s in spans {
            self.stats.spans_indexed += 1;
            self.note_trace(s.trace_id, loc);
            let service = self.intern(&s.service);
            if s.kind == crate::record::Kind::Client {
                self.edges.add_call(s, service.clone());
            }
            if s.is_transaction_root() {
                if let Some(p) = s.parent {
                    self.edges.note_callee(s.trace_id, p, service.clone());
                }
                self.add_txn(s, service, loc);
            }
        }
    }

    fn note_trace(&mut self, trace: TraceId, loc: Loc) {
        let entry = self.traces.entry(trace).or_default();
        if entry.locs.is_empty() {
            self.trace_order.push_back(trace);
        }
        if !entry.locs.contains(&loc) {
            entry.locs.push(loc);
        }
        while self.trace_order.len() > self.cfg.max_transactions {
            if let Some(old) = self.trace_order.pop_front() {
                self.traces.remove(&old);
            }
        }
    }

    fn add_txn(&mut self, s: &SpanRec, service: Arc<str>, loc: Loc) {
        if self
            .by_span(s.span_id)
            .is_some_and(|t| t.trace_id == s.trace_id)
        {
            // A retried request: the transaction is already indexed.
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let http_status = s.http_status();
        let user = s.attr_text("enduser.id").or_else(|| s.attr_text("user.id"));
        let client_ip = s.attr_text("client.address");
        let instance = s
            .attr_text("service.instance.id")
            .filter(|i| !i.is_empty())
            .map(|i| self.intern(&i));
        let tree_omitted = matches!(
            s.attr(osprey::model::ATTR_TREE),
            Some(osprey::AttrValue::Str(v)) if v == osprey::model::TREE_OMITTED
        );
        let row = TxnRow {
            seq,
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent: s.parent,
            endpoint: self.intern(&s.name),
            service,
            start_ns: s.start_ns,
            elapsed_ns: s.elapsed_ns(),
            error: s.error || !s.exceptions.is_empty() || http_status >= 500,
            client_ip: client_ip.map(|c| self.intern(&c)),
            user: user.map(|u| self.intern(&u)),
            http_status,
            thread: match s.attr("thread.id") {
                Some(osprey::AttrValue::Int(i)) => u64::try_from(*i).unwrap_or(0),
                _ => 0,
            },
            instance,
            tree_omitted,
        };
        let txn = Txn { row, loc };
        if let Some(id) = txn.instance.clone() {
            self.note_instance(s, &txn, id);
        }
        self.by_end_second
            .entry(txn.end_ns() / NS_PER_S)
            .or_default()
            .push(seq);
        self.by_id.insert(txn.span_id, seq);
        if let Some(e) = self.traces.get_mut(&txn.trace_id) {
            e.txns.push(seq);
        }
        self.txns.push_back(txn);
        while self.txns.len() > self.cfg.max_transactions {
            self.evict_front();
        }
    }

    /// Counts `txn` for its instance `id` (host and pid from `s`).
    fn note_instance(&mut self, s: &SpanRec, txn: &Txn, id: Arc<str>) {
        let end = txn.end_ns();
        let key = (txn.service.clone(), id);
        if !self.instances.contains_key(&key) && self.instances.len() >= MAX_INSTANCES {
            let oldest = self
                .instances
                .iter()
                .min_by_key(|(_, e)| e.last_ns)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.instances.remove(&k);
            }
        }
        let host = s.attr_text("host.name").map(|h| self.intern(&h));
        let pid = match s.attr("process.pid") {
            Some(osprey::AttrValue::Int(p)) => Some(*p),
            Some(osprey::AttrValue::Str(p)) => p.parse().ok(),
            _ => None,
        };
        let e = self.instances.entry(key).or_insert(InstanceEntry {
            host: None,
            pid: None,
            first_ns: end,
            last_ns: end,
            transactions: 0,
            errors: 0,
            summaries: 0,
        });
        e.host = host.or(e.host.take());
        e.pid = pid.or(e.pid);
        e.first_ns = e.first_ns.min(end);
        e.last_ns = e.last_ns.max(end);
        e.transactions += 1;
        e.errors += u64::from(txn.error);
        e.summaries += u64::from(txn.tree_omitted);
    }

    /// The instances of `service` (of every service when `None`), by
    /// service then latest seen first.
    pub fn instances(&self, service: Option<&str>) -> Vec<InstanceJson> {
        let mut out: Vec<InstanceJson> = self
            .instances
            .iter()
            .filter(|((svc, _), _)| service.is_none_or(|s| &**svc == s))
            .map(|((svc, id), e)| InstanceJson {
                service: svc.to_string(),
                instance: id.to_string(),
                host: e.host.as_deref().map(str::to_owned),
                pid: e.pid,
                first_seen_ms: e.first_ns / 1_000_000,
                last_seen_ms: e.last_ns / 1_000_000,
                transactions: e.transactions,
                errors: e.errors,
                summaries: e.summaries,
            })
            .collect();
        crate::storage::sort_instances(&mut out);
        out
    }

    fn evict_front(&mut self) {
        let Some(t) = self.txns.pop_front() else {
            return;
        };
        let sec = t.end_ns() / NS_PER_S;
        if let Some(v) = self.by_end_second.get_mut(&sec) {
            v.retain(|s| *s != t.seq);
            if v.is_empty() {
                self.by_end_second.remove(&sec);
            }
        }
        if self.by_id.get(&t.span_id) == Some(&t.seq) {
            self.by_id.remove(&t.span_id);
        }
        self.stats.evicted_transactions += 1;
    }

    /// Forgets what was stored in segments below `segment` (deleted by
    /// retention) and everything that ended before `cutoff_ns`.
    pub fn evict_older(&mut self, segment: u64, cutoff_ns: u64) {
        while self
            .txns
            .front()
            .is_some_and(|t| t.loc.segment < segment || t.end_ns() < cutoff_ns)
        {
            self.evict_front();
        }
        self.edges.evict_before(cutoff_ns);
        self.metrics.evict_before(cutoff_ns);
    }

    /// Indexes metric points.
    pub fn add_metrics(&mut self, points: &[MetricPoint]) {
        for p in points {
            self.metrics.add(p);
        }
    }

    fn get(&self, seq: u64) -> Option<&Txn> {
        let first = self.txns.front()?.seq;
        self.txns.get(seq.checked_sub(first)? as usize)
    }

    /// Transactions matching `f`, newest end first, at most `limit`.
    pub fn transactions(&self, f: &TxnFilter, limit: usize) -> Vec<&Txn> {
        let lo = f.from_ns.map_or(0, |x| x / NS_PER_S);
        let hi = f
            .to_ns
            .map_or(u64::MAX, |x| x / NS_PER_S)
            .min(f.before.map_or(u64::MAX, |b| b.end_ns / NS_PER_S));
        let mut out = Vec::new();
        for (_, seqs) in self.by_end_second.range(lo..=hi).rev() {
            let mut second: Vec<&Txn> = seqs
                .iter()
                .filter_map(|s| self.get(*s))
                .filter(|t| f.accepts(t))
                .collect();
            second.sort_by_key(|t| std::cmp::Reverse((t.end_ns(), t.seq)));
            for t in second {
                if out.len() >= limit {
                    return out;
                }
                out.push(t);
            }
        }
        out
    }

    /// Transactions ingested after cursor `since` (oldest first, at most
    /// `limit`), for live updates.
    pub fn since(&self, since: u64, limit: usize) -> Vec<&Txn> {
        let Some(first) = self.txns.front().map(|t| t.seq) else {
            return Vec::new();
        };
        let start = since.saturating_add(1).saturating_sub(first) as usize;
        self.txns
            .range(start.min(self.txns.len())..)
            .take(limit)
            .collect()
    }

    /// The cursor of the newest transaction (0 when none).
    pub fn cursor(&self) -> u64 {
        self.next_seq - 1
    }

    /// The transaction whose root span is `id`.
    pub fn by_span(&self, id: SpanId) -> Option<&Txn> {
        self.by_id
            .get(&id)
            .and_then(|s| self.get(*s))
            .filter(|t| t.span_id == id)
    }

    /// The transactions of a trace, by start.
    pub fn of_trace(&self, trace: TraceId) -> Vec<&Txn> {
        let Some(entry) = self.traces.get(&trace) else {
            return Vec::new();
        };
        let mut out: Vec<&Txn> = entry.txns.iter().filter_map(|s| self.get(*s)).collect();
        out.sort_by_key(|t| t.start_ns);
        out
    }

    /// Records holding spans of `trace`.
    pub fn trace_locations(&self, trace: TraceId) -> Vec<Loc> {
        self.traces
            .get(&trace)
            .map(|e| e.locs.clone())
            .unwrap_or_default()
    }

    /// Per-second statistics for seconds `from_s..=to_s`, concurrent users
    /// counted over the `window_s` seconds ending at each second, exactly
    /// (the reference for the mergeable aggregates).
    #[cfg(test)]
    pub fn seconds(&self, from_s: u64, to_s: u64, window_s: u64) -> Vec<SecondStats> {
        aggregate::seconds(self, from_s, to_s, window_s)
    }

    /// Server-map edges of calls ending in `[from_ns, to_ns)`, with exact
    /// percentiles (the reference for the edge sketches).
    #[cfg(test)]
    pub fn server_map(&self, from_ns: u64, to_ns: u64) -> Vec<EdgeJson> {
        self.edges.edges(from_ns, to_ns)
    }

    /// Metric series matching `q`.
    pub fn series(&self, q: &SeriesQuery) -> Vec<SeriesJson> {
        self.metrics.query(q)
    }

    /// Counters.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            transactions: self.txns.len(),
            edges: self.edges.len(),
            series: self.metrics.len(),
            dropped_metric_points: self.metrics.dropped(),
            ..self.stats.clone()
        }
    }

    /// The sequence number the next transaction gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Transactions held, oldest ingested first.
    pub fn rows(&self) -> impl Iterator<Item = &Txn> {
        self.txns.iter()
    }

    /// Every trace with the records holding its spans.
    pub fn trace_records(&self) -> impl Iterator<Item = (TraceId, &[Loc])> {
        self.traces.iter().map(|(t, e)| (*t, e.locs.as_slice()))
    }

    /// Mergeable per-second aggregates of seconds `from_s..=to_s` (only
    /// seconds with transactions).
    pub fn second_aggs(&self, from_s: u64, to_s: u64) -> Vec<SecondAgg> {
        let mut out: Vec<SecondAgg> = Vec::new();
        for (sec, t) in self.seconds_range(from_s, to_s) {
            if out.last().is_none_or(|a| a.second != sec) {
                out.push(SecondAgg::new(sec));
            }
            let a = out.last_mut().expect("pushed above");
            a.add(t.elapsed_ns, t.error, t.visitor().map(|v| &**v));
        }
        out
    }

    /// Server-map edges of calls ending in `[from_ns, to_ns)`, per end
    /// second, mergeable.
    pub fn edge_aggs(&self, from_ns: u64, to_ns: u64) -> Vec<EdgeSecond> {
        self.edges.edge_aggs(from_ns, to_ns)
    }

    /// Every metric point held.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        self.metrics.points()
    }

    fn seconds_range(&self, from_s: u64, to_s: u64) -> impl Iterator<Item = (u64, &Txn)> {
        self.by_end_second
            .range(from_s..=to_s)
            .flat_map(move |(s, seqs)| {
                seqs.iter()
                    .filter_map(move |q| self.get(*q).map(|t| (*s, t)))
            })
    }
}

#[cfg(test)]
mod tests {
    use osprey::AttrValue;

    use super::*;
    use crate::record::Kind;

    fn root(n: u64, instance: &str, host: &str, end_ms: u64, omitted: bool) -> SpanRec {
        let mut attributes = vec![
            ("service.instance.id".to_owned(), AttrValue::from(instance)),
            ("host.name".to_owned(), AttrValue::from(host)),
            ("process.pid".to_owned(), AttrValue::Int(7)),
        ];
        if omitted {
            attributes.push(("osprey.tree".to_owned(), AttrValue::from("omitted")));
        }
        SpanRec {
            trace_id: TraceId([(n % 250) as u8 + 1; 16]),
            span_id: SpanId((n + 1).to_le_bytes()),
            parent: None,
            service: "shop".into(),
            name: "GET /".into(),
            kind: Kind::Server,
            flags: 0,
            start_ns: (end_ms - 1) * 1_000_000,
            end_ns: end_ms * 1_000_000,
            error: false,
            status_message: String::new(),
            attributes,
            exceptions: Vec::new(),
        }
    }

    #[test]
    fn instances_count_their_transactions_and_the_oldest_goes_past_the_cap() {
        let mut index = Index::new(IndexConfig::default());
        let loc = Loc {
            segment: 1,
            offset: 0,
        };
        index.add_spans(loc, &[root(0, "a", "h1", 5_000, true)]);
        index.add_spans(loc, &[root(1, "a", "h2", 4_000, false)]);
        let a = &index.instances(Some("shop"))[0];
        assert_eq!(
            (a.transactions, a.summaries, a.first_seen_ms, a.last_seen_ms),
            (2, 1, 4_000, 5_000)
        );
        assert_eq!(
            a.host.as_deref(),
            Some("h2"),
            "the latest report of the host"
        );
        assert_eq!(a.pid, Some(7));
        let f = TxnFilter {
            instance: Some("a".into()),
            ..TxnFilter::default()
        };
        assert_eq!(index.transactions(&f, 10).len(), 2);
        assert!(index.transactions(&f, 10).iter().any(|t| t.tree_omitted));
        for n in 0..MAX_INSTANCES as u64 {
            let end = 10_000 + n;
            index.add_spans(loc, &[root(100 + n, &format!("i{n}"), "h", end, false)]);
        }
        let all = index.instances(None);
        assert_eq!(all.len(), MAX_INSTANCES);
        assert!(all.iter().all(|i| i.instance != "a"), "seen longest ago");
        assert!(index.instances(Some("other")).is_empty());
    }
}
