//! `async` work on a multi-thread runtime: one transaction per request
//! whatever threads poll it, through the `tracing` layer (`#[instrument]`)
//! and through the native API (`FutureExt`, `StepHandle`). Every test runs
//! a real collector and reads what a real exporter received.
#![cfg(all(feature = "enable", feature = "layer"))]

#[path = "support/capture.rs"]
mod capture;

use std::time::Duration;

use capture::{Capture, render};
use osprey::future::FutureExt;
use osprey::model::{AttrValue, SpanKind, StepRecord, TransactionRecord};
use parking_lot::Mutex;
use tracing::Instrument;
use tracing_subscriber::prelude::*;

/// Osprey is one per process: the tests here take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// The `tracing` subscriber of this test binary: global, as in a service
/// (a scoped one does not reach every thread that drops a span, and the
/// registry closes a parent through the dropping thread's subscriber).
fn install_subscriber() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(
            osprey::layer::OspreyLayer::default()
                .server_roots()
                .transactions_from("async_spans"),
        );
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

/// Runs `body` with Osprey started on a capturing exporter and returns what
/// it exported once shut down.
fn recorded(body: impl FnOnce()) -> Vec<TransactionRecord> {
    install_subscriber();
    let capture = Capture::default();
    let guard = osprey::init(
        osprey::Config::default()
            .batch_delay(Duration::from_millis(20))
            .exporter(capture.clone()),
    )
    .unwrap();
    body();
    assert!(guard.shutdown(Duration::from_secs(10)));
    capture.transactions()
}

fn attr<'a>(attrs: &'a [osprey::model::Attribute], key: &str) -> Option<&'a AttrValue> {
    attrs
        .iter()
        .find(|a| &*osprey::names::resolve(a.key) == key)
        .map(|a| &a.value)
}

fn int(attrs: &[osprey::model::Attribute], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(AttrValue::Int(i)) => Some(*i),
        _ => None,
    }
}

fn step<'a>(t: &'a TransactionRecord, name: &str) -> &'a StepRecord {
    t.steps
        .iter()
        .find(|s| &*osprey::names::resolve(s.name) == name)
        .unwrap_or_else(|| panic!("no step {name} in\n{}", render(t)))
}

const MS: u64 = 1_000_000;

#[tracing::instrument]
async fn query(table: &'static str) -> u32 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    tokio::task::yield_now().await;
    7
}

#[tracing::instrument]
async fn load(id: u64) -> u32 {
    tokio::time::sleep(Duration::from_millis(10)).await;
    query("orders").await + query("items").await
}

#[tracing::instrument(fields(request = id))]
async fn handle(id: u64) -> u32 {
    let n = load(id).await;
    // Work in another task, in parallel, under this request.
    let background = tokio::spawn(
        async {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        .instrument(tracing::info_span!("background")),
    );
    tokio::time::sleep(Duration::from_millis(4)).await;
    background.await.unwrap();
    n
}

#[test]
fn instrumented_async_requests_are_one_transaction_each_with_their_steps() {
    let _serial = SERIAL.lock();
    let txns = recorded(|| {
        let rt = runtime();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..20u64).map(|id| tokio::spawn(handle(id))).collect();
            for t in tasks {
                assert_eq!(t.await.unwrap(), 14);
            }
        });
    });
    assert_eq!(txns.len(), 20, "one transaction per request");
    let mut seen: Vec<i64> = txns
        .iter()
        .map(|t| int(&t.attributes, "request").expect("the request field"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    for t in &txns {
        assert_eq!(t.kind, SpanKind::Server);
        assert!(!t.repaired, "{}", render(t));
        assert_eq!(osprey::names::resolve(t.name).as_ref(), "handle");
        let tree = render(t);
        // Steps in the order they began, nested by the span tree.
        let names: Vec<(String, u16)> = t
            .steps
            .iter()
            .map(|s| (osprey::names::resolve(s.name).to_string(), s.depth))
            .collect();
        assert_eq!(
            names,
            [
                ("load".to_string(), 1),
                ("query".to_string(), 2),
                ("query".to_string(), 2),
                ("background".to_string(), 1)
            ],
            "{tree}"
        );
        // Elapsed covers the awaits: 10 + 5 + 5 ms in load, 4 ms after.
        let load = step(t, "load");
        assert!(load.elapsed_ns >= 20 * MS, "{}", load.elapsed_ns);
        assert!(t.elapsed_ns >= 24 * MS, "{}", t.elapsed_ns);
        for q in t.steps.iter().filter(|s| s.depth == 2) {
            assert!(q.elapsed_ns >= 5 * MS);
            assert!(q.start_offset_ns >= load.start_offset_ns);
            assert!(q.start_offset_ns + q.elapsed_ns <= load.start_offset_ns + load.elapsed_ns);
        }
        let bg = step(t, "background");
        assert!(bg.elapsed_ns >= 3 * MS);
        // Busy time is measured and is a part of the elapsed time.
        for s in &t.steps {
            let busy = int(&s.attributes, osprey::model::ATTR_BUSY_NS).expect("busy time");
            assert!(
                busy > 0 && (busy as u64) < s.elapsed_ns,
                "{busy} of {}",
                s.elapsed_ns
            );
        }
        let busy = int(&t.attributes, osprey::model::ATTR_BUSY_NS).expect("busy time");
        assert!((busy as u64) < t.elapsed_ns);
    }
}
