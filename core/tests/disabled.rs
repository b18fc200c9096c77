//! The compile-time off switch: built without the `enable` feature
//! (`cargo test -p osprey --no-default-features --test disabled`), every
//! recording call is a no-op, guards are zero-sized, and the collector still
//! starts and stops.

#![cfg(not(feature = "enable"))]

use std::time::Duration;

/// Osprey is one per process: the tests here take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn disabled_build_records_nothing_and_costs_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(std::mem::size_of::<osprey::StepGuard>(), 0);
    assert_eq!(std::mem::size_of::<osprey::TransactionGuard>(), 0);
    let guard =
        osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
    let txn = osprey::transaction("GET /").server().begin();
    {
        let s = osprey::step("work");
        s.attr("k", 1i64);
    }
    assert_eq!(osprey::traceparent(), None);
    assert_eq!(osprey::current_ids(), None);
    assert!(osprey::raw::fork(osprey::names::intern("task")).is_none());
    assert_eq!(txn.end(), None);
    assert!(osprey::flush(Duration::from_secs(5)));
    assert_eq!(osprey::stats().produced(), 0);
    assert!(guard.shutdown(Duration::from_secs(5)));
}

#[test]
fn disabled_build_compiles_the_async_api_to_pass_through() {
    use osprey::future::FutureExt;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let guard =
        osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt.block_on(
        async {
            let step = osprey::future::step("inner");
            assert!(!step.is_recording());
            assert_eq!(step.traceparent(), None);
            step.end();
            assert_eq!(osprey::traceparent(), None);
            async { 41 }.in_step("work").await + 1
        }
        .in_transaction(osprey::transaction("GET /")),
    );
    assert_eq!(out, 42);
    let txn = osprey::transaction("job").begin_async();
    assert!(!txn.is_recording());
    assert_eq!(txn.end(), None);
    assert!(osprey::flush(Duration::from_secs(5)));
    assert_eq!(osprey::stats().produced(), 0);
    assert!(guard.shutdown(Duration::from_secs(5)));
}
