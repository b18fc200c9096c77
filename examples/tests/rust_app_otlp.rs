//! Runs the `rust_app` example (an axum shop calling an axum inventory
//! service in a second process) with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing
//! at a loopback OTLP/HTTP receiver and checks the decoded trees of both
//! services: one SERVER transaction per request, steps in order and nested
//! in time, the call's `traceparent` joining the two into one trace, errors,
//! and the `tracing`-only job.

use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{int_attr, str_attr, within};

/// Every span received, with its service's name.
fn spans_by_service(requests: &[ExportTraceServiceRequest]) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for request in requests {
        for rs in &request.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| str_attr(&r.attributes, "service.name"))
                .unwrap_or("")
                .to_owned();
            for ss in &rs.scope_spans {
                out.extend(ss.spans.iter().map(|s| (service.clone(), s.clone())));
            }
        }
    }
    out
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    let mut c: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
        .collect();
    c.sort_by_key(|s| s.start_time_unix_nano);
    c
}

fn ms(s: &Span) -> f64 {
    (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6
}

fn code(s: &Span) -> i32 {
    s.status.as_ref().map_or(0, |st| st.code)
}

#[test]
fn both_services_trees_arrive_over_otlp_as_one_trace_per_order() {
    let receiver = Receiver::start();
    let out = Command::new(env!("CARGO_BIN_EXE_rust_app"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_SERVICE_NAME", "rust-shop-test")
        .output()
        .expect("rust_app runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(receiver.wait_for("/v1/traces", 2, Duration::from_secs(10)));
    let tagged = spans_by_service(&receiver.traces());
    let spans: Vec<Span> = tagged.iter().map(|(_, s)| s.clone()).collect();
    let of = |service: &str| -> Vec<&Span> {
        tagged
            .iter()
            .filter(|(s, _)| s == service)
            .map(|(_, span)| span)
            .collect()
    };
    let shop = of("rust-shop-test");
    let inventory = of("inventory");

    // Six orders and one job in the shop, six stock look-ups in the
    // inventory — each request exactly one transaction.
    let orders: Vec<&Span> = shop
        .iter()
        .copied()
        .filter(|s| s.name == "GET /orders/{id}")
        .collect();
    let lookups: Vec<&Span> = inventory
        .iter()
        .copied()
        .filter(|s| s.name == "GET /stock/{sku}")
        .collect();
    assert_eq!(orders.len(), 6, "{stdout}");
    assert_eq!(lookups.len(), 6);
    let roots: Vec<_> = shop
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 7, "six orders and the job");
    assert!(
        inventory
            .iter()
            .all(|s| s.name == "GET /stock/{sku}" || s.name == "lookup")
    );

    for order in &orders {
        assert_eq!(order.kind, span::SpanKind::Server as i32);
        assert!(order.parent_span_id.is_empty());
        assert_eq!(
            str_attr(&order.attributes, "http.route"),
            Some("/orders/{id}")
        );
        let id: u32 = str_attr(&order.attributes, "url.path")
            .and_then(|p| p.strip_prefix("/orders/"))
            .unwrap()
            .parse()
            .unwrap();
        let steps = children(&spans, order);
        let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
        let failed = id % 3 == 2;
        if failed {
            // The inventory's 503 ends the request before `render`.
            assert_eq!(
                names,
                ["load_user", "SELECT * FROM orders WHERE id = ?", "GET"]
            );
            assert_eq!(code(order), status::StatusCode::Error as i32);
            assert_eq!(
                int_attr(&order.attributes, "http.response.status_code"),
                Some(502)
            );
        } else {
            assert_eq!(
                names,
                [
                    "load_user",
                    "SELECT * FROM orders WHERE id = ?",
                    "GET",
                    "render"
                ]
            );
            assert_ne!(code(order), status::StatusCode::Error as i32);
            assert_eq!(
                int_attr(&order.attributes, "http.response.status_code"),
                Some(200)
            );
        }
        // In order, inside the request, each covering its awaits.
        for s in &steps {
            assert!(within(s, order), "{} within its transaction", s.name);
        }
        for pair in steps.windows(2) {
            assert!(pair[0].end_time_unix_nano <= pair[1].start_time_unix_nano);
        }
        let (user, sql, call) = (steps[0], steps[1], steps[2]);
        assert!(ms(user) >= 1.0, "load_user took {} ms", ms(user));
        assert!(ms(sql) >= 2.0, "the query took {} ms", ms(sql));
        assert_eq!(sql.kind, span::SpanKind::Client as i32);
        assert_eq!(str_attr(&sql.attributes, "db.system"), Some("postgresql"));
        assert_eq!(
            str_attr(&sql.attributes, "db.statement"),
            Some("SELECT * FROM orders WHERE id = ?")
        );
        assert_eq!(call.kind, span::SpanKind::Client as i32);
        let status = if failed { 503 } else { 200 };
        assert_eq!(
            int_attr(&call.attributes, "http.response.status_code"),
            Some(status)
        );
        assert_eq!(code(call) == status::StatusCode::Error as i32, failed);

        // One trace across both services: the inventory's transaction hangs
        // on the call step, inside it in time, with its own step.
        let remote: Vec<&&Span> = lookups
            .iter()
            .filter(|l| l.trace_id == order.trace_id && l.parent_span_id == call.span_id)
            .collect();
        assert_eq!(remote.len(), 1, "one inventory transaction under the call");
        let remote = remote[0];
        assert_eq!(remote.kind, span::SpanKind::Server as i32);
        assert_eq!(
            str_attr(&remote.attributes, "url.path"),
            Some(format!("/stock/{id}").as_str())
        );
        assert_eq!(code(remote) == status::StatusCode::Error as i32, failed);
        let lookup = children(&spans, remote);
        assert_eq!(lookup.len(), 1);
        assert_eq!(lookup[0].name, "lookup");
        assert!(ms(lookup[0]) >= 3.0);
        assert!(ms(call) >= ms(lookup[0]));
    }

    // The job recorded only through `tracing`.
    let job = shop.iter().find(|s| s.name == "nightly_report").unwrap();
    assert_eq!(job.kind, span::SpanKind::Internal as i32);
    let regions = children(&spans, job);
    let region_names: Vec<_> = regions
        .iter()
        .map(|s| str_attr(&s.attributes, "region").unwrap())
        .collect();
    assert_eq!(region_names, ["emea", "apac"]);
}
