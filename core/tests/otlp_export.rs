//! End to end: a transaction with nested steps recorded through the public
//! API arrives at a loopback OTLP/HTTP receiver as linked spans plus a
//! metrics request. One test per file: `osprey::init` is process-global.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::thread::sleep;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey::export::otlp::{Compression, OtlpConfig};
use osprey::{Config, ErrorInfo};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{attr, within};

const MS: u64 = 1_000_000;

fn record_order_request() {
    let txn = osprey::transaction("GET /orders").server().begin();
    txn.attr("http.request.method", "GET");
    {
        let a = osprey::step("a");
        a.attr("order.count", 2i64);
        sleep(Duration::from_millis(3));
        {
            let b = osprey::step("b");
            b.attr("db.rows", 3i64).error(ErrorInfo {
                kind: "OrderError".into(),
                message: "no such order".into(),
                stack: "at b\nat a".into(),
            });
            sleep(Duration::from_millis(5));
        }
        sleep(Duration::from_millis(2));
    }
    txn.end();
}

#[test]
fn transaction_with_nested_steps_arrives_as_linked_spans_and_metrics() {
    let receiver = Receiver::start();
    let otlp = OtlpConfig::default()
        .endpoint(&receiver.endpoint())
        .compression(Compression::Gzip)
        .header("x-api-key", "secret");
    let guard = osprey::init(
        Config::default()
            .service_name("svc")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(otlp),
    )
    .expect("osprey starts");

    record_order_request();
    assert!(osprey::flush(Duration::from_secs(5)));

    let requests = receiver.requests_to("/v1/traces");
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.header("x-api-key"), Some("secret"));

    let traces = req.traces();
    let rs = &traces.resource_spans[0];
    let resource = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(
        attr(resource, "service.name"),
        Some(&Value::StringValue("svc".into()))
    );
    let scope = &rs.scope_spans[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "osprey");
    let spans = &scope.spans;
    let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["GET /orders", "a", "b"]);
    let (root, a, b) = (&spans[0], &spans[1], &spans[2]);

    // Identity and links.
    assert_eq!(root.trace_id.len(), 16);
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    assert!(spans.iter().all(|s| s.span_id.len() == 8));
    assert!(root.parent_span_id.is_empty());
    assert_eq!(a.parent_span_id, root.span_id);
    assert_eq!(b.parent_span_id, a.span_id);
    assert_eq!(root.kind, span::SpanKind::Server as i32);
    assert_eq!(a.kind, span::SpanKind::Internal as i32);

    // Order, nesting and durations.
    assert!(root.start_time_unix_nano <= a.start_time_unix_nano);
    assert!(a.start_time_unix_nano <= b.start_time_unix_nano);
    assert!(within(a, root) && within(b, a));
    let elapsed = |s: &Span| s.end_time_unix_nano - s.start_time_unix_nano;
    assert!(elapsed(b) >= 5 * MS, "b took {}", elapsed(b));
    assert!(elapsed(a) >= 10 * MS, "a took {}", elapsed(a));
    assert!(elapsed(root) >= elapsed(a));
    assert!(elapsed(root) < 60_000 * MS, "plausible duration");

    // Attributes.
    assert_eq!(
        attr(&root.attributes, "http.request.method"),
        Some(&Value::StringValue("GET".into()))
    );
    assert!(matches!(
        attr(&root.attributes, "thread.id"),
        Some(Value::IntValue(_))
    ));
    assert_eq!(
        attr(&a.attributes, "order.count"),
        Some(&Value::IntValue(2))
    );
    assert_eq!(attr(&b.attributes, "db.rows"), Some(&Value::IntValue(3)));

    // Error: status and exception event on b only.
    assert!(root.status.is_none() && a.status.is_none());
    let st = b.status.as_ref().expect("b has a status");
    assert_eq!(st.code, status::StatusCode::Error as i32);
    assert_eq!(st.message, "no such order");
    let event = &b.events[0];
    assert_eq!(event.name, "exception");
    assert_eq!(
        attr(&event.attributes, "exception.type"),
        Some(&Value::StringValue("OrderError".into()))
    );
    assert_eq!(
        attr(&event.attributes, "exception.message"),
        Some(&Value::StringValue("no such order".into()))
    );
    assert_eq!(
        attr(&event.attributes, "exception.stacktrace"),
        Some(&Value::StringValue("at b\nat a".into()))
    );

    // Metrics: one transaction counted across the metrics requests.
    let mut count = 0;
    let mut histogram_count = 0;
    for m in receiver.metrics() {
        let rm = &m.resource_metrics[0];
        assert_eq!(
            attr(&rm.resource.as_ref().unwrap().attributes, "service.name"),
            Some(&Value::StringValue("svc".into()))
        );
        for metric in &rm.scope_metrics[0].metrics {
            match (&metric.name[..], &metric.data) {
                ("osprey.transactions", Some(metric::Data::Sum(sum))) => {
                    for p in &sum.data_points {
                        if let Some(number_data_point::Value::AsInt(v)) = p.value {
                            count += v;
                        }
                        assert_eq!(p.time_unix_nano - p.start_time_unix_nano, 1_000 * MS);
                    }
                }
                ("osprey.transaction.duration", Some(metric::Data::Histogram(h))) => {
                    assert_eq!(metric.unit, "ms");
                    histogram_count += h.data_points.iter().map(|p| p.count).sum::<u64>();
                }
                _ => {}
            }
        }
    }
    assert_eq!(count, 1);
    assert_eq!(histogram_count, 1);

    // Read before shutdown: the collector drops per-exporter stats then.
    let stats = osprey::stats();
    assert_eq!(stats.produced(), 1);
    assert_eq!(stats.exporters[0].name, "otlp");
    assert_eq!(stats.exporters[0].delivered, 1);
    assert_eq!(stats.exporters[0].dropped, 0);
    assert!(guard.shutdown(Duration::from_secs(5)));
}
