//! The compile-time off switch: built without the `enable` feature
//! (`cargo test -p osprey --no-default-features --test disabled`), every
//! recording call is a no-op, guards are zero-sized, and the collector still
//! starts and stops.

#![cfg(not(feature = "enable"))]

use std::time::Duration;

#[test]
fn disabled_build_records_nothing_and_costs_nothing() {
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
    assert_eq!(txn.end(), None);
    assert!(osprey::flush(Duration::from_secs(5)));
    assert_eq!(osprey::stats().produced(), 0);
    assert!(guard.shutdown(Duration::from_secs(5)));
}
