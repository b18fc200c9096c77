//! OTLP/HTTP bodies (protobuf or JSON, optionally gzip) to spans and metric
//! points.

use std::io::Read;

use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use osprey::model::{AttrValue, SpanId, TraceId};
use prost::Message;

use super::Rejected;
use crate::record::{Exception, Kind, MetricKind, MetricPoint, SpanRec};

/// Body encodings the server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    /// The encoding named by a `Content-Type` header (parameters ignored);
    /// a missing header means protobuf.
    pub fn from_content_type(ct: Option<&str>) -> Result<Self, Rejected> {
        let Some(ct) = ct else {
            return Ok(Self::Protobuf);
        };
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            _ => Err(Rejected {
                status: 415,
                message: format!(
                    "unsupported content-type {ct:?}; use application/x-protobuf or application/json"
                ),
            }),
        }
    }
}

/// Removes the `Content-Encoding` (none, `identity` or `gzip`), refusing
/// bodies that inflate past `max_bytes` (a gzip bomb) with 413.
pub fn decode_content(
    encoding: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, Rejected> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            let limit = max_bytes as u64 + 1;
            GzDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| Rejected::bad(format!("invalid gzip body: {e}")))?;
            if out.len() > max_bytes {
                return Err(Rejected {
                    status: 413,
                    message: format!("decompressed body exceeds {max_bytes} bytes"),
                });
            }
            Ok(out)
        }
        Some(other) => Err(Rejected {
            status: 415,
            message: format!("unsupported content-encoding {other:?}; use gzip or none"),
        }),
    }
}

/// Decodes a traces request body into spans.
pub fn parse_traces(encoding: Encoding, body: &[u8]) -> Result<Vec<SpanRec>, Rejected> {
    let req: ExportTraceServiceRequest = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| Rejected::bad(format!("invalid OTLP protobuf traces request: {e}")))?,
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| Rejected::bad(format!("invalid OTLP JSON traces request: {e}")))?,
    };
    spans_from_request(req)
}

/// Decodes a metrics request body into points.
pub fn parse_metrics(encoding: Encoding, body: &[u8]) -> Result<Vec<MetricPoint>, Rejected> {
    let req: ExportMetricsServiceRequest = match encoding {
        Encoding::Protobuf => ExportMetricsServiceRequest::decode(body)
            .map_err(|e| Rejected::bad(format!("invalid OTLP protobuf metrics request: {e}")))?,
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| Rejected::bad(format!("invalid OTLP JSON metrics request: {e}")))?,
    };
    Ok(points_from_request(req))
}

/// Resource attributes that tell a service's processes apart, copied onto
/// each transaction's root span (a span attribute of the same key wins).
pub const INSTANCE_KEYS: [&str; 3] = ["service.instance.id", "host.name", "process.pid"];

/// The [`INSTANCE_KEYS`] attributes of a resource.
fn instance_of(resource: Option<&Resource>) -> Vec<(String, AttrValue)> {
    let Some(r) = resource else {
        return Vec::new();
    };
    let picked: Vec<KeyValue> = r
        .attributes
        .iter()
        .filter(|kv| INSTANCE_KEYS.contains(&kv.key.as_str()))
        .cloned()
        .collect();
    attributes(picked)
}

/// Adds the `osprey-server` header (the server's version) to the answers of
/// the OTLP routes (`/v1/...` and the gRPC services, where it is initial
/// metadata): Osprey's OTLP exporters, with
/// `otlp.summaries=auto`, then send a summary span for every transaction
/// whose call tree was not kept.
pub async fn announce(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let otlp = path.starts_with("/v1/") || path.starts_with("/opentelemetry.proto.collector.");
    let mut response = next.run(request).await;
    if otlp {
        response.headers_mut().insert(
            osprey::model::SERVER_HEADER,
            axum::http::HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
        );
    }
    response
}

fn service_of(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .map(any_to_string)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

/// The text of resource attribute `key`, empty when absent.
fn resource_str(resource: Option<&Resource>, key: &str) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == key))
        .and_then(|kv| kv.value.as_ref())
        .map(any_to_string)
        .unwrap_or_default()
}

/// Spans of a decoded request; ids of the wrong length are refused.
pub fn spans_from_request(req: ExportTraceServiceRequest) -> Result<Vec<SpanRec>, Rejected> {
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let service = service_of(rs.resource.as_ref());
        let instance = instance_of(rs.resource.as_ref());
        for ss in rs.scope_spans {
            for span in ss.spans {
                let n = out.len();
                let trace_id = <[u8; 16]>::try_from(span.trace_id.as_slice())
                    .map(TraceId)
                    .map_err(|_| Rejected::bad(format!("span {n}: trace id must be 16 bytes")))?;
                let span_id = <[u8; 8]>::try_from(span.span_id.as_slice())
                    .map(SpanId)
                    .map_err(|_| Rejected::bad(format!("span {n}: span id must be 8 bytes")))?;
                let parent = match span.parent_span_id.len() {
                    0 => None,
                    8 => Some(SpanId(
                        span.parent_span_id.as_slice().try_into().unwrap_or([0; 8]),
                    ))
                    .filter(SpanId::is_valid),
                    _ => {
                        return Err(Rejected::bad(format!(
                            "span {n}: parent span id must be empty or 8 bytes"
                        )));
                    }
                };
                if !trace_id.is_valid() || !span_id.is_valid() {
                    return Err(Rejected::bad(format!(
                        "span {n}: all-zero trace or span id"
                    )));
                }
                let exceptions = span
                    .events
                    .iter()
                    .filter(|e| e.name == "exception")
                    .map(|e| {
                        let get = |k: &str| {
                            e.attributes
                                .iter()
                                .find(|kv| kv.key == k)
                                .and_then(|kv| kv.value.as_ref())
                                .map(any_to_string)
                                .unwrap_or_default()
                        };
                        Exception {
                            kind: get("exception.type"),
                            message: get("exception.message"),
                            stack: get("exception.stacktrace"),
                        }
                    })
                    .collect();
                let (error, status_message) = match span.status {
                    Some(s) => (s.code == StatusCode::Error as i32, s.message),
                    None => (false, String::new()),
                };
                let mut rec = SpanRec {
                    trace_id,
                    span_id,
                    parent,
                    service: service.clone(),
                    name: span.name,
                    kind: Kind::from_otlp(span.kind),
                    flags: span.flags,
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano,
                    error,
                    status_message,
                    attributes: attributes(span.attributes),
                    exceptions,
                };
                if rec.is_transaction_root() {
                    for (k, v) in &instance {
                        if rec.attr(k).is_none() {
                            rec.attributes.push((k.clone(), v.clone()));
                        }
                    }
                }
                out.push(rec);
            }
        }
    }
    Ok(out)
}

/// Points of a decoded metrics request (gauges, sums, histograms,
/// exponential histograms and summaries; the last three as sum + count).
pub fn points_from_request(req: ExportMetricsServiceRequest) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    for rm in req.resource_metrics {
        let service = service_of(rm.resource.as_ref());
        let instance = resource_str(rm.resource.as_ref(), "service.instance.id");
        let host = resource_str(rm.resource.as_ref(), "host.name");
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let mut push = |kind, attrs: &[KeyValue], time_ns, value, count| {
                    out.push(MetricPoint {
                        service: service.clone(),
                        name: m.name.clone(),
                        unit: m.unit.clone(),
                        kind,
                        attributes: attr_key(attrs),
                        time_ns,
                        value,
                        count,
                        instance: instance.clone(),
                        host: host.clone(),
                    })
                };
                let number =
                    |p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint| match p.value {
                        Some(number_data_point::Value::AsDouble(d)) => d,
                        Some(number_data_point::Value::AsInt(i)) => i as f64,
                        None => f64::NAN,
                    };
                match &m.data {
                    Some(metric::Data::Gauge(g)) => g.data_points.iter().for_each(|p| {
                        push(
                            MetricKind::Gauge,
                            &p.attributes,
                            p.time_unix_nano,
                            number(p),
                            0,
                        )
                    }),
                    Some(metric::Data::Sum(s)) => s.data_points.iter().for_each(|p| {
                        push(
                            MetricKind::Sum,
                            &p.attributes,
                            p.time_unix_nano,
                            number(p),
                            0,
                        )
                    }),
                    Some(metric::Data::Histogram(h)) => h.data_points.iter().for_each(|p| {
                        push(
                            MetricKind::Histogram,
                            &p.attributes,
                            p.time_unix_nano,
                            p.sum.unwrap_or(f64::NAN),
                            p.count,
                        )
                    }),
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().for_each(|p| {
                            push(
                                MetricKind::Histogram,
                                &p.attributes,
                                p.time_unix_nano,
                                p.sum.unwrap_or(f64::NAN),
                                p.count,
                            )
                        })
                    }
                    Some(metric::Data::Summary(s)) => s.data_points.iter().for_each(|p| {
                        push(
                            MetricKind::Histogram,
                            &p.attributes,
                            p.time_unix_nano,
                            p.sum,
                            p.count,
                        )
                    }),
                    None => {}
                }
            }
        }
    }
    out
}

/// Point attributes as a stable series key: `k=v` sorted, joined by `,`.
fn attr_key(attrs: &[KeyValue]) -> String {
    let mut parts: Vec<String> = attrs
        .iter()
        .map(|kv| {
            format!(
                "{}={}",
                kv.key,
                kv.value.as_ref().map(any_to_string).unwrap_or_default()
            )
        })
        .collect();
    parts.sort();
    parts.join(",")
}

fn attributes(kvs: Vec<KeyValue>) -> Vec<(String, AttrValue)> {
    kvs.into_iter()
        .map(|kv| {
            let v = match kv.value.and_then(|v| v.value) {
                Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
                Some(any_value::Value::IntValue(i)) => AttrValue::Int(i),
                Some(any_value::Value::DoubleValue(d)) => AttrValue::Float(d),
                Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(b),
                Some(other) => AttrValue::Str(any_to_string(&AnyValue { value: Some(other) })),
                None => AttrValue::Str(String::new()),
            };
            (kv.key, v)
        })
        .collect()
}

/// Any OTLP value as text: scalars plainly, arrays and maps as JSON-ish
/// text, bytes as hex.
fn any_to_string(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(any_to_string).collect();
            format!("[{}]", items.join(","))
        }
        Some(any_value::Value::KvlistValue(l)) => {
            let items: Vec<String> = l
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}={}",
                        kv.key,
                        kv.value.as_ref().map(any_to_string).unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        // Profiles-only string-table references: no table here.
        Some(_) | None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn otlp_json_mapping_hex_ids_camel_case_and_string_int64() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeSpans":[{"scope":{"name":"x"},"spans":[{
            "traceId":"5B8EFFF798038103D269B633813FC60C",
            "spanId":"EEE19B7EC3C1B174","parentSpanId":"",
            "name":"GET /a","kind":2,
            "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000000005000000,
            "attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}},
                          {"key":"ratio","value":{"doubleValue":0.5}},
                          {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}],
            "events":[{"name":"exception","timeUnixNano":"1700000000005000000","attributes":[
               {"key":"exception.type","value":{"stringValue":"E"}}]}],
            "status":{"code":2,"message":"boom"},"unknownField":1}]}]}]}"#;
        let spans = parse_traces(Encoding::Json, body).unwrap();
        let s = &spans[0];
        assert_eq!(s.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id.to_hex(), "eee19b7ec3c1b174");
        assert_eq!(s.parent, None);
        assert_eq!(s.service, "shop");
        assert_eq!(s.kind, Kind::Server);
        assert_eq!(s.elapsed_ns(), 5_000_000);
        assert_eq!(s.http_status(), 503);
        assert_eq!(s.attr("ratio"), Some(&AttrValue::Float(0.5)));
        assert_eq!(s.attr_str("tags").as_deref(), Some("[a]"));
        assert!(s.error);
        assert_eq!(s.exceptions[0].kind, "E");
    }

    #[test]
    fn transaction_roots_carry_the_resource_instance_and_other_spans_do_not() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}},
            {"key":"service.instance.id","value":{"stringValue":"i-1"}},
            {"key":"host.name","value":{"stringValue":"web-1"}},
            {"key":"process.pid","value":{"intValue":"4242"}},
            {"key":"os.type","value":{"stringValue":"linux"}}]},
          "scopeSpans":[{"spans":[
            {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
             "name":"GET /a","kind":2,"attributes":[
               {"key":"host.name","value":{"stringValue":"own"}}]},
            {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B175",
             "parentSpanId":"EEE19B7EC3C1B174","name":"SELECT","kind":3}]}]}]}"#;
        let spans = parse_traces(Encoding::Json, body).unwrap();
        let root = &spans[0];
        assert_eq!(root.attr_str("service.instance.id").as_deref(), Some("i-1"));
        assert_eq!(root.attr("process.pid"), Some(&AttrValue::Int(4242)));
        assert_eq!(
            root.attr_str("host.name").as_deref(),
            Some("own"),
            "span wins"
        );
        assert!(root.attr("os.type").is_none());
        assert!(spans[1].attr("service.instance.id").is_none());
    }

    #[test]
    fn bad_ids_and_garbage_are_refused_with_400() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"EEE19B7EC3C1B174"}]}]}]}"#;
        let e = parse_traces(Encoding::Json, body).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("16 bytes"), "{}", e.message);
        assert_eq!(
            parse_traces(Encoding::Protobuf, b"\xff\xff\xff")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_traces(Encoding::Json, b"{not json")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn gzip_is_inflated_within_the_limit_and_bombs_are_refused() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 10_000);
        assert_eq!(
            decode_content(Some("gzip"), &bomb, 1 << 20).unwrap().len(),
            1 << 20
        );
        assert_eq!(
            decode_content(Some("gzip"), &bomb, (1 << 20) - 1)
                .unwrap_err()
                .status,
            413
        );
        assert_eq!(
            decode_content(Some("gzip"), b"nope", 100)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            decode_content(Some("br"), b"x", 100).unwrap_err().status,
            415
        );
    }

    #[test]
    fn metrics_of_every_shape_become_points() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"jvm"}}]},"scopeMetrics":[{"metrics":[
          {"name":"jvm.memory.used","unit":"By","gauge":{"dataPoints":[
             {"timeUnixNano":"1700000000000000000","asInt":"1024",
              "attributes":[{"key":"pool","value":{"stringValue":"heap"}}]}]}},
          {"name":"jvm.gc.count","sum":{"aggregationTemporality":1,"isMonotonic":true,
             "dataPoints":[{"timeUnixNano":"1700000000000000000","asDouble":3}]}},
          {"name":"lat","histogram":{"dataPoints":[{"timeUnixNano":"1700000000000000000",
             "count":"4","sum":10.0,"bucketCounts":["1","3"],"explicitBounds":[5]}]}}]}]}]}"#;
        let pts = parse_metrics(Encoding::Json, body).unwrap();
        assert_eq!(pts.len(), 3);
        assert_eq!(
            (pts[0].value, pts[0].attributes.as_str()),
            (1024.0, "pool=heap")
        );
        assert_eq!(pts[1].kind, MetricKind::Sum);
        assert_eq!((pts[2].value, pts[2].count), (10.0, 4));
        assert!(pts.iter().all(|p| p.service == "jvm"));
    }
}
