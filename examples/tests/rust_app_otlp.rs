//! Runs the `rust_app` example with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing
//! at a loopback OTLP/HTTP receiver and checks the decoded trees: the native
//! API's SERVER transactions and the `tracing` layer's INTERNAL one — names,
//! parent links, order, nesting, durations, attributes, errors.

use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{all_spans, int_attr, named, str_attr, within};

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

#[test]
fn rust_example_trees_arrive_over_otlp() {
    let receiver = Receiver::start();
    let out = Command::new(env!("CARGO_BIN_EXE_rust_app"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_SERVICE_NAME", "rust-shop-test")
        .output()
        .expect("rust_app runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(receiver.wait_for("/v1/traces", 1, Duration::from_secs(10)));
    let requests = receiver.traces();
    let service = requests[0].resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        str_attr(&service.attributes, "service.name"),
        Some("rust-shop-test")
    );
    let spans = all_spans(&requests);

    // Six requests on two threads, one `tracing` job.
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(
        roots.len(),
        7,
        "{:?}",
        roots.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    // A successful request: the whole tree, in order, nested in time.
    let ok = named(&spans, "GET /orders/0");
    assert_eq!(ok.kind, span::SpanKind::Server as i32);
    assert_eq!(str_attr(&ok.attributes, "http.route"), Some("/orders/{id}"));
    assert_eq!(
        int_attr(&ok.attributes, "http.response.status_code"),
        Some(200)
    );
    let steps = children(&spans, ok);
    let names: Vec<_> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "load_user",
            "SELECT * FROM orders WHERE id = ?",
            "GET http://inventory/stock",
            "render"
        ]
    );
    let (sql, call, render) = (steps[1], steps[2], steps[3]);
    assert_eq!(sql.kind, span::SpanKind::Client as i32);
    assert_eq!(call.kind, span::SpanKind::Client as i32);
    assert_eq!(str_attr(&sql.attributes, "db.system"), Some("postgresql"));
    assert!(ms(sql) >= 2.0, "sql took {} ms", ms(sql));
    // The traceparent the example put on its outgoing call names that step.
    let sent = str_attr(&call.attributes, "traceparent").unwrap();
    assert_eq!(
        sent,
        format!(
            "00-{}-{}-01",
            osprey_testkit::spans::hex(&ok.trace_id),
            osprey_testkit::spans::hex(&call.span_id)
        )
    );
    // `render` is a `tracing` span inside the native transaction.
    let template = children(&spans, render);
    assert_eq!(template.len(), 1);
    assert_eq!(template[0].name, "template");
    assert_eq!(
        str_attr(&template[0].attributes, "name"),
        Some("order.html")
    );
    for s in &steps {
        assert!(within(s, ok), "{} within its transaction", s.name);
    }
    assert!(within(template[0], render));
    for pair in steps.windows(2) {
        assert!(pair[0].end_time_unix_nano <= pair[1].start_time_unix_nano);
    }

    // A failing request: the error on the call step and on the transaction.
    let failed = named(&spans, "GET /orders/2");
    let code = |s: &Span| s.status.as_ref().map_or(0, |st| st.code);
    assert_eq!(code(failed), status::StatusCode::Error as i32);
    let failed_call = children(&spans, failed)
        .into_iter()
        .find(|s| s.name == "GET http://inventory/stock")
        .unwrap();
    assert_eq!(code(failed_call), status::StatusCode::Error as i32);
    assert!(failed_call.events.iter().any(|e| e.name == "exception"));

    // The job recorded only through `tracing`.
    let job = named(&spans, "nightly_report");
    assert_eq!(job.kind, span::SpanKind::Internal as i32);
    let regions = children(&spans, job);
    let region_names: Vec<_> = regions
        .iter()
        .map(|s| str_attr(&s.attributes, "region").unwrap())
        .collect();
    assert_eq!(region_names, ["emea", "apac"]);
}
