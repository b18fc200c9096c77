//! What the server stores: spans and metric points normalised from OTLP (or
//! from the agent's local store), independent of the wire format.

use osprey::model::{AttrValue, SpanId, TraceId};
use serde::{Deserialize, Serialize};

/// OpenTelemetry span kind, as in OTLP (`SPAN_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Unspecified or unknown.
    Unspecified,
    /// Work inside a process.
    Internal,
    /// Handles a request from outside.
    Server,
    /// Calls out to another service or database.
    Client,
    /// Sends a message.
    Producer,
    /// Handles a message.
    Consumer,
}

impl Kind {
    /// The kind for an OTLP enum value; unknown values are `Unspecified`.
    pub fn from_otlp(v: i32) -> Self {
        match v {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// The OTLP enum value.
    pub fn to_otlp(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Internal => 1,
            Self::Server => 2,
            Self::Client => 3,
            Self::Producer => 4,
            Self::Consumer => 5,
        }
    }

    /// Upper-case name (`SERVER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Internal => "INTERNAL",
            Self::Server => "SERVER",
            Self::Client => "CLIENT",
            Self::Producer => "PRODUCER",
            Self::Consumer => "CONSUMER",
        }
    }
}

/// An exception recorded on a span (an OTLP event named `exception`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    /// `exception.type`.
    pub kind: String,
    /// `exception.message`.
    pub message: String,
    /// `exception.stacktrace`.
    pub stack: String,
}

/// OTLP span flag: the "parent is remote" bit is meaningful.
pub const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP span flag: the parent is remote.
pub const FLAG_IS_REMOTE: u32 = 0x200;

/// One span as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanRec {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id, `None` for a trace root.
    pub parent: Option<SpanId>,
    /// `service.name` of the resource that sent it.
    pub service: String,
    /// Span name (the endpoint for a transaction root).
    pub name: String,
    /// Span kind.
    pub kind: Kind,
    /// OTLP span flags.
    pub flags: u32,
    /// Start, UNIX ns.
    pub start_ns: u64,
    /// End, UNIX ns.
    pub end_ns: u64,
    /// Status code was ERROR.
    pub error: bool,
    /// Status message.
    pub status_message: String,
    /// Span attributes (non-scalar values rendered as JSON text).
    pub attributes: Vec<(String, AttrValue)>,
    /// Exception events.
    pub exceptions: Vec<Exception>,
}

impl SpanRec {
    /// Duration in ns (0 when the end precedes the start).
    pub fn elapsed_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The attribute `key` as text (numbers are formatted).
    pub fn attr_str(&self, key: &str) -> Option<String> {
        self.attr(key).map(|v| v.to_string())
    }

    /// The attribute `key` as text, borrowed when it is a string.
    pub fn attr_text(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.attr(key).map(|v| match v {
            AttrValue::Str(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(other.to_string()),
        })
    }

    /// True when this span starts a transaction: it has no parent, it is a
    /// SERVER or CONSUMER span, or its parent is flagged remote.
    pub fn is_transaction_root(&self) -> bool {
        self.parent.is_none()
            || matches!(self.kind, Kind::Server | Kind::Consumer)
            || (self.flags & FLAG_HAS_IS_REMOTE != 0 && self.flags & FLAG_IS_REMOTE != 0)
    }

    /// The HTTP response status (`http.response.status_code`, or the older
    /// `http.status_code`), 0 when absent.
    pub fn http_status(&self) -> u16 {
        ["http.response.status_code", "http.status_code"]
            .iter()
            .find_map(|k| match self.attr(k) {
                Some(AttrValue::Int(i)) => u16::try_from(*i).ok(),
                Some(AttrValue::Str(s)) => s.parse().ok(),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// The SQL text (`db.query.text` or `db.statement`).
    pub fn sql(&self) -> Option<String> {
        self.attr_str("db.query.text")
            .or_else(|| self.attr_str("db.statement"))
    }
}

/// How a metric point aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricKind {
    /// Instantaneous value.
    Gauge,
    /// A sum (counter or up-down counter).
    Sum,
    /// A histogram (explicit or exponential) or summary: `value` is the sum
    /// of the observations and `count` their number.
    Histogram,
}

impl MetricKind {
    /// The stored code: 0 gauge, 1 sum, 2 histogram.
    pub fn code(self) -> i32 {
        match self {
            Self::Gauge => 0,
            Self::Sum => 1,
            Self::Histogram => 2,
        }
    }

    /// The kind of a stored code, `None` when unknown.
    pub fn from_code(v: i32) -> Option<Self> {
        match v {
            0 => Some(Self::Gauge),
            1 => Some(Self::Sum),
            2 => Some(Self::Histogram),
            _ => None,
        }
    }
}

/// One metric data point as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// `service.name` of the resource.
    pub service: String,
    /// Metric name (`jvm.memory.used`).
    pub name: String,
    /// Unit as sent.
    pub unit: String,
    /// Kind.
    pub kind: MetricKind,
    /// Point attributes rendered `k=v` and sorted, joined by `,`.
    pub attributes: String,
    /// Time of the point, UNIX ns.
    pub time_ns: u64,
    /// The value (for histograms, the sum).
    pub value: f64,
    /// Observation count for histograms, 0 otherwise.
    pub count: u64,
    /// `service.instance.id` of the resource, empty when it had none (and
    /// in points stored before the field existed). Not in the serde form:
    /// that is the version-1 bincode record, which never had it.
    #[serde(skip)]
    pub instance: String,
    /// `host.name` of the resource, empty when it had none (not in the
    /// serde form either).
    #[serde(skip)]
    pub host: String,
}

/// The payload of one stored record: what one request brought.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Batch {
    /// Spans.
    Spans(Vec<SpanRec>),
    /// Metric points.
    Metrics(Vec<MetricPoint>),
    /// One active-services report (the transactions in flight in a service),
    /// so a replayed second can show what was running.
    Active(crate::storage::ActiveReport),
}
