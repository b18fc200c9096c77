//! Cross-check against a receiver nobody here wrote: the `mock-collector`
//! crate (axum, OTLP/HTTP protobuf with gzip decompression) must accept
//! what the OTLP exporter sends and see the same spans and metrics.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::time::Duration;

use mock_collector::{MockServer, Protocol};
use osprey::export::otlp::OtlpConfig;
use osprey::{Config, ErrorInfo, StepKind};

fn record_checkout() {
    let txn = osprey::transaction("POST /checkout").server().begin();
    txn.attr("http.request.method", "POST");
    {
        let _load = osprey::step("load_cart");
        let sql = osprey::step_of_kind(StepKind::Sql, "SELECT * FROM cart");
        sql.attr("db.system", "postgresql").error(ErrorInfo {
            kind: "SQLException".into(),
            message: "timeout".into(),
            stack: String::new(),
        });
    }
    txn.end();
}

#[test]
fn mock_collector_receives_spans_and_metrics() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = rt
        .block_on(MockServer::builder().protocol(Protocol::HttpBinary).start())
        .expect("mock collector starts");
    let endpoint = format!("http://{}", server.addr());

    let guard = osprey::init(
        Config::default()
            .service_name("checkout")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(OtlpConfig::default().endpoint(&endpoint)),
    )
    .expect("osprey starts");
    record_checkout();
    assert!(osprey::flush(Duration::from_secs(5)));
    let stats = osprey::stats();
    assert_eq!(stats.exporters[0].delivered, 1, "{stats:?}");
    assert!(guard.shutdown(Duration::from_secs(5)));

    rt.block_on(server.wait_for_spans(3, Duration::from_secs(5)))
        .expect("three spans arrive");
    rt.block_on(server.with_collector(|c| {
        assert_eq!(c.span_count(), 3);
        c.expect_span_with_name("POST /checkout")
            .with_attributes([("http.request.method", "POST")])
            .with_resource_attributes([("service.name", "checkout")])
            .assert_count(1);
        c.expect_span_with_name("load_cart").assert_count(1);
        c.expect_span_with_name("SELECT * FROM cart")
            .with_attributes([("db.system", "postgresql")])
            .with_event_attributes(
                "exception",
                [
                    ("exception.type", "SQLException"),
                    ("exception.message", "timeout"),
                ],
            )
            .assert_count(1);

        let span = |name: &str| {
            c.spans()
                .iter()
                .map(|s| s.span())
                .find(|s| s.name == name)
                .expect("span present")
                .clone()
        };
        let (root, load, sql) = (
            span("POST /checkout"),
            span("load_cart"),
            span("SELECT * FROM cart"),
        );
        assert_eq!(load.parent_span_id, root.span_id);
        assert_eq!(sql.parent_span_id, load.span_id);
        assert_eq!(sql.trace_id, root.trace_id);
        assert!(c.spans().iter().all(|s| s.scope_attrs().is_empty()));

        c.expect_metric_with_name("osprey.transactions")
            .assert_at_least(1);
        c.expect_metric_with_name("osprey.transaction.duration")
            .assert_at_least(1);
    }));
    rt.block_on(server.shutdown())
        .expect("mock collector stops");
}
