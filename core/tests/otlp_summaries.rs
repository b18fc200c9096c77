//! Summary spans over OTLP: with a tree budget of 3 per second, what a
//! loopback OTLP receiver (not an Osprey server) gets under
//! `otlp.summaries=on`, `off` and `auto`. The real server's side (`auto`
//! turning on) is tested in `server/tests/summaries.rs`.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use osprey::export::otlp::{OtlpConfig, Summaries};
use osprey::{Config, ErrorInfo, StepKind};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{all_spans, int_attr, str_attr};

/// `osprey::init` is process-global: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const ORDINARY: i64 = 40;

/// `ORDINARY` transactions with two SQL steps and the HTTP server
/// attributes, then one whose SQL step fails (its tree is always kept).
fn workload() {
    for i in 0..ORDINARY {
        let txn = osprey::transaction(format!("GET /item/{}", i % 4))
            .server()
            .begin();
        txn.attr("http.response.status_code", 200 + (i % 2) * 204);
        txn.attr("client.address", "10.0.0.9");
        txn.attr("user.id", format!("u{i}"));
        for _ in 0..2 {
            let _sql = osprey::step_of_kind(StepKind::Sql, "SELECT 1");
        }
        txn.end();
    }
    let failed = osprey::transaction("failing").server().begin();
    osprey::step_of_kind(StepKind::Sql, "SELECT broken").error(ErrorInfo {
        message: "syntax".into(),
        ..ErrorInfo::default()
    });
    failed.end();
}

/// What a run received.
struct Run {
    spans: Vec<Span>,
    /// The collector's `counted_only`.
    counted_only: u64,
    /// Resource attributes of the first traces request.
    resource: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
}

/// Runs the workload with `summaries` (`rounds` times, flushing between
/// them, so later rounds follow what the first answers said).
fn run(summaries: Summaries, rounds: usize) -> Run {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = Receiver::start();
    let otlp = OtlpConfig::default()
        .endpoint(&receiver.endpoint())
        .summaries(summaries);
    let guard = osprey::init(
        Config::default()
            .service_name("shop")
            .batch_delay(Duration::from_millis(20))
            .trees_per_second(Some(3))
            .cpu_time(true)
            .exporter_spec(otlp),
    )
    .expect("osprey starts");
    for round in 0..rounds {
        if round > 0 {
            assert!(osprey::flush(Duration::from_secs(10)), "flushed in time");
        }
        workload();
    }
    assert!(guard.shutdown(Duration::from_secs(10)), "shutdown in time");
    let traces = receiver.traces();
    Run {
        spans: all_spans(&traces),
        counted_only: osprey::stats().counted_only,
        resource: traces[0].resource_spans[0]
            .resource
            .clone()
            .unwrap_or_default()
            .attributes,
    }
}

fn roots(spans: &[Span]) -> Vec<&Span> {
    spans
        .iter()
        .filter(|s| s.name.starts_with("GET ") || s.name == "failing")
        .collect()
}

fn is_summary(s: &Span) -> bool {
    str_attr(&s.attributes, "osprey.tree") == Some("omitted")
}

#[test]
fn with_summaries_on_every_transaction_arrives() {
    let Run {
        spans,
        counted_only,
        resource,
    } = run(Summaries::On, 1);
    assert_eq!(counted_only, 0);
    // The detected resource attributes tell this process apart.
    assert_eq!(
        int_attr(&resource, "process.pid"),
        Some(i64::from(std::process::id()))
    );
    assert!(str_attr(&resource, "service.instance.id").is_some_and(|id| id.len() == 36));
    assert!(str_attr(&resource, "host.name").is_some_and(|h| !h.is_empty()));
    let roots = roots(&spans);
    assert_eq!(roots.len() as i64, ORDINARY + 1, "every transaction");
    let (summaries, trees): (Vec<&Span>, Vec<&Span>) =
        roots.into_iter().partition(|s| is_summary(s));
    assert!(!summaries.is_empty(), "the budget of 3/s left trees out");
    assert!(trees.iter().any(|t| t.name == "failing"));
    // A kept tree has its SQL spans; a summary has none.
    for t in &trees {
        let children = spans
            .iter()
            .filter(|s| s.parent_span_id == t.span_id)
            .count();
        assert!(children >= 1, "{} kept its steps", t.name);
        assert_eq!(t.flags & 1, 1, "kept trees are flagged sampled");
    }
    for s in &summaries {
        assert!(
            spans.iter().all(|c| c.parent_span_id != s.span_id),
            "a summary is root-only"
        );
        assert_eq!(s.flags & 1, 0, "a summary is not flagged sampled");
        let a = &s.attributes;
        assert!(s.name.starts_with("GET /item/"), "{}", s.name);
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0);
        assert!(matches!(
            int_attr(a, "http.response.status_code"),
            Some(200 | 404)
        ));
        assert_eq!(str_attr(a, "client.address"), Some("10.0.0.9"));
        assert!(str_attr(a, "user.id").is_some_and(|u| u.starts_with('u')));
        assert_eq!(int_attr(a, "osprey.sql.count"), Some(2));
        assert!(float_attr(s, "osprey.sql.time_ms").is_some_and(|ms| ms >= 0.0));
        assert!(int_attr(a, "thread.id").is_some_and(|t| t > 0));
        let cpu = float_attr(s, "osprey.cpu_time_ms");
        assert!(cpu.is_none_or(|ms| ms >= 0.0), "{cpu:?}");
    }
    // Each user once: no transaction twice.
    let mut users: Vec<_> = spans
        .iter()
        .filter_map(|s| str_attr(&s.attributes, "user.id"))
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len() as i64, ORDINARY);
}

#[test]
fn with_summaries_off_only_kept_trees_travel() {
    let Run {
        spans,
        counted_only,
        ..
    } = run(Summaries::Off, 1);
    let roots = roots(&spans);
    assert!(roots.iter().all(|s| !is_summary(s)));
    assert!(roots.iter().any(|t| t.name == "failing"));
    assert_eq!(roots.len() as u64 + counted_only, ORDINARY as u64 + 1);
    assert!(counted_only > 0, "the rest counted in the aggregates only");
}

#[test]
fn auto_against_another_backend_sends_no_summaries() {
    let Run {
        spans,
        counted_only,
        ..
    } = run(Summaries::Auto, 2);
    let roots = roots(&spans);
    assert!(roots.iter().all(|s| !is_summary(s)), "not an Osprey server");
    assert_eq!(roots.iter().filter(|t| t.name == "failing").count(), 2);
    assert!(
        (roots.len() as i64) < 2 * (ORDINARY + 1),
        "tree-less transactions left out"
    );
    // Once the receiver answered without `osprey-server`, the collector
    // stopped building records for them: only counted, as before.
    assert!(counted_only > 0, "the second round was only counted");
}

fn float_attr(s: &Span, key: &str) -> Option<f64> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match osprey_testkit::spans::attr(&s.attributes, key) {
        Some(Value::DoubleValue(d)) => Some(*d),
        _ => None,
    }
}
