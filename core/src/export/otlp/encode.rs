//! Records to OTLP protobuf messages: each sampled transaction becomes a span
//! with one child span per step; each per-second aggregate becomes data
//! points of three delta metrics; each sampled metric value (the JVM
//! inspector's) a data point of a gauge or cumulative sum.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
#[cfg(test)]
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::span;
#[cfg(test)]
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};

use crate::model::{
    ActiveSnapshot, AttrValue, Attribute, ErrorInfo, ExportBatch, HISTOGRAM_BOUNDS_MS, MetricKind,
    MetricValue, Resource, SecondAggregate, SpanKind,
};
#[cfg(test)]
use crate::model::{StepRecord, TransactionRecord};
use crate::names::NameId;

/// Instrumentation scope name on every span and metric.
pub(crate) const SCOPE_NAME: &str = "osprey";

/// Span flags: W3C `sampled` plus "the is-remote bit is meaningful".
pub(crate) const FLAGS_SAMPLED_HAS_IS_REMOTE: u32 = 0x01 | 0x100;
/// Span flag: the parent span is remote.
pub(crate) const FLAG_PARENT_IS_REMOTE: u32 = 0x200;

const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MS: f64 = 1_000_000.0;

/// The traces request for the `which` transactions of `batch`, or `None`
/// when there are none. The reference for [`super::wire`], which exports
/// the same bytes without this tree.
#[cfg(test)]
pub(crate) fn traces_request(
    batch: &ExportBatch,
    which: super::wire::Spans,
) -> Option<ExportTraceServiceRequest> {
    let spans: Vec<Span> = batch
        .transactions
        .iter()
        .filter(|t| which.takes(t))
        .flat_map(|t| transaction_spans(batch, t))
        .collect();
    if spans.is_empty() {
        return None;
    }
    Some(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(&batch.resource)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

/// The metrics request for `batch`, or `None` when it has neither
/// aggregates nor sampled metrics.
pub(crate) fn metrics_request(batch: &ExportBatch) -> Option<ExportMetricsServiceRequest> {
    if batch.aggregates.is_empty() && batch.metrics.is_empty() && batch.active.is_empty() {
        return None;
    }
    let seconds = &batch.aggregates;
    let mut metrics = Vec::new();
    if !seconds.is_empty() {
        metrics.extend([
            counter("osprey.transactions", "Transactions ended.", seconds, |a| {
                a.count
            }),
            counter(
                "osprey.transaction.errors",
                "Transactions ended with an error.",
                seconds,
                |a| a.errors,
            ),
            duration_histogram(seconds),
        ]);
    }
    metrics.extend(sampled_metrics(batch));
    if !batch.active.is_empty() {
        metrics.extend(active_metrics(&batch.active));
    }
    Some(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(&batch.resource)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

/// The transaction's span followed by one span per step.
#[cfg(test)]
fn transaction_spans(batch: &ExportBatch, txn: &TransactionRecord) -> Vec<Span> {
    let mut spans = Vec::with_capacity(txn.steps.len() + 1);
    spans.push(root_span(batch, txn));
    spans.extend(txn.steps.iter().map(|s| step_span(batch, txn, s)));
    spans
}

#[cfg(test)]
fn root_span(batch: &ExportBatch, txn: &TransactionRecord) -> Span {
    let mut attributes = attributes(batch, &txn.attributes);
    attributes.extend(busy(txn.busy_ns));
    if txn.dropped_steps > 0 {
        attributes.push(kv(
            "osprey.dropped_steps",
            int_value(i64::from(txn.dropped_steps)),
        ));
    }
    if txn.repaired {
        attributes.push(kv("osprey.repaired", bool_value(true)));
    }
    if txn.thread_id != 0 {
        let id = i64::try_from(txn.thread_id).unwrap_or(i64::MAX);
        attributes.push(kv("thread.id", int_value(id)));
    }
    if !txn.sampled {
        attributes.push(kv(
            crate::model::ATTR_TREE,
            string_value(crate::model::TREE_OMITTED.to_owned()),
        ));
    }
    let flags = root_flags(txn);
    let end = txn.end_unix_ns();
    Span {
        trace_id: txn.trace_id.0.to_vec(),
        span_id: txn.span_id.0.to_vec(),
        parent_span_id: txn.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags,
        name: batch.name(txn.name).to_string(),
        kind: span_kind(txn.kind) as i32,
        start_time_unix_nano: txn.start_unix_ns,
        end_time_unix_nano: end,
        attributes,
        events: exception_event(txn.error.as_ref(), end),
        links: links(batch, &txn.attributes),
        status: txn.error.as_ref().map(error_status),
        ..Span::default()
    }
}

#[cfg(test)]
fn step_span(batch: &ExportBatch, txn: &TransactionRecord, step: &StepRecord) -> Span {
    let parent = txn.parent_span_id_of(step);
    let start = txn.start_unix_ns.saturating_add(step.start_offset_ns);
    let end = start.saturating_add(step.elapsed_ns);
    let mut attributes = attributes(batch, &step.attributes);
    attributes.extend(busy(step.busy_ns));
    if let Some(key) = step.implied_statement_key() {
        attributes.push(kv(key, string_value(batch.name(step.name).to_string())));
    }
    if step.repaired {
        attributes.push(kv("osprey.repaired", bool_value(true)));
    }
    Span {
        trace_id: txn.trace_id.0.to_vec(),
        span_id: step.span_id.0.to_vec(),
        parent_span_id: parent.0.to_vec(),
        flags: FLAGS_SAMPLED_HAS_IS_REMOTE,
        name: batch.name(step.name).to_string(),
        kind: span_kind(step.kind.span_kind()) as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        events: exception_event(step.error.as_deref(), end),
        links: links(batch, &step.attributes),
        status: step.error.as_deref().map(error_status),
        ..Span::default()
    }
}

/// A transaction span's flags: the is-remote bit is meaningful, set when
/// its parent is remote; W3C `sampled` when it kept its call tree (a
/// summary span has it clear).
pub(crate) fn root_flags(txn: &crate::model::TransactionRecord) -> u32 {
    let sampled = if txn.sampled {
        FLAGS_SAMPLED_HAS_IS_REMOTE
    } else {
        FLAGS_SAMPLED_HAS_IS_REMOTE & !0x01
    };
    match txn.parent_span_id {
        Some(_) => sampled | FLAG_PARENT_IS_REMOTE,
        None => sampled,
    }
}

pub(crate) fn span_kind(kind: SpanKind) -> span::SpanKind {
    match kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Client => span::SpanKind::Client,
    }
}

#[cfg(test)]
fn error_status(error: &ErrorInfo) -> Status {
    Status {
        message: status_message(error).to_owned(),
        code: status::StatusCode::Error as i32,
    }
}

/// The status message of an error: its message, else its type.
pub(crate) fn status_message(error: &ErrorInfo) -> &str {
    if error.message.is_empty() {
        &error.kind
    } else {
        &error.message
    }
}

/// A `follows_from` link, recorded as an [`crate::model::ATTR_LINK`]
/// attribute holding the linked span's `traceparent`: OTLP exporters send it
/// as a `Span.Link` (and not as the attribute). Other values stay attributes.
pub(crate) fn link_of(key: &str, value: &AttrValue) -> Option<crate::propagation::RemoteParent> {
    if key != crate::model::ATTR_LINK {
        return None;
    }
    match value {
        AttrValue::Str(text) => crate::propagation::parse_traceparent(text),
        _ => None,
    }
}

/// A link's flags: W3C `sampled` as the linked span had it; the linked span
/// is of this process (has-is-remote set, is-remote clear).
pub(crate) fn link_flags(link: &crate::propagation::RemoteParent) -> u32 {
    if link.sampled {
        FLAGS_SAMPLED_HAS_IS_REMOTE
    } else {
        FLAGS_SAMPLED_HAS_IS_REMOTE & !0x01
    }
}

/// The links among `attrs` (see [`link_of`]).
#[cfg(test)]
fn links(batch: &ExportBatch, attrs: &[Attribute]) -> Vec<span::Link> {
    attrs
        .iter()
        .filter_map(|a| link_of(&batch.name(a.key), &a.value))
        .map(|l| span::Link {
            trace_id: l.trace_id.0.to_vec(),
            span_id: l.span_id.0.to_vec(),
            flags: link_flags(&l),
            ..span::Link::default()
        })
        .collect()
}

/// An `exception` event following the OpenTelemetry semantic conventions.
#[cfg(test)]
fn exception_event(error: Option<&ErrorInfo>, at_unix_ns: u64) -> Vec<span::Event> {
    let Some(error) = error else {
        return Vec::new();
    };
    let fields = [
        ("exception.type", &error.kind),
        ("exception.message", &error.message),
        ("exception.stacktrace", &error.stack),
    ];
    let attributes = fields
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| kv(k, string_value(v.clone())))
        .collect();
    vec![span::Event {
        time_unix_nano: at_unix_ns,
        name: "exception".into(),
        attributes,
        dropped_attributes_count: 0,
    }]
}

fn counter(
    name: &str,
    description: &str,
    seconds: &[SecondAggregate],
    value: impl Fn(&SecondAggregate) -> u64,
) -> Metric {
    let data_points = seconds
        .iter()
        .map(|a| {
            let (start, end) = second_bounds(a);
            NumberDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: end,
                value: Some(number_data_point::Value::AsInt(saturating_i64(value(a)))),
                ..NumberDataPoint::default()
            }
        })
        .collect();
    Metric {
        name: name.into(),
        description: description.into(),
        unit: "{transaction}".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Metric::default()
    }
}

fn duration_histogram(seconds: &[SecondAggregate]) -> Metric {
    let bounds: Vec<f64> = HISTOGRAM_BOUNDS_MS.iter().map(|b| *b as f64).collect();
    let data_points = seconds
        .iter()
        .map(|a| {
            let (start, end) = second_bounds(a);
            let mut buckets = a.histogram.clone();
            buckets.resize(bounds.len() + 1, 0);
            HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: end,
                count: a.count,
                sum: Some(a.elapsed_sum_ns as f64 / NANOS_PER_MS),
                bucket_counts: buckets,
                explicit_bounds: bounds.clone(),
                max: (a.count > 0).then(|| a.elapsed_max_ns as f64 / NANOS_PER_MS),
                ..HistogramDataPoint::default()
            }
        })
        .collect();
    Metric {
        name: "osprey.transaction.duration".into(),
        description: "Elapsed time of the transactions ended.".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Metric::default()
    }
}

/// One OTLP metric per metric name (in first-seen order) holding a data
/// point per sampled value: gauges as Gauge, counters as cumulative
/// monotonic Sum, up-down counters as cumulative non-monotonic Sum.
fn sampled_metrics(batch: &ExportBatch) -> Vec<Metric> {
    let mut out: Vec<(NameId, MetricKind, Metric)> = Vec::new();
    for m in &batch.metrics {
        let point = NumberDataPoint {
            attributes: attributes(batch, &m.attributes),
            start_time_unix_nano: m.start_unix_ns,
            time_unix_nano: m.unix_ns,
            value: Some(match m.value {
                MetricValue::Int(i) => number_data_point::Value::AsInt(i),
                MetricValue::Double(d) => number_data_point::Value::AsDouble(d),
            }),
            ..NumberDataPoint::default()
        };
        let slot = match out
            .iter()
            .position(|(name, kind, _)| *name == m.name && *kind == m.kind)
        {
            Some(i) => i,
            None => {
                let data = match m.kind {
                    MetricKind::Gauge => metric::Data::Gauge(Gauge::default()),
                    MetricKind::Counter | MetricKind::UpDownCounter => metric::Data::Sum(Sum {
                        data_points: Vec::new(),
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: m.kind == MetricKind::Counter,
                    }),
                };
                out.push((
                    m.name,
                    m.kind,
                    Metric {
                        name: batch.name(m.name).to_string(),
                        unit: batch.name(m.unit).to_string(),
                        data: Some(data),
                        ..Metric::default()
                    },
                ));
                out.len() - 1
            }
        };
        match &mut out[slot].2.data {
            Some(metric::Data::Gauge(g)) => g.data_points.push(point),
            Some(metric::Data::Sum(s)) => s.data_points.push(point),
            _ => {}
        }
    }
    out.into_iter().map(|(_, _, m)| m).collect()
}

/// Active services as two gauges: `osprey.active.count` (transactions in
/// flight, one point per snapshot, also when 0) and `osprey.active.elapsed`
/// (seconds running, one point per transaction in flight, start time = the
/// transaction's start, attributes `osprey.transaction.name`,
/// `thread.name`, `thread.id` and, past the stack threshold,
/// `code.stacktrace`).
fn active_metrics(snapshots: &[ActiveSnapshot]) -> [Metric; 2] {
    let counts = snapshots
        .iter()
        .map(|s| NumberDataPoint {
            time_unix_nano: s.unix_ns,
            value: Some(number_data_point::Value::AsInt(saturating_i64(
                s.transactions.len() as u64,
            ))),
            ..NumberDataPoint::default()
        })
        .collect();
    let elapsed = snapshots
        .iter()
        .flat_map(|s| s.transactions.iter().map(move |t| (s.unix_ns, t)))
        .map(|(at, t)| {
            let mut attributes = vec![
                kv("osprey.transaction.name", string_value(t.name.clone())),
                kv("thread.name", string_value(t.thread_name.clone())),
                kv("thread.id", int_value(saturating_i64(t.thread_id))),
            ];
            if !t.stack.is_empty() {
                attributes.push(kv("code.stacktrace", string_value(t.stack.clone())));
            }
            NumberDataPoint {
                attributes,
                start_time_unix_nano: t.start_unix_ns,
                time_unix_nano: at,
                value: Some(number_data_point::Value::AsDouble(
                    t.elapsed_ns as f64 / NANOS_PER_SECOND as f64,
                )),
                ..NumberDataPoint::default()
            }
        })
        .collect();
    let gauge = |name: &str, description: &str, unit: &str, data_points| Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points })),
        ..Metric::default()
    };
    [
        gauge(
            "osprey.active.count",
            "Transactions in flight.",
            "{transaction}",
            counts,
        ),
        gauge(
            "osprey.active.elapsed",
            "Running time of each transaction in flight.",
            "s",
            elapsed,
        ),
    ]
}

/// Start and end of the aggregate's second, in UNIX nanoseconds.
fn second_bounds(a: &SecondAggregate) -> (u64, u64) {
    let start = a.unix_second.saturating_mul(NANOS_PER_SECOND);
    (start, start.saturating_add(NANOS_PER_SECOND))
}

pub(crate) fn resource(r: &Resource) -> ProtoResource {
    let service = if r.service_name.is_empty() {
        "unknown_service"
    } else {
        &r.service_name
    };
    let mut attributes = vec![kv("service.name", string_value(service.to_owned()))];
    attributes.extend(
        r.attributes
            .iter()
            .filter(|(k, _)| k != "service.name")
            .map(|(k, v)| kv(k, any_value(v))),
    );
    ProtoResource {
        attributes,
        ..ProtoResource::default()
    }
}

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    }
}

fn attributes(batch: &ExportBatch, attrs: &[Attribute]) -> Vec<KeyValue> {
    attrs
        .iter()
        .filter_map(|a| {
            let key = batch.name(a.key);
            link_of(&key, &a.value)
                .is_none()
                .then(|| kv(&key, any_value(&a.value)))
        })
        .collect()
}

/// The busy time of async work as an attribute, when it has one.
#[cfg(test)]
fn busy(busy_ns: Option<u64>) -> Option<KeyValue> {
    busy_ns.map(|ns| {
        kv(
            crate::model::ATTR_BUSY_NS,
            any_value(&crate::model::busy_value(ns)),
        )
    })
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..KeyValue::default()
    }
}

fn any_value(v: &AttrValue) -> AnyValue {
    match v {
        AttrValue::Str(s) => string_value(s.clone()),
        AttrValue::Int(i) => int_value(*i),
        AttrValue::Float(f) => value(any_value::Value::DoubleValue(*f)),
        AttrValue::Bool(b) => bool_value(*b),
    }
}

fn string_value(s: String) -> AnyValue {
    value(any_value::Value::StringValue(s))
}

fn int_value(i: i64) -> AnyValue {
    value(any_value::Value::IntValue(i))
}

fn bool_value(b: bool) -> AnyValue {
    value(any_value::Value::BoolValue(b))
}

fn value(v: any_value::Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::export::otlp::wire::Spans;
    use crate::model::SpanId;
    use crate::model::{StepKind, TraceId};
    use crate::names::intern;

    fn step(id: u8, parent: Option<u32>, kind: StepKind, name: &str, start: u64) -> StepRecord {
        StepRecord {
            span_id: SpanId([id; 8]),
            parent,
            depth: if parent.is_some() { 2 } else { 1 },
            kind,
            name: intern(name),
            start_offset_ns: start,
            elapsed_ns: 1_000,
            busy_ns: None,
            error: None,
            attributes: Vec::new(),
            repaired: false,
        }
    }

    fn sample_batch() -> ExportBatch {
        let mut sql = step(2, Some(0), StepKind::Sql, "SELECT 1", 2_000);
        sql.error = Some(Box::new(ErrorInfo {
            kind: "SQLException".into(),
            message: "deadlock".into(),
            stack: "at Dao.load".into(),
        }));
        sql.attributes.push(Attribute {
            key: intern("db.rows"),
            value: AttrValue::Int(3),
        });
        sql.repaired = true;
        let txn = TransactionRecord {
            trace_id: TraceId([0xab; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: Some(SpanId([9; 8])),
            kind: SpanKind::Server,
            name: intern("GET /orders"),
            start_unix_ns: 1_700_000_000_000_000_000,
            elapsed_ns: 10_000,
            busy_ns: None,
            error: None,
            attributes: vec![Attribute {
                key: intern("http.request.method"),
                value: AttrValue::from("GET"),
            }],
            steps: vec![
                step(3, None, StepKind::Method, "load", 1_000),
                sql,
                step(4, Some(99), StepKind::HttpCall, "GET /bad-parent", 5_000),
            ],
            dropped_steps: 2,
            repaired: false,
            sampled: true,
            thread_id: 77,
        };
        let unsampled = TransactionRecord {
            sampled: false,
            steps: Vec::new(),
            span_id: SpanId([5; 8]),
            ..txn.clone()
        };
        ExportBatch {
            resource: Arc::new(Resource {
                service_name: "svc".into(),
                attributes: vec![("host.name".into(), AttrValue::from("h1"))],
            }),
            transactions: vec![txn, unsampled],
            aggregates: Vec::new(),
            metrics: Vec::new(),
            active: Vec::new(),
        }
    }

    fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attrs
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn transaction_and_steps_map_to_linked_spans() {
        let req = traces_request(&sample_batch(), Spans::Trees).unwrap();
        let rs = &req.resource_spans[0];
        let res = &rs.resource.as_ref().unwrap().attributes;
        assert_eq!(
            attr(res, "service.name"),
            Some(&any_value::Value::StringValue("svc".into()))
        );
        assert!(attr(res, "host.name").is_some());
        let scope = &rs.scope_spans[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "osprey");
        let spans = &scope.spans;
        assert_eq!(spans.len(), 4, "unsampled transaction skipped");

        let root = &spans[0];
        assert_eq!(root.name, "GET /orders");
        assert_eq!(root.trace_id, vec![0xab; 16]);
        assert_eq!(root.parent_span_id, vec![9; 8]);
        assert_eq!(root.kind, span::SpanKind::Server as i32);
        assert_eq!(root.end_time_unix_nano - root.start_time_unix_nano, 10_000);
        assert_eq!(root.flags & 0x300, 0x300);
        assert!(root.status.is_none());
        assert_eq!(
            attr(&root.attributes, "osprey.dropped_steps"),
            Some(&any_value::Value::IntValue(2))
        );
        assert_eq!(
            attr(&root.attributes, "thread.id"),
            Some(&any_value::Value::IntValue(77))
        );
        assert!(attr(&root.attributes, "http.request.method").is_some());

        let (load, sql, http) = (&spans[1], &spans[2], &spans[3]);
        assert_eq!(load.parent_span_id, vec![1; 8]);
        assert_eq!(load.kind, span::SpanKind::Internal as i32);
        assert_eq!(load.start_time_unix_nano, root.start_time_unix_nano + 1_000);
        assert_eq!(sql.parent_span_id, vec![3; 8]);
        assert_eq!(sql.kind, span::SpanKind::Client as i32);
        assert_eq!(sql.end_time_unix_nano, root.start_time_unix_nano + 3_000);
        assert_eq!(http.parent_span_id, vec![1; 8], "bad index falls back");
        assert_eq!(http.kind, span::SpanKind::Client as i32);
        assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
        assert_eq!(
            attr(&sql.attributes, "osprey.repaired"),
            Some(&any_value::Value::BoolValue(true))
        );
        assert_eq!(
            attr(&sql.attributes, "db.rows"),
            Some(&any_value::Value::IntValue(3))
        );
    }

    #[test]
    fn errors_become_status_and_exception_event() {
        let req = traces_request(&sample_batch(), Spans::All).unwrap();
        let sql = &req.resource_spans[0].scope_spans[0].spans[2];
        let status = sql.status.as_ref().unwrap();
        assert_eq!(status.code, status::StatusCode::Error as i32);
        assert_eq!(status.message, "deadlock");
        let event = &sql.events[0];
        assert_eq!(event.name, "exception");
        assert_eq!(event.time_unix_nano, sql.end_time_unix_nano);
        let text = |k| match attr(&event.attributes, k) {
            Some(any_value::Value::StringValue(s)) => s.as_str(),
            _ => "",
        };
        assert_eq!(text("exception.type"), "SQLException");
        assert_eq!(text("exception.message"), "deadlock");
        assert_eq!(text("exception.stacktrace"), "at Dao.load");
    }

    #[test]
    fn only_unsampled_transactions_give_no_traces_request() {
        let mut batch = sample_batch();
        batch.transactions.remove(0);
        assert!(traces_request(&batch, Spans::Trees).is_none());
        assert!(metrics_request(&batch).is_none());
    }

    #[test]
    fn aggregates_map_to_delta_sums_and_histogram() {
        let mut agg = SecondAggregate::new(1_700_000_000);
        agg.add(1_500_000, false);
        agg.add(3_000_000, true);
        let batch = ExportBatch {
            aggregates: vec![agg],
            ..ExportBatch::default()
        };
        let req = metrics_request(&batch).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "osprey.transactions",
                "osprey.transaction.errors",
                "osprey.transaction.duration"
            ]
        );
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("sum expected");
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        let p = &sum.data_points[0];
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(2)));
        assert_eq!(p.start_time_unix_nano, 1_700_000_000 * NANOS_PER_SECOND);
        assert_eq!(p.time_unix_nano, 1_700_000_001 * NANOS_PER_SECOND);
        let Some(metric::Data::Sum(errors)) = &metrics[1].data else {
            panic!("sum expected");
        };
        assert_eq!(
            errors.data_points[0].value,
            Some(number_data_point::Value::AsInt(1))
        );
        let Some(metric::Data::Histogram(h)) = &metrics[2].data else {
            panic!("histogram expected");
        };
        assert_eq!(metrics[2].unit, "ms");
        let p = &h.data_points[0];
        assert_eq!(p.count, 2);
        assert_eq!(p.sum, Some(4.5));
        assert_eq!(p.max, Some(3.0));
        assert_eq!(p.explicit_bounds.len() + 1, p.bucket_counts.len());
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), 2);
        assert_eq!(p.bucket_counts[1], 1);
        assert_eq!(p.bucket_counts[2], 1);
    }

    #[test]
    fn sampled_metrics_group_by_name_with_kind_unit_and_attributes() {
        use crate::model::MetricRecord;
        let point = |name: &str, unit: &str, kind, attr: Option<&str>, value| MetricRecord {
            name: intern(name),
            unit: intern(unit),
            kind,
            attributes: attr
                .map(|v| Attribute {
                    key: intern("jvm.memory.type"),
                    value: AttrValue::from(v),
                })
                .into_iter()
                .collect(),
            start_unix_ns: 5,
            unix_ns: 10,
            value,
        };
        let batch = ExportBatch {
            metrics: vec![
                point(
                    "jvm.memory.used",
                    "By",
                    MetricKind::UpDownCounter,
                    Some("heap"),
                    MetricValue::Int(100),
                ),
                point(
                    "jvm.cpu.recent_utilization",
                    "1",
                    MetricKind::Gauge,
                    None,
                    MetricValue::Double(0.25),
                ),
                point(
                    "jvm.memory.used",
                    "By",
                    MetricKind::UpDownCounter,
                    Some("non_heap"),
                    MetricValue::Int(50),
                ),
                point(
                    "jvm.class.loaded",
                    "{class}",
                    MetricKind::Counter,
                    None,
                    MetricValue::Int(900),
                ),
            ],
            ..ExportBatch::default()
        };
        let req = metrics_request(&batch).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<_> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "jvm.memory.used",
                "jvm.cpu.recent_utilization",
                "jvm.class.loaded"
            ]
        );
        let Some(metric::Data::Sum(used)) = &metrics[0].data else {
            panic!("sum expected");
        };
        assert_eq!(metrics[0].unit, "By");
        assert!(!used.is_monotonic);
        assert_eq!(
            used.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(used.data_points.len(), 2);
        assert_eq!(
            attr(&used.data_points[1].attributes, "jvm.memory.type"),
            Some(&any_value::Value::StringValue("non_heap".into()))
        );
        assert_eq!(used.data_points[0].start_time_unix_nano, 5);
        assert_eq!(
            used.data_points[0].value,
            Some(number_data_point::Value::AsInt(100))
        );
        let Some(metric::Data::Gauge(util)) = &metrics[1].data else {
            panic!("gauge expected");
        };
        assert_eq!(
            util.data_points[0].value,
            Some(number_data_point::Value::AsDouble(0.25))
        );
        let Some(metric::Data::Sum(loaded)) = &metrics[2].data else {
            panic!("sum expected");
        };
        assert!(loaded.is_monotonic);
    }

    #[test]
    fn active_snapshots_become_count_and_elapsed_gauges_with_the_stack() {
        use crate::model::ActiveTransaction;
        let slow = ActiveTransaction {
            name: "GET /slow".into(),
            thread_name: "http-1".into(),
            thread_id: 31,
            start_unix_ns: 1_000_000_000,
            elapsed_ns: 4_500_000_000,
            stack: "at demo.Slow.sleep\n".into(),
        };
        let quick = ActiveTransaction {
            name: "GET /quick".into(),
            elapsed_ns: 10_000_000,
            stack: String::new(),
            ..slow.clone()
        };
        let batch = ExportBatch {
            active: vec![
                ActiveSnapshot {
                    unix_ns: 5_500_000_000,
                    transactions: vec![slow, quick],
                },
                ActiveSnapshot {
                    unix_ns: 6_500_000_000,
                    transactions: Vec::new(),
                },
            ],
            ..ExportBatch::default()
        };
        let req = metrics_request(&batch).unwrap();
        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        let Some(metric::Data::Gauge(count)) = &metrics[0].data else {
            panic!("gauge expected");
        };
        assert_eq!(metrics[0].name, "osprey.active.count");
        let counts: Vec<_> = count.data_points.iter().map(|p| p.value).collect();
        assert_eq!(
            counts,
            [
                Some(number_data_point::Value::AsInt(2)),
                Some(number_data_point::Value::AsInt(0))
            ]
        );
        let Some(metric::Data::Gauge(elapsed)) = &metrics[1].data else {
            panic!("gauge expected");
        };
        assert_eq!(metrics[1].unit, "s");
        let p = &elapsed.data_points[0];
        assert_eq!(p.value, Some(number_data_point::Value::AsDouble(4.5)));
        assert_eq!(p.start_time_unix_nano, 1_000_000_000);
        assert_eq!(
            attr(&p.attributes, "osprey.transaction.name"),
            Some(&any_value::Value::StringValue("GET /slow".into()))
        );
        assert!(attr(&p.attributes, "code.stacktrace").is_some());
        assert!(attr(&elapsed.data_points[1].attributes, "code.stacktrace").is_none());
    }
}
