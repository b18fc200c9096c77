//! The explicit record schema of the server's segment log (payload kind
//! [`KIND_STORED`](super::KIND_STORED)): protobuf messages, written with
//! prost and compressed with zstd by [`encode_batch`](super::encode_batch).
//!
//! The messages are declared with `#[prost(..)]` attributes (no `.proto`
//! file, no build script); the equivalent `.proto` is:
//!
//! ```text
//! message StoredRecord {
//!   repeated StoredSpan   spans   = 1;
//!   repeated StoredMetric metrics = 2;
//!   repeated StoredActive active  = 3;
//! }
//! message StoredSpan {
//!   bytes  trace_id = 1;               // 16 bytes
//!   fixed64 span_id = 2;               // the 8 id bytes, big-endian
//!   optional fixed64 parent = 3;       // absent for a trace root
//!   string service = 4;
//!   string name = 5;
//!   int32  kind = 6;                   // OTLP SpanKind (0..=5)
//!   uint32 flags = 7;                  // OTLP span flags
//!   fixed64 start_ns = 8;              // UNIX ns
//!   sint64 end_delta_ns = 9;           // end - start, wrapping (lossless for any end)
//!   bool   error = 10;
//!   string status_message = 11;
//!   repeated StoredAttr attributes = 12;
//!   repeated StoredException exceptions = 13;
//! }
//! message StoredAttr {
//!   string key = 1;
//!   oneof value { string str = 2; sint64 int = 3; double double = 4; bool bool = 5; }
//! }
//! message StoredException { string type = 1; string message = 2; string stacktrace = 3; }
//! message StoredMetric {
//!   string service = 1; string name = 2; string unit = 3;
//!   int32 kind = 4;                    // 0 gauge, 1 sum, 2 histogram
//!   string attributes = 5; fixed64 time_ns = 6; double value = 7; uint64 count = 8;
//!   string instance = 9;               // service.instance.id, "" when none (and before it existed)
//!   string host = 10;                  // host.name, "" when none
//! }
//! message StoredActive {
//!   string service = 1; uint64 received_ms = 2; repeated StoredActiveTxn transactions = 3;
//! }
//! message StoredActiveTxn {
//!   string endpoint = 1; double elapsed_ms = 2; string thread = 3;
//!   optional string trace_id = 4; optional string stack = 5;
//! }
//! ```
//!
//! # Evolving the schema
//!
//! **Field numbers and types are frozen**: segments written today are read
//! for the whole retention (weeks) by later servers. To evolve:
//! - add a field with a *new* number (the next unused one of its message);
//!   old readers skip it, new readers see its default (empty, 0, absent) in
//!   old records, so give it a meaning where the default is right;
//! - never change the number or the type of a field, and never reuse the
//!   number of a removed field (leave a `// reserved N` note instead);
//! - a new attribute value type is a new `oneof` member; an older reader
//!   drops attributes whose value type it does not know and keeps the rest;
//! - a new kind of content is a new `repeated` field of [`StoredRecord`].
//!
//! A change that cannot follow these rules needs a new payload kind, not a
//! new meaning for an old field.
//!
//! A record written by this version holds exactly one kind of content (one
//! [`Batch`]); a record mixing kinds, or several active reports, is refused
//! with an error rather than partly read.

use osprey::model::{AttrValue, SpanId, TraceId};

use crate::record::{Batch, Exception, Kind, MetricKind, MetricPoint, SpanRec};
use crate::storage::{ActiveReport, ActiveTxn};

/// One stored record: what one request brought (today one kind per record).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredRecord {
    /// Spans (of one trace, as the embedded store writes them).
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<StoredSpan>,
    /// Metric points.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<StoredMetric>,
    /// An active-services report (at most one per record today).
    #[prost(message, repeated, tag = "3")]
    pub active: Vec<StoredActive>,
}

/// One span ([`SpanRec`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredSpan {
    /// Trace id, 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Span id: its 8 bytes read big-endian.
    #[prost(fixed64, tag = "2")]
    pub span_id: u64,
    /// Parent span id (big-endian), absent for a trace root.
    #[prost(fixed64, optional, tag = "3")]
    pub parent: Option<u64>,
    /// `service.name`.
    #[prost(string, tag = "4")]
    pub service: String,
    /// Span name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// OTLP `SpanKind` value.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    /// OTLP span flags.
    #[prost(uint32, tag = "7")]
    pub flags: u32,
    /// Start, UNIX ns.
    #[prost(fixed64, tag = "8")]
    pub start_ns: u64,
    /// `end_ns - start_ns` with wrapping arithmetic, so any end (even one
    /// before the start) round-trips while a normal span costs a short varint.
    #[prost(sint64, tag = "9")]
    pub end_delta_ns: i64,
    /// Status code was ERROR.
    #[prost(bool, tag = "10")]
    pub error: bool,
    /// Status message.
    #[prost(string, tag = "11")]
    pub status_message: String,
    /// Attributes in their original order.
    #[prost(message, repeated, tag = "12")]
    pub attributes: Vec<StoredAttr>,
    /// Exception events.
    #[prost(message, repeated, tag = "13")]
    pub exceptions: Vec<StoredException>,
}

/// One attribute.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredAttr {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value; `None` when written by a newer schema with a value type this
    /// reader does not know (the attribute is then dropped).
    #[prost(oneof = "StoredValue", tags = "2, 3, 4, 5")]
    pub value: Option<StoredValue>,
}

/// An attribute value ([`AttrValue`]).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum StoredValue {
    /// Text.
    #[prost(string, tag = "2")]
    Str(String),
    /// Signed integer (zig-zag varint).
    #[prost(sint64, tag = "3")]
    Int(i64),
    /// Floating point.
    #[prost(double, tag = "4")]
    Double(f64),
    /// Boolean.
    #[prost(bool, tag = "5")]
    Bool(bool),
}

/// An exception event ([`Exception`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredException {
    /// `exception.type`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// `exception.message`.
    #[prost(string, tag = "2")]
    pub message: String,
    /// `exception.stacktrace`.
    #[prost(string, tag = "3")]
    pub stacktrace: String,
}

/// One metric point ([`MetricPoint`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredMetric {
    /// `service.name`.
    #[prost(string, tag = "1")]
    pub service: String,
    /// Metric name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Unit.
    #[prost(string, tag = "3")]
    pub unit: String,
    /// 0 gauge, 1 sum, 2 histogram.
    #[prost(int32, tag = "4")]
    pub kind: i32,
    /// Point attributes, `k=v` sorted and joined by `,`.
    #[prost(string, tag = "5")]
    pub attributes: String,
    /// Time of the point, UNIX ns.
    #[prost(fixed64, tag = "6")]
    pub time_ns: u64,
    /// The value (for histograms, the sum).
    #[prost(double, tag = "7")]
    pub value: f64,
    /// Observation count for histograms.
    #[prost(uint64, tag = "8")]
    pub count: u64,
    /// `service.instance.id` of the resource ("" when none; records
    /// written before the field existed read as "").
    #[prost(string, tag = "9")]
    pub instance: String,
    /// `host.name` of the resource ("" when none).
    #[prost(string, tag = "10")]
    pub host: String,
}

/// An active-services report ([`ActiveReport`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredActive {
    /// Service.
    #[prost(string, tag = "1")]
    pub service: String,
    /// When the server received it, UNIX ms.
    #[prost(uint64, tag = "2")]
    pub received_ms: u64,
    /// The transactions in flight.
    #[prost(message, repeated, tag = "3")]
    pub transactions: Vec<StoredActiveTxn>,
}

/// One in-flight transaction ([`ActiveTxn`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredActiveTxn {
    /// Endpoint.
    #[prost(string, tag = "1")]
    pub endpoint: String,
    /// Elapsed so far, ms.
    #[prost(double, tag = "2")]
    pub elapsed_ms: f64,
    /// Thread name or id.
    #[prost(string, tag = "3")]
    pub thread: String,
    /// Trace id, if known.
    #[prost(string, optional, tag = "4")]
    pub trace_id: Option<String>,
    /// The thread's stack, when captured.
    #[prost(string, optional, tag = "5")]
    pub stack: Option<String>,
}

/// Why a [`StoredRecord`] does not make a [`Batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaError {
    /// A trace id that is not 16 bytes long.
    TraceIdLength(usize),
    /// A metric kind this reader does not know.
    MetricKind(i32),
    /// The record mixes kinds of content or holds several active reports.
    Mixed {
        /// Spans in the record.
        spans: usize,
        /// Metric points in the record.
        metrics: usize,
        /// Active reports in the record.
        active: usize,
    },
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TraceIdLength(n) => write!(f, "trace id of {n} bytes (expected 16)"),
            Self::MetricKind(k) => write!(f, "unknown metric kind {k}"),
            Self::Mixed {
                spans,
                metrics,
                active,
            } => write!(
                f,
                "record holds {spans} spans, {metrics} metric points and {active} active \
                 reports; expected one kind (and at most one active report)"
            ),
        }
    }
}

impl std::error::Error for SchemaError {}

impl From<&SpanRec> for StoredSpan {
    fn from(s: &SpanRec) -> Self {
        Self {
            trace_id: s.trace_id.0.to_vec(),
            span_id: u64::from_be_bytes(s.span_id.0),
            parent: s.parent.map(|p| u64::from_be_bytes(p.0)),
            service: s.service.clone(),
            name: s.name.clone(),
            kind: s.kind.to_otlp(),
            flags: s.flags,
            start_ns: s.start_ns,
            end_delta_ns: s.end_ns.wrapping_sub(s.start_ns) as i64,
            error: s.error,
            status_message: s.status_message.clone(),
            attributes: s
                .attributes
                .iter()
                .map(|(k, v)| StoredAttr {
                    key: k.clone(),
                    value: Some(match v {
                        AttrValue::Str(s) => StoredValue::Str(s.clone()),
                        AttrValue::Int(i) => StoredValue::Int(*i),
                        AttrValue::Float(f) => StoredValue::Double(*f),
                        AttrValue::Bool(b) => StoredValue::Bool(*b),
                    }),
                })
                .collect(),
            exceptions: s
                .exceptions
                .iter()
                .map(|e| StoredException {
                    r#type: e.kind.clone(),
                    message: e.message.clone(),
                    stacktrace: e.stack.clone(),
                })
                .collect(),
        }
    }
}

impl TryFrom<StoredSpan> for SpanRec {
    type Error = SchemaError;

    fn try_from(s: StoredSpan) -> Result<Self, SchemaError> {
        let trace: [u8; 16] = s
            .trace_id
            .as_slice()
            .try_into()
            .map_err(|_| SchemaError::TraceIdLength(s.trace_id.len()))?;
        Ok(Self {
            trace_id: TraceId(trace),
            span_id: SpanId(s.span_id.to_be_bytes()),
            parent: s.parent.map(|p| SpanId(p.to_be_bytes())),
            service: s.service,
            name: s.name,
            kind: Kind::from_otlp(s.kind),
            flags: s.flags,
            start_ns: s.start_ns,
            end_ns: s.start_ns.wrapping_add(s.end_delta_ns as u64),
            error: s.error,
            status_message: s.status_message,
            attributes: s
                .attributes
                .into_iter()
                .filter_map(|a| {
                    let v = match a.value? {
                        StoredValue::Str(s) => AttrValue::Str(s),
                        StoredValue::Int(i) => AttrValue::Int(i),
                        StoredValue::Double(f) => AttrValue::Float(f),
                        StoredValue::Bool(b) => AttrValue::Bool(b),
                    };
                    Some((a.key, v))
                })
                .collect(),
            exceptions: s
                .exceptions
                .into_iter()
                .map(|e| Exception {
                    kind: e.r#type,
                    message: e.message,
                    stack: e.stacktrace,
                })
                .collect(),
        })
    }
}

impl From<&MetricPoint> for StoredMetric {
    fn from(m: &MetricPoint) -> Self {
        Self {
            service: m.service.clone(),
            name: m.name.clone(),
            unit: m.unit.clone(),
            kind: m.kind.code(),
            attributes: m.attributes.clone(),
            time_ns: m.time_ns,
            value: m.value,
            count: m.count,
            instance: m.instance.clone(),
            host: m.host.clone(),
        }
    }
}

impl TryFrom<StoredMetric> for MetricPoint {
    type Error = SchemaError;

    fn try_from(m: StoredMetric) -> Result<Self, SchemaError> {
        Ok(Self {
            service: m.service,
            name: m.name,
            unit: m.unit,
            kind: MetricKind::from_code(m.kind).ok_or(SchemaError::MetricKind(m.kind))?,
            attributes: m.attributes,
            time_ns: m.time_ns,
            value: m.value,
            count: m.count,
            instance: m.instance,
            host: m.host,
        })
    }
}

impl From<&ActiveReport> for StoredActive {
    fn from(r: &ActiveReport) -> Self {
        Self {
            service: r.service.clone(),
            received_ms: r.received_ms,
            transactions: r
                .transactions
                .iter()
                .map(|t| StoredActiveTxn {
                    endpoint: t.endpoint.clone(),
                    elapsed_ms: t.elapsed_ms,
                    thread: t.thread.clone(),
                    trace_id: t.trace_id.clone(),
                    stack: t.stack.clone(),
                })
                .collect(),
        }
    }
}

impl From<StoredActive> for ActiveReport {
    fn from(r: StoredActive) -> Self {
        Self {
            service: r.service,
            received_ms: r.received_ms,
            transactions: r
                .transactions
                .into_iter()
                .map(|t| ActiveTxn {
                    endpoint: t.endpoint,
                    elapsed_ms: t.elapsed_ms,
                    thread: t.thread,
                    trace_id: t.trace_id,
                    stack: t.stack,
                })
                .collect(),
        }
    }
}

impl From<&Batch> for StoredRecord {
    fn from(batch: &Batch) -> Self {
        let mut record = Self::default();
        match batch {
            Batch::Spans(spans) => record.spans = spans.iter().map(StoredSpan::from).collect(),
            Batch::Metrics(points) => {
                record.metrics = points.iter().map(StoredMetric::from).collect();
            }
            Batch::Active(report) => record.active = vec![StoredActive::from(report)],
        }
        record
    }
}

impl TryFrom<StoredRecord> for Batch {
    type Error = SchemaError;

    /// The batch a record holds. An empty record (nothing stored either
    /// way) reads as an empty span batch.
    fn try_from(r: StoredRecord) -> Result<Self, SchemaError> {
        let (spans, metrics, active) = (r.spans.len(), r.metrics.len(), r.active.len());
        match (spans, metrics, active) {
            (_, 0, 0) => Ok(Batch::Spans(
                r.spans
                    .into_iter()
                    .map(SpanRec::try_from)
                    .collect::<Result<_, _>>()?,
            )),
            (0, _, 0) => Ok(Batch::Metrics(
                r.metrics
                    .into_iter()
                    .map(MetricPoint::try_from)
                    .collect::<Result<_, _>>()?,
            )),
            (0, 0, 1) => Ok(Batch::Active(
                r.active.into_iter().next().expect("one report").into(),
            )),
            _ => Err(SchemaError::Mixed {
                spans,
                metrics,
                active,
            }),
        }
    }
}
