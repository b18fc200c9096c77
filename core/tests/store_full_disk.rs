//! The local store on a full disk: a 4 MiB `tmpfs` (`osprey_testkit::
//! SmallDisk`) mostly taken by a filler file. Transactions keep being
//! recorded while the store cannot write (the application never waits or
//! fails); the store's failures are counted as drops; once space is freed,
//! new transactions are stored again and everything the store counted as
//! delivered reads back. Skipped, saying why, where mounting a `tmpfs` is
//! not allowed (set `OSPREY_REQUIRE_TMPFS=1` to fail instead).
#![cfg(all(feature = "store", feature = "enable"))]

use std::time::Duration;

use osprey::Config;
use osprey::export::store::{StoreConfig, StoreReader};
use osprey_testkit::SmallDisk;

fn record(name: &'static str, n: usize) {
    for i in 0..n {
        let txn = osprey::transaction(name).server().begin();
        txn.attr("request.number", i as i64)
            .attr("note", "padding padding padding padding padding padding");
        {
            let _s = osprey::step("work");
        }
        txn.end();
    }
}

#[test]
fn a_full_disk_drops_and_counts_then_the_store_resumes() {
    let Some(disk) = SmallDisk::for_test("store", 4 << 20) else {
        return;
    };
    let dir = disk.path().join("store");
    let guard = osprey::init(
        Config::default()
            .service_name("full-disk")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(StoreConfig {
                dir: dir.clone(),
                segment_bytes: 256 << 10,
                max_bytes: 64 << 20,
            }),
    )
    .expect("osprey starts");
    record("GET /before", 200);
    assert!(osprey::flush(Duration::from_secs(10)));
    let before = osprey::stats().exporters[0].clone();
    assert_eq!(before.delivered, 200, "{before:?}");

    // Leave less than one batch of room, then keep recording.
    let free = disk.free_bytes();
    disk.fill("filler", free.saturating_sub(8 << 10));
    record("GET /full", 20_000);
    assert!(osprey::flush(Duration::from_secs(20)));
    let full = osprey::stats();
    let store = full.exporters[0].clone();
    assert!(store.failed_batches > 0, "the disk filled: {full:?}");
    let error = store.last_error.clone().unwrap_or_default();
    assert!(error.to_ascii_lowercase().contains("space"), "{error}");
    assert_eq!(
        full.dropped_queue + store.dropped,
        full.produced() - store.delivered,
        "every drop counted: {full:?}"
    );

    // Space again: the store resumes.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    record("GET /after", 100);
    assert!(osprey::flush(Duration::from_secs(10)));
    let after = osprey::stats();
    let store = after.exporters[0].clone();
    assert!(guard.shutdown(Duration::from_secs(5)));
    assert_eq!(
        after.dropped_queue + store.dropped,
        after.produced() - store.delivered,
        "{after:?}"
    );

    let (stored, issues) = StoreReader::open(&dir).expect("store").transactions();
    let count = |name: &str| stored.iter().filter(|t| t.endpoint() == name).count();
    eprintln!(
        "stored: {} before, {} while full, {} after; delivered {}, dropped {}; issues {issues:?}",
        count("GET /before"),
        count("GET /full"),
        count("GET /after"),
        store.delivered,
        store.dropped
    );
    assert_eq!(count("GET /before"), 200);
    assert_eq!(count("GET /after"), 100, "the store resumed: {issues:?}");
    // A batch that failed part-way is counted as dropped whole, though the
    // records before the failing write are on disk: the counters never
    // under-report a loss.
    assert!(stored.len() as u64 >= store.delivered, "{issues:?}");
    // The only damage is the record torn by the full disk, and no empty
    // segment is left behind per failed attempt.
    assert!(issues.len() <= 2, "{issues:?}");
    let segments = std::fs::read_dir(&dir).unwrap().count();
    assert!(segments <= 4, "{segments} segment files");
}
