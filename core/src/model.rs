//! The records exporters see: finished transactions, their steps, and
//! per-second aggregates.
//!
//! Everything here is produced by the collector thread from the raw,
//! tick-stamped data the recording threads hand over. Names (endpoints, step
//! names, attribute keys) are interned [`NameId`]s; resolve them with
//! [`ExportBatch::name`] or [`crate::names::resolve`].

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::names::{self, NameId};

/// A 128-bit W3C trace id. All zeroes is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit W3C span id. All zeroes is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SpanId(pub [u8; 8]);

macro_rules! hex_id {
    ($ty:ident, $len:literal) => {
        impl $ty {
            /// True unless every byte is zero.
            pub fn is_valid(&self) -> bool {
                self.0.iter().any(|b| *b != 0)
            }

            /// Lower-case hex, as in `traceparent` and Zipkin JSON.
            pub fn to_hex(&self) -> String {
                let mut s = String::with_capacity($len * 2);
                for b in self.0 {
                    s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
                    s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
                }
                s
            }

            /// Parses exactly `2 * len` hex digits (either case).
            pub fn from_hex(s: &str) -> Option<Self> {
                let bytes = s.as_bytes();
                if bytes.len() != $len * 2 {
                    return None;
                }
                let mut out = [0u8; $len];
                for (i, pair) in bytes.chunks_exact(2).enumerate() {
                    let hi = (pair[0] as char).to_digit(16)?;
                    let lo = (pair[1] as char).to_digit(16)?;
                    out[i] = (hi * 16 + lo) as u8;
                }
                Some(Self(out))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}
hex_id!(TraceId, 16);
hex_id!(SpanId, 8);

/// OpenTelemetry span kind of a transaction or step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SpanKind {
    /// Handles a request from outside (a servlet, an HTTP handler).
    Server,
    /// Work started inside the process (a batch job, a `tracing` root span).
    #[default]
    Internal,
    /// A call out to another service or database.
    Client,
}

/// What a step measures; decides the exporter's semantic conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum StepKind {
    /// A method or function call (`code.*` attributes).
    #[default]
    Method = 0,
    /// A database statement (`db.*` attributes); exported as a CLIENT span.
    Sql = 1,
    /// An outgoing HTTP call (`http.*`, `url.*`); exported as a CLIENT span.
    HttpCall = 2,
    /// Anything else the application marks.
    Custom = 3,
}

impl StepKind {
    /// Decodes the numeric kind used by the C ABI; unknown values become `Custom`.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Method,
            1 => Self::Sql,
            2 => Self::HttpCall,
            _ => Self::Custom,
        }
    }

    /// The span kind an exporter should use for this step.
    pub fn span_kind(self) -> SpanKind {
        match self {
            Self::Sql | Self::HttpCall => SpanKind::Client,
            Self::Method | Self::Custom => SpanKind::Internal,
        }
    }
}

/// An attribute value, as in OpenTelemetry's `AnyValue` (scalars only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttrValue {
    /// UTF-8 text.
    Str(String),
    /// Signed integer.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Boolean.
    Bool(bool),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => f.write_str(s),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// Transaction attribute: how many SQL steps it ran (outermost only).
pub const ATTR_SQL_COUNT: &str = "osprey.sql.count";
/// Transaction attribute: the SQL steps' total time in milliseconds.
pub const ATTR_SQL_TIME_MS: &str = "osprey.sql.time_ms";
/// Transaction attribute: CPU time it used on its thread, in milliseconds
/// (with `txn.cpu_time=true`).
pub const ATTR_CPU_TIME_MS: &str = "osprey.cpu_time_ms";
/// Transaction attribute: how many outgoing HTTP calls it made.
pub const ATTR_HTTP_CALL_COUNT: &str = "osprey.http_call.count";
/// Transaction attribute: the outgoing calls' total time in milliseconds.
pub const ATTR_HTTP_CALL_TIME_MS: &str = "osprey.http_call.time_ms";
/// The response status of an HTTP call (OpenTelemetry semantic conventions).
pub const ATTR_HTTP_STATUS: &str = "http.response.status_code";
/// Set on a step whose end another thread was to report (an asynchronous
/// call) and had not when the transaction was converted: its elapsed time
/// is up to when the call was handed off.
pub const ATTR_INCOMPLETE: &str = "osprey.incomplete";
/// Step or transaction attribute of work that awaited (an `async` span, a
/// future wrapped with [`crate::future::FutureExt`]): the nanoseconds it was
/// actually being polled. Its elapsed time runs from creation to close and
/// so covers the awaits; this is the part spent running. Records carry it
/// as [`StepRecord::busy_ns`] and [`TransactionRecord::busy_ns`]; exporters
/// send it under this key.
pub const ATTR_BUSY_NS: &str = "osprey.busy_ns";
/// The value exporters send under [`ATTR_BUSY_NS`] for a record's
/// `busy_ns` (nanoseconds, saturating at `i64::MAX`).
///
/// ```
/// use osprey::model::{busy_value, AttrValue};
/// assert_eq!(busy_value(1_500), AttrValue::Int(1_500));
/// assert_eq!(busy_value(u64::MAX), AttrValue::Int(i64::MAX));
/// ```
pub fn busy_value(busy_ns: u64) -> AttrValue {
    AttrValue::Int(i64::try_from(busy_ns).unwrap_or(i64::MAX))
}

/// Set (true) on a step or transaction whose future was dropped before it
/// completed (a cancelled request, a lost `select!` branch): its end is
/// when it was dropped.
pub const ATTR_CANCELLED: &str = "osprey.cancelled";
/// Transaction attribute: steps begun but not ended when the transaction
/// ended (a step handle that outlived its transaction); they are not in
/// the tree, and the transaction is marked repaired.
pub const ATTR_UNFINISHED_STEPS: &str = "osprey.unfinished_steps";
/// A link to another span (`tracing`'s `follows_from`), as the
/// `traceparent` text of the span linked to; the model carries links as
/// this attribute (one per link). The OTLP exporter sends each as a
/// `Span.Link` instead of an attribute.
pub const ATTR_LINK: &str = "osprey.link";

/// Root-span attribute of a transaction exported without its call tree
/// (the tree budget or ratio left it out): [`TREE_OMITTED`]. Such a span is
/// a summary: the transaction's name, times, status, counts and totals.
pub const ATTR_TREE: &str = "osprey.tree";
/// The value of [`ATTR_TREE`] on a summary span.
pub const TREE_OMITTED: &str = "omitted";
/// Response header by which an Osprey server makes itself known to OTLP
/// exporters (its value is the server's version); with
/// `otlp.summaries=auto` the OTLP exporter sends summaries once it sees it.
pub const SERVER_HEADER: &str = "osprey-server";

/// One key/value pair on a transaction or step; the key is interned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Interned key, e.g. `http.request.method`.
    pub key: NameId,
    /// The value.
    pub value: AttrValue,
}

/// An error or exception attached to a transaction or step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Exception type (`java.sql.SQLException`), empty when unknown.
    pub kind: String,
    /// Human-readable message.
    pub message: String,
    /// Trimmed stack trace, empty when not captured.
    pub stack: String,
}

/// One finished step of a transaction's call tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Span id given to this step on export.
    pub span_id: SpanId,
    /// Index of the parent step in [`TransactionRecord::steps`]; `None`
    /// when the transaction itself is the parent.
    pub parent: Option<u32>,
    /// Nesting depth, 1 for direct children of the transaction.
    pub depth: u16,
    /// What the step measures.
    pub kind: StepKind,
    /// Interned step name (method signature, SQL text, URL).
    pub name: NameId,
    /// Start, in nanoseconds after the transaction's start.
    pub start_offset_ns: u64,
    /// Duration in nanoseconds.
    pub elapsed_ns: u64,
    /// For a step of `async` work (a future wrapped with
    /// [`crate::future::FutureExt`], an `async` `tracing` span): the
    /// nanoseconds it was actually being polled, a part of `elapsed_ns`.
    /// Exported as the [`ATTR_BUSY_NS`] attribute; `None` for synchronous
    /// steps.
    pub busy_ns: Option<u64>,
    /// Error recorded on this step, if any (boxed: most steps have none).
    pub error: Option<Box<ErrorInfo>>,
    /// Attributes recorded on this step.
    pub attributes: Vec<Attribute>,
    /// True when the step was never exited and was closed by the recorder
    /// (at the transaction's end or by an exit of an outer step).
    pub repaired: bool,
}

impl StepRecord {
    /// For a SQL step that carries neither a statement attribute
    /// (`db.statement`, `db.query.text`) nor `db.operation.name`, the key
    /// under which exporters give its (sanitised) name as the statement: such
    /// a step is named by its statement, so recorders need not send the text
    /// twice. A step with an operation name is named otherwise (`SELECT
    /// users`, `BATCH`) and gets nothing.
    pub fn implied_statement_key(&self) -> Option<&'static str> {
        static KEYS: std::sync::OnceLock<[NameId; 3]> = std::sync::OnceLock::new();
        if self.kind != StepKind::Sql {
            return None;
        }
        let keys = KEYS.get_or_init(|| {
            ["db.statement", "db.query.text", "db.operation.name"].map(names::intern)
        });
        let has_own = self.attributes.iter().any(|a| keys.contains(&a.key));
        (!has_own).then_some("db.statement")
    }
}

/// One finished transaction (the root span) with its call tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// Trace id, inherited from an inbound `traceparent` or fresh.
    pub trace_id: TraceId,
    /// The transaction's own span id.
    pub span_id: SpanId,
    /// The remote caller's span id when the trace was continued.
    pub parent_span_id: Option<SpanId>,
    /// SERVER for requests handled, INTERNAL otherwise.
    pub kind: SpanKind,
    /// Interned endpoint or operation name.
    pub name: NameId,
    /// Start as UNIX time in nanoseconds.
    pub start_unix_ns: u64,
    /// Duration in nanoseconds.
    pub elapsed_ns: u64,
    /// For `async` work: the nanoseconds the transaction's own future or
    /// span was being polled (see [`StepRecord::busy_ns`]), exported as the
    /// [`ATTR_BUSY_NS`] attribute.
    pub busy_ns: Option<u64>,
    /// Error of the transaction, if any.
    pub error: Option<ErrorInfo>,
    /// Transaction attributes (HTTP method, status, client IP, ...).
    pub attributes: Vec<Attribute>,
    /// The call tree in start order; parents precede their children.
    /// Empty when the tree was sampled out.
    pub steps: Vec<StepRecord>,
    /// Steps not recorded because the per-transaction cap was reached.
    pub dropped_steps: u32,
    /// True when unbalanced enter/exit calls were repaired.
    pub repaired: bool,
    /// False when sampling dropped the call tree; the transaction itself
    /// is still delivered so every transaction is counted.
    pub sampled: bool,
    /// Operating-system thread id that ran the transaction.
    pub thread_id: u64,
}

impl TransactionRecord {
    /// True when the transaction itself failed (an error on a step that
    /// the transaction handled does not count; the sampler still keeps such
    /// trees).
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }

    /// The span id `step` names as its parent: its parent step's, or the
    /// transaction's when it hangs directly under it (or its parent index
    /// is out of range).
    pub fn parent_span_id_of(&self, step: &StepRecord) -> SpanId {
        step.parent
            .and_then(|i| self.steps.get(i as usize))
            .map_or(self.span_id, |p| p.span_id)
    }

    /// Estimated heap and inline size, for memory budgets.
    pub fn approx_bytes(&self) -> usize {
        fn attrs(a: &[Attribute]) -> usize {
            a.iter()
                .map(|a| {
                    std::mem::size_of::<Attribute>()
                        + match &a.value {
                            AttrValue::Str(s) => s.len(),
                            _ => 0,
                        }
                })
                .sum()
        }
        fn error(e: Option<&ErrorInfo>) -> usize {
            e.map_or(0, |e| e.kind.len() + e.message.len() + e.stack.len())
        }
        std::mem::size_of::<Self>()
            + attrs(&self.attributes)
            + error(self.error.as_ref())
            + self
                .steps
                .iter()
                .map(|s| {
                    std::mem::size_of::<StepRecord>()
                        + attrs(&s.attributes)
                        + error(s.error.as_deref())
                })
                .sum::<usize>()
    }

    /// End as UNIX time in nanoseconds.
    pub fn end_unix_ns(&self) -> u64 {
        self.start_unix_ns.saturating_add(self.elapsed_ns)
    }
}

/// Upper bounds (inclusive, milliseconds) of the elapsed-time histogram
/// buckets; a last, unbounded bucket follows.
pub const HISTOGRAM_BOUNDS_MS: [u64; 14] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000,
];

/// Counts of every transaction that ended in one wall-clock second,
/// sampled or not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondAggregate {
    /// The second, as UNIX seconds (transactions are placed by end time).
    pub unix_second: u64,
    /// Transactions ended.
    pub count: u64,
    /// Of which ended with an error.
    pub errors: u64,
    /// Sum of elapsed nanoseconds.
    pub elapsed_sum_ns: u64,
    /// Largest elapsed nanoseconds.
    pub elapsed_max_ns: u64,
    /// Bucket counts for [`HISTOGRAM_BOUNDS_MS`] plus one overflow bucket.
    pub histogram: Vec<u64>,
}

impl SecondAggregate {
    /// An empty aggregate for `unix_second`.
    pub fn new(unix_second: u64) -> Self {
        Self {
            unix_second,
            histogram: vec![0; HISTOGRAM_BOUNDS_MS.len() + 1],
            ..Self::default()
        }
    }

    /// Adds one transaction.
    pub fn add(&mut self, elapsed_ns: u64, error: bool) {
        self.count += 1;
        self.errors += u64::from(error);
        self.elapsed_sum_ns = self.elapsed_sum_ns.saturating_add(elapsed_ns);
        self.elapsed_max_ns = self.elapsed_max_ns.max(elapsed_ns);
        let bucket = HISTOGRAM_BOUNDS_MS
            .iter()
            .position(|bound_ms| elapsed_ns <= bound_ms * 1_000_000)
            .unwrap_or(HISTOGRAM_BOUNDS_MS.len());
        self.histogram[bucket] += 1;
    }
}

/// How a sampled metric value behaves, as the OpenTelemetry instrument
/// kinds that an externally sampled value can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum MetricKind {
    /// The current value of something (`jvm.cpu.recent_utilization`);
    /// exported as an OTLP Gauge.
    #[default]
    Gauge = 0,
    /// A total that only grows since `start_unix_ns` (`jvm.class.loaded`);
    /// exported as a cumulative, monotonic OTLP Sum.
    Counter = 1,
    /// A total that goes up and down (`jvm.memory.used`, an
    /// UpDownCounter); exported as a cumulative, non-monotonic OTLP Sum.
    UpDownCounter = 2,
}

impl MetricKind {
    /// Decodes the numeric kind of the C ABI and JNI; `None` when unknown.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Gauge),
            1 => Some(Self::Counter),
            2 => Some(Self::UpDownCounter),
            _ => None,
        }
    }
}

/// A sampled value: integers stay integers on export.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MetricValue {
    /// A count or a size in bytes.
    Int(i64),
    /// A ratio, or seconds.
    Double(f64),
}

impl MetricValue {
    /// The value as a float (for display and plausibility checks).
    pub fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Double(d) => d,
        }
    }
}

/// One data point of an externally sampled metric (the JVM inspector's
/// heap, GC, threads, classes, CPU), in a [`ExportBatch::metrics`] list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    /// Interned metric name, an OpenTelemetry semantic-convention name
    /// where one exists (`jvm.memory.used`).
    pub name: NameId,
    /// Interned UCUM unit (`By`, `s`, `{thread}`, `1`).
    pub unit: NameId,
    /// Gauge, counter or up-down counter.
    pub kind: MetricKind,
    /// The series' attributes (`jvm.memory.type=heap`, `jvm.gc.name=G1 Young Generation`).
    pub attributes: Vec<Attribute>,
    /// When a cumulative total started (the series' definition); equals
    /// `unix_ns` for gauges.
    pub start_unix_ns: u64,
    /// When the value was sampled, UNIX nanoseconds.
    pub unix_ns: u64,
    /// The value.
    pub value: MetricValue,
}

/// One transaction still in flight when an [`ActiveSnapshot`] was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveTransaction {
    /// The transaction's name (endpoint, `GET /cart`).
    pub name: String,
    /// The name of the thread running it.
    pub thread_name: String,
    /// That thread's id (the JVM's thread id from the Java agent).
    pub thread_id: u64,
    /// Start as UNIX time in nanoseconds.
    pub start_unix_ns: u64,
    /// Running time when the snapshot was taken, nanoseconds.
    pub elapsed_ns: u64,
    /// The thread's stack, one `at frame` per line, when the transaction
    /// had run longer than the reporter's threshold; empty otherwise.
    pub stack: String,
}

/// The transactions in flight at one moment (active services), reported
/// every interval even when none is, so the store can show any past second.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveSnapshot {
    /// When it was taken, UNIX nanoseconds.
    pub unix_ns: u64,
    /// The transactions in flight, longest-running first.
    pub transactions: Vec<ActiveTransaction>,
}

/// The process's identity on export (OpenTelemetry resource).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// `service.name`.
    pub service_name: String,
    /// Other resource attributes (`host.name`, `service.version`, ...).
    pub attributes: Vec<(String, AttrValue)>,
}

/// What an [`crate::export::Exporter`] receives in one call.
#[derive(Clone, Debug, Default)]
pub struct ExportBatch {
    /// The process's resource.
    pub resource: Arc<Resource>,
    /// Finished transactions, in end order (at most the batch size).
    pub transactions: Vec<TransactionRecord>,
    /// Per-second aggregates completed since the previous batch.
    pub aggregates: Vec<SecondAggregate>,
    /// Externally sampled metric points received since the previous batch
    /// (see [`crate::metrics`]), in sampling order.
    pub metrics: Vec<MetricRecord>,
    /// Snapshots of the transactions in flight (see [`crate::active`])
    /// received since the previous batch.
    pub active: Vec<ActiveSnapshot>,
}

impl ExportBatch {
    /// Resolves an interned name; unknown ids give `"?"`.
    pub fn name(&self, id: NameId) -> Arc<str> {
        names::resolve(id)
    }

    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
            && self.aggregates.is_empty()
            && self.metrics.is_empty()
            && self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_round_trip_and_reject_bad_input() {
        let id = TraceId([0xab; 16]);
        assert_eq!(TraceId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(TraceId::from_hex("zz"), None);
        assert_eq!(SpanId::from_hex("00f067aa0ba902b7").unwrap().0[1], 0xf0);
        assert!(!SpanId::default().is_valid());
    }

    #[test]
    fn histogram_places_elapsed_in_bounded_buckets() {
        let mut agg = SecondAggregate::new(7);
        agg.add(500_000, false); // 0.5 ms -> bucket 0 (<= 1 ms)
        agg.add(1_000_000, true); // exactly 1 ms -> bucket 0
        agg.add(1_500_000, false); // 1.5 ms -> bucket 1 (<= 2 ms)
        agg.add(60_000_000_000, false); // 60 s -> overflow bucket
        assert_eq!(agg.count, 4);
        assert_eq!(agg.errors, 1);
        assert_eq!(agg.histogram[0], 2);
        assert_eq!(agg.histogram[1], 1);
        assert_eq!(*agg.histogram.last().unwrap(), 1);
        assert_eq!(agg.elapsed_max_ns, 60_000_000_000);
    }
}
