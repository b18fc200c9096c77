//! The contract of [`Storage`], pinned on the embedded backend and driven
//! only through `&dyn Storage`, so the next backend can run the same
//! checks: what one append makes visible to every query, the live cursor,
//! trees and traces read back, aggregates, the server map, metric series,
//! instances, active services, status and retention. The ClickHouse
//! backend runs [`queries`] too (`clickhouse/tests.rs`).

use std::path::PathBuf;
use std::time::Duration;

use osprey::AttrValue;
use osprey::model::{SpanId, TraceId};

use super::embedded::EmbeddedStorage;
use super::*;
use crate::index::IndexConfig;
use crate::record::{Kind, MetricKind, MetricPoint, SpanRec};
use crate::store::StoreConfig;

pub(super) const S: u64 = 1_000_000_000;
pub(super) const MS: u64 = 1_000_000;

/// A fresh directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "osprey-storage-{name}-{}-{}",
            std::process::id(),
            crate::time::now_ms()
        ));
        let _ = std::fs::remove_dir_all(&p);
        Self(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Dir) -> EmbeddedStorage {
    let mut store = StoreConfig::new(&dir.0);
    store.max_age = Duration::from_secs(3_600);
    // A new segment for every append that comes a millisecond later, so
    // retention has closed segments to delete.
    store.segment_window = Duration::from_millis(1);
    EmbeddedStorage::open(store, IndexConfig::default()).expect("opens")
}

pub(super) fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    kind: Kind,
    name: &str,
    end_ns: u64,
) -> SpanRec {
    SpanRec {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([id; 8]),
        parent: parent.map(|p| SpanId([p; 8])),
        service: "shop".into(),
        name: name.into(),
        kind,
        flags: 0,
        start_ns: end_ns - 20 * MS,
        end_ns,
        error: false,
        status_message: String::new(),
        attributes: Vec::new(),
        exceptions: Vec::new(),
    }
}

pub(super) fn attr(s: &mut SpanRec, key: &str, value: AttrValue) {
    s.attributes.push((key.into(), value));
}

/// Trace 1: `GET /a` by user u1 calling redis; trace 2: `GET /b` failing
/// with HTTP 500 from 10.0.0.2, on instance i-1 of host h.
pub(super) fn request(second: u64) -> Vec<SpanRec> {
    let mut a = span(1, 1, None, Kind::Server, "GET /a", second * S + 100 * MS);
    attr(&mut a, "enduser.id", "u1".into());
    attr(&mut a, "http.response.status_code", AttrValue::Int(200));
    let mut call = span(1, 2, Some(1), Kind::Client, "GET", second * S + 90 * MS);
    call.start_ns = second * S + 85 * MS;
    attr(&mut call, "db.system", "redis".into());
    let mut b = span(2, 3, None, Kind::Server, "GET /b", second * S + 300 * MS);
    attr(&mut b, "client.address", "10.0.0.2".into());
    attr(&mut b, "http.response.status_code", AttrValue::Int(500));
    attr(&mut b, "service.instance.id", "i-1".into());
    attr(&mut b, "host.name", "h".into());
    vec![a, call, b]
}

pub(super) fn gauge(time_ns: u64, value: f64) -> MetricPoint {
    MetricPoint {
        service: "shop".into(),
        name: "jvm.threads".into(),
        unit: "{thread}".into(),
        kind: MetricKind::Gauge,
        attributes: String::new(),
        time_ns,
        value,
        count: 0,
        instance: String::new(),
        host: String::new(),
    }
}

fn endpoints(page: &TxnPage) -> Vec<&str> {
    page.transactions.iter().map(|t| &*t.endpoint).collect()
}

#[test]
fn one_append_is_visible_to_every_query_through_the_trait() {
    let dir = Dir::new("contract");
    let backend = open(&dir);
    let s: &dyn Storage = &backend;
    assert_eq!(s.backend(), "segment-log");
    let second = crate::time::now_ms() / 1_000 - 10;

    let ack = s
        .append(IngestBatch {
            spans: request(second),
            metrics: vec![gauge(second * S, 12.0)],
        })
        .unwrap();
    assert_eq!(
        ack,
        AppendAck {
            records: 2,
            spans: 3,
            metric_points: 1
        },
        "one record for the spans (both traces) and one for the metrics"
    );
    assert_eq!(s.append(IngestBatch::default()).unwrap().records, 0);

    // Active services: the latest report per service, and every report
    // kept for replay.
    let report = |n: usize| ActiveReport {
        service: "shop".into(),
        received_ms: 7,
        transactions: (0..n)
            .map(|i| ActiveTxn {
                endpoint: format!("GET /{i}"),
                elapsed_ms: 1.0,
                thread: String::new(),
                trace_id: None,
                stack: None,
            })
            .collect(),
    };
    s.report_active(report(2)).unwrap();
    s.report_active(report(1)).unwrap();
    assert_eq!(s.active().unwrap(), vec![report(1)]);
    assert_eq!(s.active_at(0).unwrap(), vec![report(1)], "received at 7 ms");
    assert!(
        s.active_at(100).unwrap().is_empty(),
        "too old to be in force"
    );

    let st = s.status();
    assert_eq!(st.records_written, 4, "2 + one per active report");
    assert_eq!((st.index.transactions, st.index.spans_indexed), (2, 3));
    assert_eq!(
        st.store_bytes,
        st.segments.iter().map(|x| x.bytes).sum::<u64>(),
        "nothing sealed yet"
    );
    assert!(st.issues.is_empty());

    // The same answers from each tier: in memory, sealed to disk, and
    // after a restart that reads only the index headers.
    queries(s, second);
    assert_eq!(s.active_at(0).unwrap(), vec![report(1)]);
    assert!(backend.seal_all().unwrap() >= 1);
    assert!(s.status().index.hot_segments == 0, "everything sealed");
    queries(s, second);
    assert_eq!(s.active_at(0).unwrap(), vec![report(1)]);
    assert_eq!(s.status().index.transactions, 2);
    drop(backend);
    let backend = open(&dir);
    let s: &dyn Storage = &backend;
    assert!(
        s.status().index.hot_segments == 0,
        "restart replays nothing"
    );
    queries(s, second);
    assert_eq!(s.active_at(0).unwrap(), vec![report(1)]);
    assert!(s.status().issues.is_empty());
}

/// Every query of [`one_append_is_visible_to_every_query_through_the_trait`].
pub(super) fn queries(s: &dyn Storage, second: u64) {
    // Filters, newest first, and the live cursor.
    let all = s.transactions(&TxnFilter::default(), 10).unwrap();
    assert_eq!(endpoints(&all), ["GET /b", "GET /a"]);
    // The embedded backend numbers from 1; others (ClickHouse) by time.
    let (seq_a, seq_b) = (all.transactions[1].seq, all.transactions[0].seq);
    if s.backend() == "segment-log" {
        assert_eq!((seq_a, seq_b), (1, 2));
    }
    assert!(seq_a < seq_b);
    assert_eq!(all.cursor, seq_b);
    let errors = TxnFilter {
        error_only: true,
        ..TxnFilter::default()
    };
    let failed = s.transactions(&errors, 10).unwrap();
    assert_eq!(endpoints(&failed), ["GET /b"]);
    let b = &failed.transactions[0];
    assert_eq!(
        (b.http_status, b.client_ip.as_deref(), b.instance.as_deref()),
        (500, Some("10.0.0.2"), Some("i-1"))
    );
    let by_user = TxnFilter {
        user: Some("u1".into()),
        from_ns: Some(second * S),
        to_ns: Some((second + 1) * S),
        ..TxnFilter::default()
    };
    assert_eq!(
        endpoints(&s.transactions(&by_user, 10).unwrap()),
        ["GET /a"]
    );
    assert_eq!(
        s.transactions(&TxnFilter::default(), 1)
            .unwrap()
            .transactions
            .len(),
        1
    );
    let later = TxnFilter {
        from_ns: Some((second + 1) * S),
        ..TxnFilter::default()
    };
    assert!(s.transactions(&later, 10).unwrap().transactions.is_empty());

    let tail = s.since(seq_a, 10).unwrap();
    assert_eq!((endpoints(&tail), tail.cursor), (vec!["GET /b"], seq_b));
    assert!(s.since(tail.cursor, 10).unwrap().transactions.is_empty());

    // A transaction, its trace, and a tree built from what was read back.
    let a = s.transaction(SpanId([1; 8])).unwrap().expect("indexed");
    assert_eq!((&*a.endpoint, a.user.as_deref()), ("GET /a", Some("u1")));
    assert!(
        s.transaction(SpanId([2; 8])).unwrap().is_none(),
        "not a root"
    );
    assert!(s.transaction(SpanId([9; 8])).unwrap().is_none());
    let of_trace = s.trace_transactions(TraceId([1; 16])).unwrap();
    assert_eq!(of_trace, vec![a.clone()]);
    assert!(s.trace_transactions(TraceId([9; 16])).unwrap().is_empty());
    let spans = s.trace_spans(TraceId([1; 16])).unwrap();
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|x| x.trace_id == TraceId([1; 16])));
    let tree = crate::tree::build(a.to_json(), &spans);
    assert_eq!(tree.steps.len(), 1);
    assert_eq!(tree.steps[0].span_id, SpanId([2; 8]).to_hex());

    // Aggregates, server map, metrics, instances.
    let stats = s.seconds(second, second, 60).unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (stats[0].second, stats[0].count, stats[0].errors),
        (second, 2, 1)
    );
    assert_eq!(stats[0].concurrent_users, 2, "u1 and 10.0.0.2");
    let edges = s.server_map(0, u64::MAX).unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(
        (
            edges[0].caller.as_str(),
            edges[0].callee.as_str(),
            edges[0].count
        ),
        ("shop", "redis", 1)
    );
    assert!(s.server_map(0, second * S).unwrap().is_empty());
    let series = s.series(&SeriesQuery::default()).unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].points, vec![(second * 1_000, 12.0, 0)]);
    let instances = s.instances(Some("shop")).unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(
        (instances[0].instance.as_str(), instances[0].host.as_deref()),
        ("i-1", Some("h"))
    );
    assert!(s.instances(Some("other")).unwrap().is_empty());
}

#[test]
fn retention_forgets_old_transactions_then_deletes_closed_segments() {
    let dir = Dir::new("retention");
    let backend = open(&dir);
    let s: &dyn Storage = &backend;
    let now_s = crate::time::now_ms() / 1_000;
    s.append(IngestBatch {
        spans: request(now_s - 7_200),
        metrics: Vec::new(),
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut fresh = span(3, 4, None, Kind::Server, "GET /new", now_s * S);
    fresh.service = "shop".into();
    s.append(IngestBatch {
        spans: vec![fresh],
        metrics: Vec::new(),
    })
    .unwrap();
    assert_eq!(
        s.transactions(&TxnFilter::default(), 10)
            .unwrap()
            .transactions
            .len(),
        3
    );

    let report = s.apply_retention(crate::time::now_ms()).unwrap();
    assert_eq!(
        report.partitions_removed, 0,
        "the segments were written now"
    );
    let left = s.transactions(&TxnFilter::default(), 10).unwrap();
    assert_eq!(
        endpoints(&left),
        ["GET /new"],
        "ended two hours ago: forgotten"
    );
    assert!(s.server_map(0, u64::MAX).unwrap().is_empty());
    let segments = s.status().segments.len();
    assert!(segments >= 2, "{segments}");

    let report = s
        .apply_retention(crate::time::now_ms() + 7_200_000)
        .unwrap();
    assert_eq!(
        report.partitions_removed,
        segments as u64 - 1,
        "every closed segment; the open one stays"
    );
    assert_eq!(s.status().segments.len(), 1);
    assert!(
        s.transactions(&TxnFilter::default(), 10)
            .unwrap()
            .transactions
            .is_empty()
    );
    assert!(s.trace_spans(TraceId([1; 16])).unwrap().is_empty());
}

#[test]
fn errors_name_their_http_status_and_io_errors_read_as_themselves() {
    let io = StorageError::from(std::io::Error::other("disk full"));
    assert_eq!(
        io.to_string(),
        "disk full",
        "ingest answers quote it as before"
    );
    assert!(std::error::Error::source(&io).is_some());
    let status = |e: StorageError| e.http_status();
    assert_eq!(status(io), 500);
    assert_eq!(status(StorageError::Corrupt { what: "x".into() }), 500);
    assert_eq!(status(StorageError::InvalidQuery("x".into())), 400);
    assert_eq!(status(StorageError::Unavailable("x".into())), 503);
    assert_eq!(status(StorageError::Unsupported("x")), 501);
}

#[test]
fn segments_deleted_while_rolling_leave_no_index_or_answer_behind() {
    let dir = Dir::new("roll-retention");
    let mut store = StoreConfig::new(&dir.0);
    store.segment_window = Duration::from_millis(1);
    // Every closed segment is over the size budget: the store deletes it
    // as soon as it rolls to the next one.
    store.max_bytes = 1;
    let backend = EmbeddedStorage::open(store, IndexConfig::default()).expect("opens");
    let s: &dyn Storage = &backend;
    let second = crate::time::now_ms() / 1_000 - 10;
    s.append(IngestBatch {
        spans: request(second),
        metrics: Vec::new(),
    })
    .unwrap();
    assert_eq!(backend.seal_all().unwrap(), 1);
    let indexes = || {
        std::fs::read_dir(&dir.0)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy()
                    .ends_with(super::disk::sealed::SUFFIX)
            })
            .count()
    };
    assert_eq!(indexes(), 1);
    std::thread::sleep(Duration::from_millis(5));
    let mut fresh = span(3, 4, None, Kind::Server, "GET /new", second * S);
    fresh.service = "shop".into();
    s.append(IngestBatch {
        spans: vec![fresh],
        metrics: Vec::new(),
    })
    .unwrap();
    let report = s.apply_retention(crate::time::now_ms()).unwrap();
    assert_eq!(report.partitions_removed, 1, "the segment the roll deleted");
    assert_eq!(indexes(), 0, "its index went with it");
    let left = s.transactions(&TxnFilter::default(), 10).unwrap();
    assert_eq!(endpoints(&left), ["GET /new"]);
}

/// Two processes of one service sending the same metric: each point keeps
/// its `service.instance.id` and `host.name`, the series stay apart and a
/// query can ask for one instance — in memory, sealed, and after a restart.
#[test]
fn metric_points_keep_their_instance_in_every_tier() {
    let dir = Dir::new("metric-instance");
    let backend = open(&dir);
    let second = crate::time::now_ms() / 1_000 - 10;
    let point = |instance: &str, host: &str, at: u64, value: f64| MetricPoint {
        instance: instance.into(),
        host: host.into(),
        ..gauge(at, value)
    };
    let s: &dyn Storage = &backend;
    s.append(IngestBatch {
        spans: Vec::new(),
        metrics: vec![
            point("shop-a", "h1", second * S, 1.0),
            point("shop-b", "h2", second * S, 2.0),
            point("shop-a", "h1", second * S + 500 * MS, 3.0),
            point("", "", second * S, 4.0),
        ],
    })
    .unwrap();
    let check = |s: &dyn Storage| {
        let all = s.series(&SeriesQuery::default()).unwrap();
        let got: Vec<(&str, &str, Vec<f64>)> = all
            .iter()
            .map(|x| {
                (
                    x.instance.as_str(),
                    x.host.as_str(),
                    x.points.iter().map(|p| p.1).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("", "", vec![4.0]),
                ("shop-a", "h1", vec![1.0, 3.0]),
                ("shop-b", "h2", vec![2.0]),
            ]
        );
        let one = s
            .series(&SeriesQuery {
                instance: Some("shop-b".into()),
                latest_only: true,
                ..SeriesQuery::default()
            })
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].host.as_str(), one[0].points[0].1), ("h2", 2.0));
    };
    check(s);
    assert!(backend.seal_all().unwrap() >= 1);
    check(s);
    drop(backend);
    let backend = open(&dir);
    check(&backend);
}
