//! End to end: `osprey::init` with the local store (configured through
//! `key=value` pairs), transactions recorded through the public API, shut
//! down, then read back with `StoreReader`. One `init` per process, so this
//! file holds a single test.
#![cfg(all(feature = "store", feature = "enable"))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use osprey::export::store::{StoreReader, StoredRecord, StoredTransaction};
use osprey::{AttrValue, Config, ErrorInfo, SpanKind, StepKind};

#[test]
fn recorded_transactions_are_read_back_from_the_store() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("osprey-store-init-{}-{nanos}", std::process::id()));
    // Ratio 0: ordinary transactions keep no tree, errors always do.
    let config = Config::from_pairs_str(&format!(
        "service.name=store-it; store.dir={}; sample.ratio=0",
        dir.display()
    ))
    .unwrap();
    let guard = osprey::init(config).expect("osprey starts");

    let txn = osprey::transaction("POST /checkout").server().begin();
    txn.attr("http.request.method", "POST");
    {
        let _run = osprey::step("CheckoutService.run");
        {
            let sql = osprey::step_of_kind(StepKind::Sql, "INSERT INTO orders VALUES (?)");
            sql.attr("db.statement", "INSERT INTO orders VALUES (?)");
            sql.attr("db.response.returned_rows", 1i64);
        }
        {
            let _charge = osprey::step("PaymentClient.charge");
            let http = osprey::step_of_kind(StepKind::HttpCall, "POST /pay");
            http.error(ErrorInfo {
                kind: "IOException".into(),
                message: "connection reset".into(),
                stack: String::new(),
            });
        }
    }
    txn.error(ErrorInfo {
        kind: String::new(),
        message: "payment failed".into(),
        stack: String::new(),
    });
    let _ = txn.end();
    for _ in 0..5 {
        let health = osprey::transaction("GET /health").begin();
        let _ = osprey::step("probe");
        let _ = health.end();
    }
    assert!(osprey::flush(Duration::from_secs(10)), "flush in time");
    let stats = osprey::stats();
    let store = stats.exporters.iter().find(|e| e.name == "store").unwrap();
    assert_eq!(store.delivered, 6, "{store:?}");
    assert!(guard.shutdown(Duration::from_secs(10)), "shutdown in time");

    let reader = StoreReader::open(&dir).unwrap();
    let mut records = reader.records();
    let all: Vec<StoredRecord> = records.by_ref().collect();
    assert!(records.issues().is_empty(), "{:?}", records.issues());
    let counted: u64 = all
        .iter()
        .filter_map(|r| match r {
            StoredRecord::Aggregate(a) => Some(a.count),
            _ => None,
        })
        .sum();
    assert_eq!(counted, 6, "every transaction is in the per-second counts");
    let txns: Vec<StoredTransaction> = all
        .into_iter()
        .filter_map(StoredRecord::into_transaction)
        .collect();
    assert_eq!(txns.len(), 6);

    let checkout = &txns[0];
    let r = &checkout.record;
    assert_eq!(checkout.endpoint(), "POST /checkout");
    assert_eq!(checkout.resource.as_ref().unwrap().service_name, "store-it");
    assert_eq!(r.kind, SpanKind::Server);
    assert!(r.sampled);
    assert_eq!(r.error.as_ref().unwrap().message, "payment failed");
    assert_eq!(checkout.name(r.attributes[0].key), "http.request.method");
    assert_eq!(r.attributes[0].value, AttrValue::from("POST"));

    let tree: Vec<(String, Option<u32>, u16, StepKind)> = r
        .steps
        .iter()
        .map(|s| (checkout.name(s.name).to_owned(), s.parent, s.depth, s.kind))
        .collect();
    assert_eq!(
        tree,
        vec![
            ("CheckoutService.run".into(), None, 1, StepKind::Method),
            (
                "INSERT INTO orders VALUES (?)".into(),
                Some(0),
                2,
                StepKind::Sql
            ),
            ("PaymentClient.charge".into(), Some(0), 2, StepKind::Method),
            ("POST /pay".into(), Some(2), 3, StepKind::HttpCall),
        ]
    );
    let sql = &r.steps[1];
    assert_eq!(checkout.name(sql.attributes[0].key), "db.statement");
    assert_eq!(
        checkout.name(sql.attributes[1].key),
        "db.response.returned_rows"
    );
    assert_eq!(
        r.steps[3].error.as_ref().unwrap().message,
        "connection reset"
    );
    for s in &r.steps {
        let end = s.start_offset_ns + s.elapsed_ns;
        assert!(end <= r.elapsed_ns, "step inside the transaction: {s:?}");
        if let Some(p) = s.parent {
            let parent = &r.steps[p as usize];
            assert!(s.start_offset_ns >= parent.start_offset_ns);
            assert!(end <= parent.start_offset_ns + parent.elapsed_ns);
        }
    }

    for health in &txns[1..] {
        assert_eq!(health.endpoint(), "GET /health");
        assert!(!health.record.sampled, "sampled out but still stored");
        assert!(health.record.steps.is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
