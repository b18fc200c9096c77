//! Helpers shared by the server's benchmarks.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

/// An OTLP attribute.
pub fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..KeyValue::default()
    }
}

/// A string value.
pub fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `f` `runs` times and prints the median, min and max.
pub fn time<R>(label: &str, runs: u32, mut f: impl FnMut() -> R) -> Duration {
    let mut samples = Vec::new();
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        samples.push(t.elapsed());
    }
    drop(out);
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "  {label:<58} median {:>9.3} ms  (min {:.3}, max {:.3})",
        ms(median),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
    median
}

/// This process's resident set size now and at its peak, bytes
/// (`/proc/self/status`).
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The protobuf bytes of one OTLP request holding `spans` of `service`.
pub fn request_bytes(service: &str, spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s(service))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

/// Transactions in one request of [`body`].
pub const TXNS_PER_REQUEST: u64 = 250;

/// Request `r`: 250 transactions of 4 spans each (SERVER root, a method
/// step, a SQL step, an outgoing HTTP call), spread evenly over one hour.
pub fn body(r: u64, total: u64, hour_start_ns: u64) -> Vec<u8> {
    let mut spans = Vec::with_capacity(TXNS_PER_REQUEST as usize * 4);
    for i in 0..TXNS_PER_REQUEST {
        let n = r * TXNS_PER_REQUEST + i;
        let start = hour_start_ns + n * 3_600_000_000_000 / total;
        let elapsed = 2_000_000 + (n * 7_919 % 400) * 1_000_000;
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&n.to_be_bytes());
        trace[15] = 1;
        let id = |k: u8| {
            let mut b = [k; 8];
            b[..7].copy_from_slice(&n.to_be_bytes()[1..]);
            b.to_vec()
        };
        let mk = |k: u8,
                  parent: Option<u8>,
                  name: &str,
                  kind: span::SpanKind,
                  off: u64,
                  dur: u64,
                  attrs| Span {
            trace_id: trace.to_vec(),
            span_id: id(k),
            parent_span_id: parent.map(id).unwrap_or_default(),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: start + off,
            end_time_unix_nano: start + off + dur,
            attributes: attrs,
            ..Span::default()
        };
        let mut root = mk(
            1,
            None,
            ["GET /orders", "GET /cart", "POST /pay"][(n % 3) as usize],
            span::SpanKind::Server,
            0,
            elapsed,
            vec![
                kv("client.address", s(&format!("10.0.{}.{}", n % 7, n % 251))),
                kv("enduser.id", s(&format!("user{}", n % 5_000))),
                kv("http.response.status_code", any_value::Value::IntValue(200)),
            ],
        );
        if n.is_multiple_of(100) {
            root.status = Some(Status {
                code: 2,
                message: "boom".into(),
            });
        }
        spans.push(root);
        spans.push(mk(
            2,
            Some(1),
            "OrderService.load",
            span::SpanKind::Internal,
            100_000,
            elapsed / 2,
            vec![],
        ));
        spans.push(mk(
            3,
            Some(2),
            "SELECT * FROM orders WHERE id = ?",
            span::SpanKind::Client,
            200_000,
            elapsed / 4,
            vec![
                kv("db.system", s("postgresql")),
                kv("db.namespace", s("shop")),
            ],
        ));
        spans.push(mk(
            4,
            Some(1),
            "GET /stock",
            span::SpanKind::Client,
            elapsed / 2 + 100_000,
            elapsed / 4,
            vec![kv("url.full", s("http://inventory:8080/stock"))],
        ));
    }
    request_bytes("shop", spans)
}

/// What `/api/at` reads for the second starting at `one` (UNIX ns):
/// its transactions, aggregate, edges and every series; the sizes.
pub fn state_at(
    i: &osprey_server::storage::ReadView<'_>,
    one: u64,
) -> (usize, usize, usize, usize) {
    use osprey_server::index::{SeriesQuery, TxnFilter};
    let f = TxnFilter {
        from_ns: Some(one),
        to_ns: Some(one + 1_000_000_000),
        ..TxnFilter::default()
    };
    (
        i.transactions(&f, 1000).len(),
        i.seconds(one / 1_000_000_000, one / 1_000_000_000, 60)
            .len(),
        i.server_map(one, one + 1_000_000_000).len(),
        i.series(&SeriesQuery::default()).len(),
    )
}
