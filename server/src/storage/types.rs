//! The plain data that crosses the [`Storage`](super::Storage) trait:
//! query parameters, rows and reports. No engine type is part of them.

use std::sync::Arc;

use osprey::model::{SpanId, TraceId};
use serde::{Deserialize, Serialize};

use crate::record::{MetricPoint, SpanRec};

use crate::record::MetricKind;
// The segment store's descriptors are part of `/api/status`'s shape.
pub use crate::store::{Issue, SegmentInfo};

/// What one acknowledged request brought.
#[derive(Clone, Debug, Default)]
pub struct IngestBatch {
    /// Spans: whole trees and root-only summaries, in any trace order.
    pub spans: Vec<SpanRec>,
    /// Metric points.
    pub metrics: Vec<MetricPoint>,
}

/// What an [`append`](super::Storage::append) stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendAck {
    /// Records written (embedded: the spans in records of up to 2 048
    /// spans, and one for the metrics).
    pub records: u64,
    /// Spans stored.
    pub spans: u64,
    /// Metric points stored.
    pub metric_points: u64,
}

/// Filters of a transaction list; every field is optional.
#[derive(Clone, Debug, Default)]
pub struct TxnFilter {
    /// End at or after, UNIX ns.
    pub from_ns: Option<u64>,
    /// End before, UNIX ns.
    pub to_ns: Option<u64>,
    /// Elapsed at least, ns.
    pub min_elapsed_ns: Option<u64>,
    /// Elapsed at most, ns.
    pub max_elapsed_ns: Option<u64>,
    /// Only failed ones.
    pub error_only: bool,
    /// Service equals.
    pub service: Option<String>,
    /// Endpoint equals.
    pub endpoint: Option<String>,
    /// Client IP equals.
    pub client_ip: Option<String>,
    /// User equals.
    pub user: Option<String>,
    /// `service.instance.id` equals.
    pub instance: Option<String>,
    /// HTTP response status equals.
    pub http_status: Option<u16>,
    /// Trace id equals.
    pub trace_id: Option<TraceId>,
    /// Only rows older than this cursor in the newest-first order: the
    /// `next` of the previous page, to page through a range.
    pub before: Option<TxnCursor>,
}

/// A position in the newest-first order of transactions: a row's end and
/// sequence number. Pages continue strictly after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TxnCursor {
    /// End, UNIX ns.
    pub end_ns: u64,
    /// Ingest sequence number.
    pub seq: u64,
}

impl TxnCursor {
    /// The cursor at `row`.
    pub fn of(row: &TxnRow) -> Self {
        Self {
            end_ns: row.end_ns(),
            seq: row.seq,
        }
    }

    /// Text form `<end ns>-<seq>`, as the API shows it.
    pub fn to_text(self) -> String {
        format!("{}-{}", self.end_ns, self.seq)
    }

    /// Parses [`TxnCursor::to_text`]'s form.
    pub fn parse(s: &str) -> Option<Self> {
        let (end, seq) = s.split_once('-')?;
        Some(Self {
            end_ns: end.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl TxnFilter {
    /// True when `t` passes every filter.
    pub fn matches(&self, t: &TxnRow) -> bool {
        let end = t.end_ns();
        self.from_ns.is_none_or(|f| end >= f)
            && self.to_ns.is_none_or(|x| end < x)
            && self.min_elapsed_ns.is_none_or(|m| t.elapsed_ns >= m)
            && self.max_elapsed_ns.is_none_or(|m| t.elapsed_ns <= m)
            && (!self.error_only || t.error)
            && self.service.as_deref().is_none_or(|s| &*t.service == s)
            && self.endpoint.as_deref().is_none_or(|s| &*t.endpoint == s)
            && self
                .client_ip
                .as_deref()
                .is_none_or(|s| t.client_ip.as_deref() == Some(s))
            && self
                .user
                .as_deref()
                .is_none_or(|s| t.user.as_deref() == Some(s))
            && self
                .instance
                .as_deref()
                .is_none_or(|s| t.instance.as_deref() == Some(s))
            && self.http_status.is_none_or(|h| t.http_status == h)
            && self.trace_id.is_none_or(|x| t.trace_id == x)
            && self.before.is_none_or(|b| TxnCursor::of(t) < b)
    }
}

/// One transaction's summary (an XLog entry), as a backend returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct TxnRow {
    /// Ingest sequence number (the live-update cursor).
    pub seq: u64,
    /// Trace id.
    pub trace_id: TraceId,
    /// The root span's id; the transaction id.
    pub span_id: SpanId,
    /// The root span's parent (in another service or process).
    pub parent: Option<SpanId>,
    /// Service name.
    pub service: Arc<str>,
    /// Endpoint (root span name).
    pub endpoint: Arc<str>,
    /// Start, UNIX ns.
    pub start_ns: u64,
    /// Elapsed ns.
    pub elapsed_ns: u64,
    /// Status ERROR, an exception on the root, or HTTP status >= 500.
    pub error: bool,
    /// `client.address`.
    pub client_ip: Option<Arc<str>>,
    /// `enduser.id` or `user.id`.
    pub user: Option<Arc<str>>,
    /// HTTP response status, 0 when none.
    pub http_status: u16,
    /// `thread.id`, 0 when none.
    pub thread: u64,
    /// `service.instance.id` of the process that sent it.
    pub instance: Option<Arc<str>>,
    /// A summary: the call tree was not kept (`osprey.tree=omitted`), only
    /// the root span travelled.
    pub tree_omitted: bool,
}

impl TxnRow {
    /// End, UNIX ns.
    pub fn end_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.elapsed_ns)
    }

    /// The JSON form.
    pub fn to_json(&self) -> TxnJson {
        TxnJson {
            seq: self.seq,
            id: self.span_id.to_hex(),
            trace_id: self.trace_id.to_hex(),
            parent_span_id: self.parent.map(|p| p.to_hex()),
            service: self.service.to_string(),
            endpoint: self.endpoint.to_string(),
            start_ms: self.start_ns / 1_000_000,
            end_ms: self.end_ns() / 1_000_000,
            elapsed_ms: self.elapsed_ns as f64 / 1e6,
            error: self.error,
            client_ip: self.client_ip.as_deref().map(str::to_owned),
            user: self.user.as_deref().map(str::to_owned),
            http_status: self.http_status,
            thread: self.thread,
            instance: self.instance.as_deref().map(str::to_owned),
            tree_omitted: self.tree_omitted,
        }
    }
}

/// A transaction as the API returns it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TxnJson {
    /// Ingest sequence number.
    pub seq: u64,
    /// Transaction id (root span id, 16 hex digits).
    pub id: String,
    /// Trace id (32 hex digits).
    pub trace_id: String,
    /// Parent span id of the root, when called from elsewhere.
    pub parent_span_id: Option<String>,
    /// Service.
    pub service: String,
    /// Endpoint.
    pub endpoint: String,
    /// Start, UNIX ms.
    pub start_ms: u64,
    /// End, UNIX ms.
    pub end_ms: u64,
    /// Elapsed ms.
    pub elapsed_ms: f64,
    /// Failed.
    pub error: bool,
    /// Client IP.
    pub client_ip: Option<String>,
    /// User id.
    pub user: Option<String>,
    /// HTTP status, 0 when none.
    pub http_status: u16,
    /// Thread id, 0 when none.
    pub thread: u64,
    /// `service.instance.id` of the sending process, when it set one.
    #[serde(default)]
    pub instance: Option<String>,
    /// True for a summary: the agent's tree budget left the call tree out
    /// and only the transaction itself was sent.
    #[serde(default)]
    pub tree_omitted: bool,
}

/// Transactions and the live-update cursor, read at the same instant (a
/// client that polls from `cursor` misses nothing that arrived after).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TxnPage {
    /// The sequence number of the newest transaction held (0 when none).
    pub cursor: u64,
    /// The rows, in the order the call documents.
    pub transactions: Vec<TxnRow>,
}

/// In-flight transactions of one service, as last reported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ActiveReport {
    /// Service.
    pub service: String,
    /// When the server received the report, UNIX ms (set by the server).
    #[serde(default)]
    pub received_ms: u64,
    /// The transactions in flight.
    pub transactions: Vec<ActiveTxn>,
}

/// One in-flight transaction.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ActiveTxn {
    /// Endpoint.
    pub endpoint: String,
    /// Elapsed so far, ms.
    pub elapsed_ms: f64,
    /// Thread name or id.
    #[serde(default)]
    pub thread: String,
    /// Trace id, if known.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The thread's stack, when captured.
    #[serde(default)]
    pub stack: Option<String>,
}

/// What [`apply_retention`](super::Storage::apply_retention) removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Time partitions (embedded: segment files) deleted.
    pub partitions_removed: u64,
}

/// What `/api/status` shows (the shape it has had since the first
/// release; a backend without segments leaves `segments` empty).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Segments on disk.
    pub segments: Vec<SegmentInfo>,
    /// Bytes in segments.
    pub store_bytes: u64,
    /// Damage found while reading segments (start-up scan and tree reads).
    pub issues: Vec<Issue>,
    /// Index counters.
    pub index: IndexStats,
    /// Records appended since start (one per trace per request, one per metrics request).
    pub records_written: u64,
}

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
pub fn aggregate_bounds_ms() -> &'static [u64] {
    &osprey::model::HISTOGRAM_BOUNDS_MS
}

/// A series query; empty fields match everything.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SeriesQuery {
    /// Service equals.
    pub service: Option<String>,
    /// Metric name equals.
    pub name: Option<String>,
    /// `service.instance.id` equals (`Some("")`: points sent without one).
    #[serde(default)]
    pub instance: Option<String>,
    /// Points at or after, UNIX ns.
    pub from_ns: Option<u64>,
    /// Points before, UNIX ns.
    pub to_ns: Option<u64>,
    /// Keep only the latest point of each series (at or before `to_ns`).
    pub latest_only: bool,
}

/// One series in an answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeriesJson {
    /// Service.
    pub service: String,
    /// Metric name.
    pub name: String,
    /// Point attributes, `k=v` sorted and joined by `,`.
    pub attributes: String,
    /// Unit.
    pub unit: String,
    /// `Gauge`, `Sum` or `Histogram`.
    pub kind: MetricKind,
    /// `[time ms, value, count]` (count is the histogram observation count, else 0).
    pub points: Vec<(u64, f64, u64)>,
    /// `service.instance.id` of the sender, empty when it sent none.
    #[serde(default)]
    pub instance: String,
    /// `host.name` of the sender, empty when it sent none.
    #[serde(default)]
    pub host: String,
}

impl SeriesJson {
    /// What tells one series from another: service, instance, host, name
    /// and point attributes.
    pub fn key(&self) -> (String, String, String, String, String) {
        (
            self.service.clone(),
            self.instance.clone(),
            self.host.clone(),
            self.name.clone(),
            self.attributes.clone(),
        )
    }
}

/// What an edge points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Another instrumented service.
    Service,
    /// A database.
    Database,
    /// An uninstrumented host.
    External,
    /// Not known yet (only shown once a callee service is seen).
    Unknown,
}

/// One server-map edge.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EdgeJson {
    /// Calling service.
    pub caller: String,
    /// Callee: service name, database name or host.
    pub callee: String,
    /// What the callee is.
    pub callee_kind: TargetKind,
    /// Calls.
    pub count: u64,
    /// Failed calls.
    pub errors: u64,
    /// Median call duration, ms (nearest rank).
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

/// One instance as `/api/instances` returns it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct InstanceJson {
    /// Service name.
    pub service: String,
    /// `service.instance.id`.
    pub instance: String,
    /// `host.name`, when sent.
    pub host: Option<String>,
    /// `process.pid`, when sent.
    pub pid: Option<i64>,
    /// End of its first transaction indexed, UNIX ms.
    pub first_seen_ms: u64,
    /// End of its latest transaction, UNIX ms.
    pub last_seen_ms: u64,
    /// Transactions indexed since the server started (from the whole
    /// store at start-up).
    pub transactions: u64,
    /// Of which failed.
    pub errors: u64,
    /// Of which summaries (call tree not kept).
    pub summaries: u64,
}

/// Orders instances as `/api/instances` lists them: by service, then
/// latest seen first, then by id.
pub fn sort_instances(list: &mut [InstanceJson]) {
    list.sort_by(|a, b| {
        (
            a.service.as_str(),
            std::cmp::Reverse(a.last_seen_ms),
            &a.instance,
        )
            .cmp(&(
                b.service.as_str(),
                std::cmp::Reverse(b.last_seen_ms),
                &b.instance,
            ))
    });
}

/// Counters shown by `/api/status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexStats {
    /// Transactions held.
    pub transactions: usize,
    /// Transactions evicted by the cap or by retention.
    pub evicted_transactions: u64,
    /// Outgoing calls held for the server map.
    pub edges: usize,
    /// Metric series held.
    pub series: usize,
    /// Metric points dropped because the series cap was reached.
    pub dropped_metric_points: u64,
    /// Spans indexed since start.
    pub spans_indexed: u64,
    /// Segments indexed in memory (the one being written, and any not
    /// sealed yet).
    pub hot_segments: usize,
    /// Segments answered from their index files.
    pub sealed_segments: usize,
    /// Bytes of decoded index parts in the query cache.
    pub cache_bytes: u64,
    /// The cache's budget.
    pub cache_budget_bytes: u64,
}
