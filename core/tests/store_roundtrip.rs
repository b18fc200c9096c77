//! The local store written through its exporter and read back with
//! `StoreReader`: round trip, torn tails, checksums, rolling, retention and
//! self-contained segments.
#![cfg(feature = "store")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use osprey::export::Exporter;
use osprey::export::store::{
    Problem, RecordPosition, StoreConfig, StoreExporter, StoreReader, StoredRecord,
    StoredTransaction,
};
use osprey::model::{
    Attribute, ErrorInfo, ExportBatch, Resource, SecondAggregate, SpanId, SpanKind, StepKind,
    StepRecord, TraceId, TransactionRecord,
};
use osprey::names::intern;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("osprey-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_owned(),
        segment_bytes: 1 << 20,
        max_bytes: 1 << 30,
    }
}

fn txn(n: u64, sampled: bool) -> TransactionRecord {
    let mut steps = vec![
        StepRecord {
            span_id: SpanId([2; 8]),
            parent: None,
            depth: 1,
            kind: StepKind::Method,
            name: intern("OrderService.load"),
            start_offset_ns: 1_000,
            elapsed_ns: 50_000,
            // Async work: kept since format version 3.
            busy_ns: Some(30_000),
            error: None,
            attributes: Vec::new(),
            repaired: false,
        },
        StepRecord {
            span_id: SpanId([3; 8]),
            parent: Some(0),
            depth: 2,
            kind: StepKind::Sql,
            name: intern("SELECT * FROM orders WHERE id = ?"),
            start_offset_ns: 2_000,
            elapsed_ns: 40_000,
            busy_ns: None,
            error: Some(Box::new(ErrorInfo {
                kind: "SQLException".into(),
                message: "timeout".into(),
                stack: "at Db.query".into(),
            })),
            attributes: vec![Attribute {
                key: intern("db.system"),
                value: "postgresql".into(),
            }],
            repaired: false,
        },
    ];
    if !sampled {
        steps.clear();
    }
    TransactionRecord {
        trace_id: TraceId([n as u8 + 1; 16]),
        span_id: SpanId([1; 8]),
        parent_span_id: None,
        kind: SpanKind::Server,
        name: intern(&format!("GET /orders/{}", n % 3)),
        start_unix_ns: 1_700_000_000_000_000_000 + n,
        elapsed_ns: 100_000 + n,
        busy_ns: Some(70_000),
        error: None,
        attributes: vec![
            Attribute {
                key: intern("http.request.method"),
                value: "GET".into(),
            },
            Attribute {
                key: intern("seq"),
                value: (n as i64).into(),
            },
        ],
        steps,
        dropped_steps: 0,
        repaired: false,
        sampled,
        thread_id: 7,
    }
}

fn batch(txns: Vec<TransactionRecord>, aggregates: Vec<SecondAggregate>) -> ExportBatch {
    ExportBatch {
        resource: Arc::new(Resource {
            service_name: "shop".into(),
            attributes: vec![("host.name".into(), "web-1".into())],
        }),
        transactions: txns,
        aggregates,
        metrics: Vec::new(),
        active: Vec::new(),
    }
}

fn write(cfg: StoreConfig, batches: &[ExportBatch]) {
    let mut exporter = StoreExporter::new(cfg).unwrap();
    for b in batches {
        exporter.export(b).unwrap();
    }
    exporter.flush().unwrap();
}

/// The `seq` attribute of each transaction read back.
fn seqs(txns: &[StoredTransaction]) -> Vec<i64> {
    txns.iter()
        .map(|t| match t.record.attributes[1].value {
            osprey::AttrValue::Int(i) => i,
            ref other => panic!("seq is {other:?}"),
        })
        .collect()
}

/// Positions of every transaction frame.
fn txn_positions(dir: &Path) -> Vec<RecordPosition> {
    let reader = StoreReader::open(dir).unwrap();
    let mut records = reader.records();
    let mut out = Vec::new();
    while let Some(r) = records.next() {
        if matches!(r, StoredRecord::Transaction(_)) {
            out.push(records.last_position().unwrap().clone());
        }
    }
    out
}

#[test]
fn round_trip_keeps_everything_including_unsampled() {
    let dir = TempDir::new("store-rt");
    let written = vec![txn(0, true), txn(1, false), txn(2, true)];
    let mut agg = SecondAggregate::new(1_700_000_000);
    agg.add(100_000, false);
    write(config(&dir.0), &[batch(written.clone(), vec![agg.clone()])]);

    let reader = StoreReader::open(&dir.0).unwrap();
    assert_eq!(reader.segments().len(), 1);
    let mut records = reader.records();
    let all: Vec<StoredRecord> = records.by_ref().collect();
    assert!(records.issues().is_empty(), "{:?}", records.issues());
    assert!(!records.corrupt_tail());
    match &all[0] {
        StoredRecord::Resource(r) => assert_eq!(r.service_name, "shop"),
        other => panic!("segment must start with the resource: {other:?}"),
    }
    assert_eq!(all.last(), Some(&StoredRecord::Aggregate(agg)));

    let txns: Vec<StoredTransaction> = all
        .into_iter()
        .filter_map(StoredRecord::into_transaction)
        .collect();
    assert_eq!(txns.len(), 3);
    for (read, original) in txns.iter().zip(&written) {
        assert_eq!(read.record, *original);
        assert_eq!(read.resource.as_ref().unwrap().service_name, "shop");
        assert_eq!(
            read.endpoint(),
            &*osprey::names::resolve(original.name),
            "endpoint resolved"
        );
    }
    assert!(!txns[1].record.sampled && txns[1].record.steps.is_empty());
    let tree = &txns[0];
    assert_eq!(tree.name(tree.record.steps[0].name), "OrderService.load");
    assert_eq!(
        tree.name(tree.record.steps[1].name),
        "SELECT * FROM orders WHERE id = ?"
    );
    assert_eq!(
        tree.name(tree.record.steps[1].attributes[0].key),
        "db.system"
    );
    assert_eq!(tree.record.steps[1].parent, Some(0));
}

#[test]
fn torn_last_record_at_every_offset_keeps_earlier_records() {
    let dir = TempDir::new("store-torn");
    let written: Vec<_> = (0..3).map(|n| txn(n, true)).collect();
    write(config(&dir.0), &[batch(written.clone(), Vec::new())]);
    let last = txn_positions(&dir.0).pop().unwrap();
    let bytes = fs::read(&last.segment).unwrap();
    let name = last.segment.file_name().unwrap().to_owned();

    for cut in last.offset..bytes.len() as u64 {
        let copy = TempDir::new("store-torn-cut");
        fs::write(copy.0.join(&name), &bytes[..cut as usize]).unwrap();
        let (txns, issues) = StoreReader::open(&copy.0).unwrap().transactions();
        assert_eq!(txns.len(), 2, "cut at {cut}");
        assert_eq!(txns[0].record, written[0]);
        assert_eq!(txns[1].record, written[1]);
        if cut == last.offset {
            assert!(issues.is_empty(), "clean end at {cut}: {issues:?}");
        } else {
            assert_eq!(issues.len(), 1, "cut at {cut}: {issues:?}");
            assert_eq!(issues[0].problem, Problem::TornTail);
            assert_eq!(issues[0].position.offset, last.offset);
        }
    }
}

#[test]
fn corrupted_middle_byte_is_caught_by_the_checksum() {
    let dir = TempDir::new("store-crc");
    let written: Vec<_> = (0..3).map(|n| txn(n, true)).collect();
    write(config(&dir.0), &[batch(written.clone(), Vec::new())]);
    let middle = txn_positions(&dir.0)[1].clone();
    let mut bytes = fs::read(&middle.segment).unwrap();
    bytes[middle.offset as usize + 20] ^= 0x40;
    fs::write(&middle.segment, &bytes).unwrap();

    let (txns, issues) = StoreReader::open(&dir.0).unwrap().transactions();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].problem, Problem::BadChecksum);
    assert_eq!(issues[0].position, middle);
    assert_eq!(txns.len(), 2);
    assert_eq!(txns[0].record, written[0]);
    assert_eq!(txns[1].record, written[2]);
}

#[test]
fn segments_roll_by_size_and_oldest_are_deleted_past_max_bytes() {
    let dir = TempDir::new("store-roll");
    let cfg = StoreConfig {
        dir: dir.0.clone(),
        segment_bytes: 4096,
        max_bytes: 20_000,
    };
    let mut exporter = StoreExporter::new(cfg).unwrap();
    for b in 0..40u64 {
        let txns = (0..5).map(|i| txn(b * 5 + i, true)).collect();
        exporter.export(&batch(txns, Vec::new())).unwrap();
        assert!(exporter.total_bytes() <= 20_000 + 4096);
    }
    exporter.flush().unwrap();

    let reader = StoreReader::open(&dir.0).unwrap();
    let on_disk: u64 = reader
        .segments()
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(reader.segments().len() >= 3, "{:?}", reader.segments());
    assert!(on_disk <= 20_000, "{on_disk} bytes kept");
    for seg in &reader.segments()[..reader.segments().len() - 1] {
        let len = fs::metadata(seg).unwrap().len();
        assert!(
            (4096..4096 + 2048).contains(&len),
            "{} is {len} bytes",
            seg.display()
        );
    }

    let (txns, issues) = reader.transactions();
    assert!(issues.is_empty(), "{issues:?}");
    let got = seqs(&txns);
    assert_eq!(*got.last().unwrap(), 199, "newest kept");
    assert!(got[0] > 0, "oldest deleted");
    let expected: Vec<i64> = (got[0]..=199).collect();
    assert_eq!(got, expected, "what is kept is contiguous and in order");
}

#[test]
fn every_segment_defines_its_own_names() {
    let dir = TempDir::new("store-names");
    let cfg = StoreConfig {
        dir: dir.0.clone(),
        segment_bytes: 200,
        max_bytes: 1 << 30,
    };
    let batches: Vec<_> = (0..6)
        .map(|n| batch(vec![txn(n, true)], Vec::new()))
        .collect();
    write(cfg, &batches);
    let reader = StoreReader::open(&dir.0).unwrap();
    assert_eq!(reader.segments().len(), 6, "one transaction per segment");

    // Read each segment alone: the names resolve without its predecessors.
    for seg in reader.segments() {
        let alone = TempDir::new("store-names-one");
        fs::copy(seg, alone.0.join(seg.file_name().unwrap())).unwrap();
        let (txns, issues) = StoreReader::open(&alone.0).unwrap().transactions();
        assert!(issues.is_empty(), "{issues:?}");
        assert!(!txns.is_empty());
        for t in txns {
            assert!(t.endpoint().starts_with("GET /orders/"));
            assert_eq!(t.name(t.record.steps[0].name), "OrderService.load");
            assert_eq!(t.name(t.record.attributes[0].key), "http.request.method");
            assert_eq!(t.resource.as_ref().unwrap().service_name, "shop");
        }
    }
}

#[test]
fn one_large_batch_spans_several_writes_and_segments_and_reads_back_whole() {
    let dir = TempDir::new("store-large-batch");
    let cfg = StoreConfig {
        dir: dir.0.clone(),
        segment_bytes: 150_000,
        max_bytes: 1 << 30,
    };
    // Well past the writer's 64 KiB buffer and two segments' worth.
    let txns = (0..2_000).map(|n| {
        let mut t = txn(n % 200, true); // `txn` keeps n below 255
        t.attributes[1].value = (n as i64).into();
        t
    });
    let big = batch(txns.collect(), Vec::new());
    write(cfg, &[big]);
    let reader = StoreReader::open(&dir.0).unwrap();
    assert!(reader.segments().len() >= 3, "{:?}", reader.segments());
    let (txns, issues) = reader.transactions();
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(seqs(&txns), (0..2_000).collect::<Vec<i64>>());
    for t in &txns {
        assert!(t.endpoint().starts_with("GET /orders/"), "{}", t.endpoint());
        assert_eq!(
            t.name(t.record.steps[1].name),
            "SELECT * FROM orders WHERE id = ?"
        );
        assert_eq!(t.resource.as_ref().unwrap().service_name, "shop");
    }
}

#[test]
fn reopening_appends_new_segments_after_old_ones() {
    let dir = TempDir::new("store-reopen");
    write(config(&dir.0), &[batch(vec![txn(0, true)], Vec::new())]);
    write(config(&dir.0), &[batch(vec![txn(1, false)], Vec::new())]);
    fs::write(dir.0.join("README.txt"), "not a segment").unwrap();
    let reader = StoreReader::open(&dir.0).unwrap();
    assert_eq!(reader.segments().len(), 2);
    let (txns, issues) = reader.transactions();
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(seqs(&txns), vec![0, 1]);
}

#[test]
fn foreign_or_newer_files_are_reported_not_fatal() {
    let dir = TempDir::new("store-header");
    write(config(&dir.0), &[batch(vec![txn(0, true)], Vec::new())]);
    let good = StoreReader::open(&dir.0).unwrap().segments()[0].clone();
    let mut newer = fs::read(&good).unwrap();
    newer[8] = 99;
    fs::write(dir.0.join("seg-0000000000000001-0000000000.osp"), &newer).unwrap();
    fs::write(
        dir.0.join("seg-0000000000000002-0000000000.osp"),
        b"garbage!garbage!",
    )
    .unwrap();

    let (txns, issues) = StoreReader::open(&dir.0).unwrap().transactions();
    assert_eq!(txns.len(), 1);
    let problems: Vec<_> = issues.iter().map(|i| i.problem.clone()).collect();
    assert_eq!(
        problems,
        vec![Problem::UnsupportedVersion(99), Problem::BadHeader]
    );
}

#[test]
fn a_version_1_segment_written_before_metrics_existed_still_reads() {
    use osprey::export::store::format;
    let dir = TempDir::new("store-v1");
    // Byte for byte what version 1 wrote: header, names, resource,
    // transaction, aggregate (kinds 1 to 4 are unchanged in version 2).
    let t = txn(4, false);
    let mut bytes = format::FORMAT.header_of_version(1).to_vec();
    let names: Vec<(u32, String)> = [t.name]
        .into_iter()
        .chain(t.attributes.iter().map(|a| a.key))
        .map(|id| (id.0, osprey::names::resolve(id).to_string()))
        .collect();
    format::encode_record(format::KIND_NAMES, &names, &mut bytes).unwrap();
    let resource = Resource {
        service_name: "old".into(),
        attributes: Vec::new(),
    };
    format::encode_record(format::KIND_RESOURCE, &resource, &mut bytes).unwrap();
    let old = format::TransactionRecordV2::of(&t);
    format::encode_record(format::KIND_TRANSACTION_V2, &old, &mut bytes).unwrap();
    let mut agg = SecondAggregate::new(1_700_000_000);
    agg.add(5_000_000, false);
    format::encode_record(format::KIND_AGGREGATE, &agg, &mut bytes).unwrap();
    fs::write(dir.0.join(format::FORMAT.file_name(1, 0)), &bytes).unwrap();

    let reader = StoreReader::open(&dir.0).unwrap();
    let mut records = reader.records();
    let all: Vec<StoredRecord> = records.by_ref().collect();
    assert!(records.issues().is_empty(), "{:?}", records.issues());
    assert_eq!(all.len(), 3);
    let stored = all[1].clone().into_transaction().unwrap();
    assert_eq!(stored.endpoint(), "GET /orders/1");
    assert_eq!(stored.resource.as_ref().unwrap().service_name, "old");
    // Everything but the busy time, which version 1 did not carry.
    let without_busy = TransactionRecord {
        busy_ns: None,
        ..t.clone()
    };
    assert_eq!(stored.record, without_busy);
    assert!(matches!(&all[2], StoredRecord::Aggregate(a) if a.count == 1));
    assert!(reader.metrics().0.is_empty());
}
