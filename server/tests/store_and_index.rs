//! The store's files and the indexes' caps, without HTTP: retention by
//! size and by age, a flipped byte skipped by checksum, a rebuilt index
//! after reopening, and bounded memory.

mod support;

use std::fs;
use std::time::Duration;

use osprey::model::{SpanId, TraceId};
use osprey_server::app::{App, ServerConfig};
use osprey_server::index::TxnFilter;
use osprey_server::record::{Batch, Kind, SpanRec};
use osprey_server::store::{self, Store, StoreConfig};
use support::TempDir;

fn root(n: u64, end_ns: u64) -> SpanRec {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&n.to_be_bytes());
    t[15] = 1;
    let mut s = [1u8; 8];
    s[..7].copy_from_slice(&n.to_be_bytes()[1..]);
    SpanRec {
        trace_id: TraceId(t),
        span_id: SpanId(s),
        parent: None,
        service: "svc".into(),
        name: format!("GET /{n}"),
        kind: Kind::Server,
        flags: 0,
        start_ns: end_ns - 1_000_000,
        end_ns,
        error: false,
        status_message: String::new(),
        attributes: vec![],
        exceptions: vec![],
    }
}

fn now_ns() -> u64 {
    Store::now_ms() * 1_000_000
}

#[test]
fn size_retention_deletes_the_oldest_segments_first() {
    let dir = TempDir::new("size");
    let mut cfg = StoreConfig::new(&dir.0);
    cfg.segment_bytes = 4096;
    cfg.max_bytes = 20_000;
    let mut store = Store::open(cfg).unwrap();
    let big = Batch::Spans((0..20).map(|n| root(n, now_ns())).collect());
    // Write three times the size cap, whatever a record's encoded size.
    let mut record = Vec::new();
    store::encode_batch(&big, &mut record).unwrap();
    let mut locs = Vec::new();
    for _ in 0..=3 * 20_000 / record.len() {
        locs.push(store.append(&big).unwrap());
    }
    let segs: Vec<u64> = store.segments().map(|s| s.seq).collect();
    assert!(
        store.total_bytes() <= 20_000 + 4096 * 2,
        "{}",
        store.total_bytes()
    );
    assert!(segs[0] > 0, "the first segments were deleted: {segs:?}");
    assert_eq!(*segs.last().unwrap(), locs.last().unwrap().segment);
    let on_disk = fs::read_dir(&dir.0).unwrap().count();
    assert_eq!(on_disk, segs.len());
}

#[test]
fn age_retention_deletes_stale_segments_and_the_index_forgets_old_transactions() {
    let dir = TempDir::new("age");
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.store.segment_window = Duration::from_millis(1);
    cfg.store.max_age = Duration::from_secs(3600);
    let app = App::open(cfg.clone()).unwrap();
    let old = now_ns() - 7_200 * 1_000_000_000;
    app.ingest_spans(vec![root(1, old)]).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    app.ingest_spans(vec![root(2, now_ns())]).unwrap();
    app.maintain();
    let all = TxnFilter::default();
    let left: Vec<String> = app.read(|i| {
        i.transactions(&all, 10)
            .iter()
            .map(|t| t.endpoint.to_string())
            .collect()
    });
    assert_eq!(
        left,
        ["GET /2"],
        "the transaction that ended two hours ago is forgotten"
    );
    // The segments themselves are young, so they stay until their last write ages.
    assert_eq!(app.status().segments.len(), 2);
    drop(app);
    let mut store = Store::open(cfg.store.clone()).unwrap();
    let deleted = store.enforce_retention(Store::now_ms() + 3_601_000);
    assert_eq!(deleted.len(), 2);
    // The index file of the sealed segment and its report rollup are left
    // to the storage, which removes both when their segment is gone as it
    // opens.
    let files = || -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let left = files();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left[0].ends_with(".osx") && left[1].ends_with(".rollup"),
        "{left:?}"
    );
    drop(App::open(cfg).unwrap());
    assert_eq!(files(), Vec::<String>::new());
}

#[test]
fn a_flipped_byte_loses_one_record_and_reopening_rebuilds_the_rest() {
    let dir = TempDir::new("flip");
    let cfg = ServerConfig::new(&dir.0);
    let app = App::open(cfg.clone()).unwrap();
    for n in 0..3 {
        app.ingest_spans(vec![root(n, now_ns())]).unwrap();
    }
    drop(app);
    let seg = fs::read_dir(&dir.0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&seg).unwrap();
    let mut offsets = Vec::new();
    store::scan_segment(&seg, |f| offsets.push(f.offset));
    assert_eq!(offsets.len(), 3);
    bytes[offsets[1] as usize + 20] ^= 0xff; // inside the second record's payload
    fs::write(&seg, &bytes).unwrap();

    let app = App::open(cfg).unwrap();
    let all = TxnFilter::default();
    let mut left: Vec<String> = app.read(|i| {
        i.transactions(&all, 10)
            .iter()
            .map(|t| t.endpoint.to_string())
            .collect()
    });
    left.sort();
    assert_eq!(left, ["GET /0", "GET /2"]);
    let issues = app.status().issues;
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].offset, offsets[1]);
    assert!(issues[0].problem.contains("checksum"), "{issues:?}");
}

#[test]
fn memory_holds_one_segment_and_older_ones_are_answered_from_disk() {
    let dir = TempDir::new("cap");
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.index.max_transactions = 100;
    let app = App::open(cfg).unwrap();
    for chunk in 0..10u64 {
        let spans = (0..50).map(|n| root(chunk * 50 + n, now_ns())).collect();
        app.ingest_spans(spans).unwrap();
    }
    app.maintain();
    let st = app.status();
    assert_eq!(st.index.transactions, 500, "every transaction answers");
    assert_eq!(st.index.evicted_transactions, 0);
    assert_eq!(
        (st.index.hot_segments, st.index.sealed_segments),
        (0, 5),
        "a segment is closed at 100 transactions and sealed by the maintenance pass"
    );
    let all = TxnFilter::default();
    assert_eq!(app.read(|i| i.transactions(&all, 1000).len()), 500);
    let first = app
        .trees(&SpanId([0, 0, 0, 0, 0, 0, 0, 1]).to_hex())
        .expect("the first one, from disk");
    assert_eq!(first[0].transaction.endpoint, "GET /0");
}

#[test]
fn the_server_map_keeps_only_the_newest_calls_within_its_cap() {
    let dir = TempDir::new("edges");
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.index.max_edges = 10;
    let app = App::open(cfg).unwrap();
    let end = now_ns();
    let calls: Vec<SpanRec> = (0..50u64)
        .map(|n| {
            let mut s = root(n, end - (50 - n) * 1_000_000);
            s.kind = Kind::Client;
            s.parent = Some(SpanId([9; 8]));
            s.attributes = vec![("db.system".into(), "redis".into())];
            s
        })
        .collect();
    app.ingest_spans(calls).unwrap();
    let edges = app.read(|i| i.server_map(0, u64::MAX));
    assert_eq!(edges.len(), 1);
    assert_eq!((edges[0].callee.as_str(), edges[0].count), ("redis", 10));
    assert_eq!(app.status().index.edges, 10);
    let recent = app.read(|i| i.server_map(end - 5_500_000, end));
    assert_eq!(recent[0].count, 5, "only calls ending in the range");
}

#[test]
fn a_store_written_by_the_version_1_format_still_opens_and_answers() {
    use osprey::export::store::format;
    use std::io::Write;

    let dir = TempDir::new("v1");
    let end = now_ns();
    let mut child = root(7, end);
    child.span_id = SpanId([7; 8]);
    child.parent = Some(root(7, end).span_id);
    child.kind = Kind::Client;
    child.name = "SELECT 1".into();
    // A segment exactly as the version-1 server wrote it: bincode payloads.
    let mut file = fs::File::create(dir.0.join(store::FORMAT.file_name(1, 0))).unwrap();
    file.write_all(&store::FORMAT.header_of_version(1)).unwrap();
    let mut frames = Vec::new();
    let old = Batch::Spans(vec![root(7, end), child.clone()]);
    format::encode_record(store::KIND_SPANS, &old, &mut frames).unwrap();
    file.write_all(&frames).unwrap();
    drop(file);

    let app = App::open(ServerConfig::new(&dir.0)).unwrap();
    app.ingest_spans(vec![root(8, end)]).unwrap();
    let all = TxnFilter::default();
    let mut endpoints: Vec<String> = app.read(|i| {
        i.transactions(&all, 10)
            .iter()
            .map(|t| t.endpoint.to_string())
            .collect()
    });
    endpoints.sort();
    assert_eq!(endpoints, ["GET /7", "GET /8"]);
    assert!(app.status().issues.is_empty(), "{:?}", app.status().issues);
    // The call tree is read back from the old segment.
    let mut spans = app.storage().trace_spans(child.trace_id).unwrap();
    spans.sort_by_key(|s| s.span_id.0);
    assert_eq!(spans, [root(7, end), child]);
    // The new record went to a new, version-2 segment.
    let names: Vec<String> = app
        .status()
        .segments
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let newest = fs::read(dir.0.join(&names[1])).unwrap();
    assert_eq!(newest[..12], store::FORMAT.header());
    assert_eq!(newest[12 + 8], store::KIND_STORED);
}
