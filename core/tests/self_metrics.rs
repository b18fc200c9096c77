//! Osprey's own counters leave as metrics once a second: transactions
//! processed and dropped at the queue, delivered and dropped per exporter,
//! left out by the tree budget, names refused. The values the collector
//! receives match `osprey::stats()`.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{Metric, metric, number_data_point};
use osprey::export::otlp::OtlpConfig;
use osprey::export::{ExportError, Exporter};
use osprey::model::ExportBatch;
use osprey::{Config, Stats};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

/// Fails every export.
struct Failing;

impl Exporter for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }

    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        Err(ExportError::Transport("always".into()))
    }
}

/// The latest value of `name` whose attributes include every `attrs` pair.
fn latest(metrics: &[Metric], name: &str, attrs: &[(&str, &str)]) -> Option<i64> {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .filter_map(|m| match &m.data {
            Some(metric::Data::Sum(sum)) => Some(sum),
            _ => None,
        })
        .flat_map(|sum| &sum.data_points)
        .filter(|p| {
            attrs
                .iter()
                .all(|(k, v)| str_attr(&p.attributes, k) == Some(*v))
                && (attrs.iter().any(|(k, _)| *k == "error.type")
                    || str_attr(&p.attributes, "error.type").is_none())
        })
        .max_by_key(|p| p.time_unix_nano)
        .and_then(|p| match p.value {
            Some(number_data_point::Value::AsInt(v)) => Some(v),
            _ => None,
        })
}

#[test]
fn own_counters_leave_as_metrics() {
    let receiver = Receiver::start();
    let guard = osprey::init(
        Config::default()
            .service_name("self")
            .batch_delay(Duration::from_millis(50))
            .queue_capacity(64)
            .exporter_spec(OtlpConfig::default().endpoint(&receiver.endpoint()))
            .exporter(Failing),
    )
    .expect("osprey starts");
    // A burst past the queue's capacity: some are dropped at the queue.
    for _ in 0..5_000 {
        osprey::transaction("GET /self").server().begin().end();
    }
    assert!(osprey::flush(Duration::from_secs(10)));
    // A sample taken after everything settled, then exported.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(osprey::flush(Duration::from_secs(10)));
    let stats: Stats = osprey::stats();
    assert!(guard.shutdown(Duration::from_secs(5)));
    assert!(stats.dropped_queue > 0, "{stats:?}");

    let metrics: Vec<Metric> = receiver
        .metrics()
        .into_iter()
        .flat_map(|r| r.resource_metrics)
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .collect();
    let get = |name, attrs: &[(&str, &str)]| latest(&metrics, name, attrs).unwrap_or(-1) as u64;
    let processed = "otel.sdk.processor.span.processed";
    let exported = "otel.sdk.exporter.span.exported";
    assert_eq!(get(processed, &[]), stats.received, "{stats:?}");
    assert_eq!(
        get(processed, &[("error.type", "queue_full")]),
        stats.dropped_queue
    );
    let by_name = |n: &str| {
        stats
            .exporters
            .iter()
            .find(|e| e.name == n)
            .unwrap()
            .clone()
    };
    let (otlp, failing) = (by_name("otlp"), by_name("failing"));
    // The OTLP exporter's own count may lag by the batch carrying the sample.
    assert!(get(exported, &[("otel.component.name", "otlp")]) <= otlp.delivered);
    assert!(get(exported, &[("otel.component.name", "otlp")]) > 0);
    assert_eq!(
        get(
            exported,
            &[
                ("otel.component.name", "failing"),
                ("error.type", "export_failed")
            ]
        ),
        failing.dropped
    );
    assert!(failing.dropped > 0);
    assert_eq!(
        get("osprey.agent.tree_budget.left_out", &[]),
        stats.counted_only
    );
    assert_eq!(
        get("osprey.agent.names.refused", &[("osprey.name.kind", "sql")]),
        0
    );
}
