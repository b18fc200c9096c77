//! The OTLP exporter against collectors that refuse, hang, throttle, reject,
//! partially accept or answer with junk. The tests share one process and
//! `osprey::init` is process-global, so they run one at a time.
#![cfg(all(feature = "otlp", feature = "enable"))]

use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use osprey::export::otlp::{Compression, OtlpConfig};
use osprey::{Config, ExporterStats, OspreyGuard};
use osprey_testkit::{Receiver, Reply};
use prost::Message;

const TRACES: &str = "/v1/traces";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(otlp: OtlpConfig) -> OspreyGuard {
    osprey::init(
        Config::default()
            .service_name("faults")
            .batch_delay(Duration::from_millis(50))
            .shutdown_timeout(Duration::from_secs(2))
            .exporter_spec(otlp),
    )
    .expect("osprey starts")
}

/// Short timeouts so failing exports give up quickly.
fn quick(endpoint: &str) -> OtlpConfig {
    OtlpConfig::default()
        .endpoint(endpoint)
        .timeout(Duration::from_millis(300))
        .max_retry_time(Duration::from_millis(600))
}

fn record(n: usize) {
    for _ in 0..n {
        osprey::transaction("GET /faults").server().begin().end();
    }
}

/// The OTLP exporter's statistics, after checking that every transaction
/// produced is either delivered or counted as dropped.
fn accounted_stats() -> ExporterStats {
    let stats = osprey::stats();
    let otlp = stats.exporters[0].clone();
    assert_eq!(otlp.name, "otlp");
    assert_eq!(
        stats.dropped_queue + otlp.dropped,
        stats.produced() - otlp.delivered,
        "{stats:?}"
    );
    otlp
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn refused_connections_drop_batches_and_never_block_the_app() {
    let _serial = serial();
    let guard = start(quick(&format!("http://127.0.0.1:{}", closed_port())));
    // Finishing this loop while every export fails is the point.
    record(1000);
    assert!(osprey::flush(Duration::from_secs(20)));
    let otlp = accounted_stats();
    assert_eq!(osprey::stats().produced(), 1000);
    assert_eq!(otlp.delivered, 0);
    assert!(otlp.dropped > 0);
    assert!(otlp.failed_batches >= 1);
    assert!(otlp.last_error.is_some());
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn silent_collector_times_out_while_the_app_keeps_going() {
    let _serial = serial();
    let receiver = Receiver::start();
    receiver.set_default(Reply::Silent);
    let guard = start(quick(&receiver.endpoint()));
    record(1);
    assert!(receiver.wait_for(TRACES, 1, Duration::from_secs(5)));
    // The exporter now waits on a collector that never answers.
    record(1000);
    assert!(osprey::flush(Duration::from_secs(20)));
    let otlp = accounted_stats();
    assert_eq!(otlp.delivered, 0);
    assert!(otlp.dropped >= 1);
    let error = otlp.last_error.unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
    // A timed-out request was retried within the retry budget.
    assert!(receiver.requests_to(TRACES).len() >= 2);
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn shutdown_and_flush_return_within_their_timeout_while_an_export_hangs() {
    let _serial = serial();
    let receiver = Receiver::start();
    receiver.set_default(Reply::Silent);
    // Default 10 s request timeout and 30 s retry budget: the export hangs.
    let guard = start(OtlpConfig::default().endpoint(&receiver.endpoint()));
    record(1);
    assert!(receiver.wait_for(TRACES, 1, Duration::from_secs(5)));
    let started = Instant::now();
    // Both give up at their deadline and say so.
    assert!(
        !osprey::flush(Duration::from_millis(300)),
        "flush cannot finish"
    );
    assert!(
        !guard.shutdown(Duration::from_millis(500)),
        "shutdown cannot finish"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!osprey::is_running());
}

#[test]
fn retry_after_is_honoured_then_the_batch_is_delivered() {
    let _serial = serial();
    let receiver = Receiver::start();
    receiver.script(TRACES, [Reply::retry_after(503, 1)]);
    let guard = start(quick(&receiver.endpoint()).max_retry_time(Duration::from_secs(10)));
    record(1);
    assert!(osprey::flush(Duration::from_secs(15)));
    let requests = receiver.requests_to(TRACES);
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    assert_eq!(requests[0].body, requests[1].body);
    let otlp = accounted_stats();
    assert_eq!((otlp.delivered, otlp.dropped), (1, 0));
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn bad_request_is_rejected_without_retry() {
    let _serial = serial();
    let receiver = Receiver::start();
    receiver.script(TRACES, [Reply::with_body(400, b"bad span".to_vec())]);
    let guard = start(quick(&receiver.endpoint()));
    record(1);
    assert!(osprey::flush(Duration::from_secs(10)));
    assert_eq!(receiver.requests_to(TRACES).len(), 1);
    let otlp = accounted_stats();
    assert_eq!((otlp.delivered, otlp.dropped), (0, 1));
    let error = otlp.last_error.unwrap_or_default();
    assert!(
        error.contains("400") && error.contains("bad span"),
        "{error}"
    );
    // The per-second aggregates still go out: they count every transaction.
    assert!(receiver.wait_for("/v1/metrics", 1, Duration::from_secs(5)));
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn partial_success_counts_as_delivered_without_retry() {
    let _serial = serial();
    let receiver = Receiver::start();
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "span too large".into(),
        }),
    };
    receiver.script(TRACES, [Reply::with_body(200, partial.encode_to_vec())]);
    let guard = start(quick(&receiver.endpoint()));
    record(1);
    assert!(osprey::flush(Duration::from_secs(10)));
    assert_eq!(receiver.requests_to(TRACES).len(), 1);
    let otlp = accounted_stats();
    assert_eq!((otlp.delivered, otlp.dropped), (1, 0));
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn oversized_and_garbage_success_bodies_are_read_boundedly() {
    let _serial = serial();
    let receiver = Receiver::start();
    receiver.script(
        TRACES,
        [
            Reply::Oversized { bytes: 64 << 20 },
            Reply::with_body(200, vec![0xff; 4096]),
        ],
    );
    let guard = start(quick(&receiver.endpoint()).timeout(Duration::from_secs(5)));
    record(1);
    assert!(osprey::flush(Duration::from_secs(10)));
    record(1);
    assert!(osprey::flush(Duration::from_secs(10)));
    assert_eq!(receiver.requests_to(TRACES).len(), 2);
    let otlp = accounted_stats();
    assert_eq!((otlp.delivered, otlp.dropped), (2, 0));
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn throttling_and_gateway_errors_are_retried_with_backoff() {
    let _serial = serial();
    let receiver = Receiver::start();
    receiver.script(
        TRACES,
        [Reply::status(429), Reply::status(502), Reply::status(504)],
    );
    let otlp = quick(&receiver.endpoint())
        .max_retry_time(Duration::from_secs(10))
        .compression(Compression::None);
    let guard = start(otlp);
    record(1);
    assert!(osprey::flush(Duration::from_secs(15)));
    let requests = receiver.requests_to(TRACES);
    assert_eq!(requests.len(), 4);
    // Backoff of at least half of 100, 200 and 400 ms between attempts.
    assert!(requests[3].at - requests[0].at >= Duration::from_millis(350));
    assert!(
        requests
            .iter()
            .all(|r| r.header("content-encoding").is_none())
    );
    assert_eq!(
        requests[3].traces().resource_spans[0].scope_spans[0]
            .spans
            .len(),
        1
    );
    let otlp = accounted_stats();
    assert_eq!((otlp.delivered, otlp.dropped), (1, 0));
    assert!(guard.shutdown(Duration::from_secs(5)));
}
