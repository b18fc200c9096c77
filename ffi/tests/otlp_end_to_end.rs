//! Builds `examples/c/app.c` against the committed header and libosprey,
//! runs it with the OTLP exporter pointed at the loopback OTLP/HTTP
//! receiver of `osprey-testkit`, and checks the trace it sent: names, parent links,
//! nesting, kinds, attributes, the error, the propagated trace and
//! plausible timings.
//!
//! Depends on the OTLP exporter of the core crate.

mod common;

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, str_attr};

const INBOUND_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN: &str = "00f067aa0ba902b7";
const SQL_TEXT: &str = "SELECT id, total FROM orders WHERE customer_id = ? ORDER BY id";

fn mentions(span: &Span, needle: &str) -> bool {
    let in_attrs = |attrs: &[KeyValue]| {
        attrs
            .iter()
            .any(|kv| format!("{:?}", kv.value).contains(needle))
    };
    in_attrs(&span.attributes)
        || span.events.iter().any(|e| in_attrs(&e.attributes))
        || span
            .status
            .as_ref()
            .is_some_and(|s| s.message.contains(needle))
}

#[test]
fn c_example_trace_arrives_over_otlp_http() {
    let receiver = Receiver::start();
    let port = receiver.port();
    let exe = common::compile(&common::repo_root().join("examples/c/app.c"), "app");
    let config = format!(
        "exporter=otlp;otlp.endpoint=http://127.0.0.1:{port};otlp.compression=gzip;batch.delay_ms=50;\
         service.name=c-example"
    );
    let out = common::run_ok(
        &exe,
        &[&config],
        &common::scratch("app"),
        Duration::from_secs(60),
    );
    let printed = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("traceparent: "))
        .expect("app prints the outgoing traceparent")
        .to_owned();

    // The program flushed and shut down before exiting, so everything was
    // sent; allow the receiver threads a moment to hand it over.
    assert!(
        receiver.wait_for("/v1/traces", 1, Duration::from_secs(10)),
        "no traces arrived; app stderr:\n{}",
        out.stderr
    );
    // The C library detects the identity too, and names no runtime (a C
    // program has none; Rust's would be wrong).
    let first = receiver.requests_to("/v1/traces")[0].traces();
    let resource = &first.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(str_attr(resource, "host.name"), Some(host.trim()));
    assert_eq!(str_attr(resource, "os.type"), Some("linux"));
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        assert_eq!(str_attr(resource, "host.id"), Some(id.trim()));
    }
    assert_eq!(str_attr(resource, "process.runtime.name"), None);
    assert_eq!(str_attr(resource, "process.executable.name"), Some("app"));
    let mut spans: Vec<(String, Span)> = Vec::new();
    for req in receiver.requests_to("/v1/traces") {
        assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(req.header("content-encoding"), Some("gzip"));
        spans.extend(common::spans_with_service(req.traces().resource_spans));
    }

    let find = |name: &str| -> &Span {
        let matching: Vec<_> = spans.iter().filter(|(_, s)| s.name == name).collect();
        assert_eq!(matching.len(), 1, "spans named {name:?}: {matching:#?}");
        &matching[0].1
    };
    let root = find("GET /c/orders");
    let method = find("OrderService.loadOrders");
    let sql = find("SELECT orders");
    let http = find("GET inventory");
    let pricing = find("GET pricing");
    assert!(spans.iter().all(|(svc, _)| svc == "c-example"));

    // The transaction continues the inbound trace as a SERVER span.
    assert_eq!(root.kind, span::SpanKind::Server as i32);
    assert_eq!(hex(&root.trace_id), INBOUND_TRACE);
    assert_eq!(hex(&root.parent_span_id), INBOUND_SPAN);
    assert_eq!(
        str_attr(&root.attributes, "http.request.method"),
        Some("GET")
    );

    // The tree: transaction > method > (sql, http).
    for s in [method, sql, http] {
        assert_eq!(s.trace_id, root.trace_id, "{} in the same trace", s.name);
        assert_eq!(s.span_id.len(), 8);
    }
    assert_eq!(method.parent_span_id, root.span_id);
    assert_eq!(sql.parent_span_id, method.span_id);
    assert_eq!(http.parent_span_id, method.span_id);
    assert_eq!(method.kind, span::SpanKind::Internal as i32);
    assert_eq!(sql.kind, span::SpanKind::Client as i32);
    assert_eq!(http.kind, span::SpanKind::Client as i32);

    // Attributes: the statement under the old or the current convention.
    let statement =
        str_attr(&sql.attributes, "db.statement").or(str_attr(&sql.attributes, "db.query.text"));
    assert_eq!(statement, Some(SQL_TEXT));
    assert_eq!(
        str_attr(&http.attributes, "url.full"),
        Some("http://inventory.local/stock?sku=?"),
        "query values are masked before export"
    );

    // The error is on the SQL step only.
    let code = |s: &Span| s.status.as_ref().map_or(0, |st| st.code);
    assert_eq!(code(sql), status::StatusCode::Error as i32);
    assert!(mentions(sql, "SQLTimeoutException"), "{sql:#?}");
    assert_ne!(code(method), status::StatusCode::Error as i32);
    assert_ne!(code(http), status::StatusCode::Error as i32);

    // The asynchronous call ends when the other thread completed it (20 ms
    // after its exit), with the status and error reported there.
    assert_eq!(pricing.parent_span_id, root.span_id);
    assert_eq!(pricing.kind, span::SpanKind::Client as i32);
    assert!(
        pricing.end_time_unix_nano - pricing.start_time_unix_nano >= 20_000_000,
        "{pricing:#?}"
    );
    assert!(pricing.end_time_unix_nano <= root.end_time_unix_nano);
    assert_eq!(code(pricing), status::StatusCode::Error as i32);
    assert!(mentions(pricing, "pricing answered 503"), "{pricing:#?}");
    assert!(
        pricing
            .attributes
            .iter()
            .any(|kv| kv.key == "http.response.status_code"
                && format!("{:?}", kv.value).contains("503")),
        "{pricing:#?}"
    );
    assert!(
        !pricing
            .attributes
            .iter()
            .any(|kv| kv.key == "osprey.incomplete")
    );

    // The printed traceparent names the HTTP step as the callee's parent.
    assert_eq!(
        printed,
        format!("00-{INBOUND_TRACE}-{}-01", hex(&http.span_id))
    );

    // Timings: children inside their parents, the sleeps visible.
    let nested = |child: &Span, parent: &Span| {
        parent.start_time_unix_nano <= child.start_time_unix_nano
            && child.end_time_unix_nano <= parent.end_time_unix_nano
    };
    for s in [root, method, sql, http] {
        assert!(s.start_time_unix_nano > 1_600_000_000_000_000_000, "{s:#?}");
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano, "{s:#?}");
    }
    assert!(nested(method, root) && nested(sql, method) && nested(http, method));
    assert!(sql.end_time_unix_nano <= http.start_time_unix_nano);
    let ms = |s: &Span| (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6;
    assert!(ms(sql) >= 3.0, "sql took {} ms", ms(sql));
    assert!(ms(http) >= 1.0, "http took {} ms", ms(http));
    assert!(ms(method) >= 6.0, "method took {} ms", ms(method));
    assert!(ms(root) < 5_000.0, "root took {} ms", ms(root));

    // The C program's own statistics line agrees: one delivered.
    assert!(
        out.stdout.contains("produced 1, dropped 0, delivered 1"),
        "{}",
        out.stdout
    );
}
