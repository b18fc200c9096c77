//! The payload codec: every field through kind 30, version-1 bincode
//! payloads and segments still read, corrupt and oversized bodies refused.

use std::io::Write;

use osprey::model::{AttrValue, SpanId, TraceId};

use super::*;
use crate::record::{Exception, Kind, MetricKind, MetricPoint, SpanRec};
use crate::storage::{ActiveReport, ActiveTxn};

fn framed(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    encode_batch(batch, &mut out).unwrap();
    out
}

/// The payload of the single frame in `out` (after length and CRC).
fn payload(out: &[u8]) -> &[u8] {
    let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
    assert_eq!(out.len(), seglog::FRAME_HEADER_LEN as usize + len);
    let crc = u32::from_le_bytes(out[4..8].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&out[8..]));
    &out[8..]
}

fn round_trip(batch: &Batch) -> Batch {
    let out = framed(batch);
    let p = payload(&out);
    assert_eq!(p[0], KIND_STORED);
    decode_payload(p).unwrap()
}

fn span(n: u8) -> SpanRec {
    SpanRec {
        trace_id: TraceId([n; 16]),
        span_id: SpanId([n, 2, 3, 4, 5, 6, 7, 8]),
        parent: Some(SpanId([0xff; 8])),
        service: "shop".into(),
        name: "GET /orders/{id}".into(),
        kind: Kind::Server,
        flags: FLAG_BOTH,
        start_ns: 1_764_000_000_123_456_789,
        end_ns: 1_764_000_000_223_456_789,
        error: true,
        status_message: "boom: ünïcode ✓".into(),
        attributes: vec![
            ("s".into(), AttrValue::Str("text".into())),
            ("empty".into(), AttrValue::Str(String::new())),
            (String::new(), AttrValue::Str("empty key".into())),
            ("i.min".into(), AttrValue::Int(i64::MIN)),
            ("i.max".into(), AttrValue::Int(i64::MAX)),
            ("i.neg".into(), AttrValue::Int(-1)),
            ("f".into(), AttrValue::Float(-0.5)),
            ("f.inf".into(), AttrValue::Float(f64::INFINITY)),
            ("f.max".into(), AttrValue::Float(f64::MAX)),
            ("f.tiny".into(), AttrValue::Float(f64::MIN_POSITIVE)),
            ("b.t".into(), AttrValue::Bool(true)),
            ("b.f".into(), AttrValue::Bool(false)),
            // Duplicate keys keep their order.
            ("s".into(), AttrValue::Str("again".into())),
        ],
        exceptions: vec![
            Exception {
                kind: "java.sql.SQLException".into(),
                message: "deadlock".into(),
                stack: "at a.B.c(B.java:1)\n\tat d.E.f(E.java:2)".into(),
            },
            Exception::default(),
        ],
    }
}

const FLAG_BOTH: u32 = crate::record::FLAG_HAS_IS_REMOTE | crate::record::FLAG_IS_REMOTE;

#[test]
fn every_span_field_round_trips() {
    let mut spans = vec![span(1)];
    // Edge values: no parent, zero ids, every kind, extreme and inverted times.
    for (i, kind) in [
        Kind::Unspecified,
        Kind::Internal,
        Kind::Client,
        Kind::Producer,
        Kind::Consumer,
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = span(i as u8 + 2);
        s.kind = kind;
        s.parent = None;
        s.attributes.clear();
        s.exceptions.clear();
        s.service.clear();
        s.name.clear();
        s.status_message.clear();
        s.error = false;
        s.flags = u32::MAX;
        spans.push(s);
    }
    let times = [
        (0, 0),
        (0, u64::MAX),
        (u64::MAX, u64::MAX),
        (u64::MAX, 0),
        (5, 4),
        (1, 1 << 63),
    ];
    for (i, (start, end)) in times.into_iter().enumerate() {
        let mut s = span(i as u8 + 10);
        s.start_ns = start;
        s.end_ns = end;
        s.span_id = SpanId([0; 8]);
        s.parent = Some(SpanId([0; 8]));
        spans.push(s);
    }
    let batch = Batch::Spans(spans);
    assert_eq!(round_trip(&batch), batch);
}

#[test]
fn metrics_and_active_reports_round_trip() {
    let metrics = Batch::Metrics(vec![
        MetricPoint {
            service: "shop".into(),
            name: "jvm.memory.used".into(),
            unit: "By".into(),
            kind: MetricKind::Gauge,
            attributes: "area=heap,pool=G1 Eden".into(),
            time_ns: u64::MAX,
            value: 1.5e9,
            count: 0,
            instance: "shop-7f3a".into(),
            host: "web-1".into(),
        },
        MetricPoint {
            service: String::new(),
            name: "http.server.duration".into(),
            unit: String::new(),
            kind: MetricKind::Histogram,
            attributes: String::new(),
            time_ns: 0,
            value: -0.0,
            count: u64::MAX,
            instance: String::new(),
            host: String::new(),
        },
        MetricPoint {
            service: "s".into(),
            name: "requests".into(),
            unit: "1".into(),
            kind: MetricKind::Sum,
            attributes: "a=b".into(),
            time_ns: 1,
            value: f64::NEG_INFINITY,
            count: 7,
            instance: "s-1".into(),
            host: String::new(),
        },
    ]);
    assert_eq!(round_trip(&metrics), metrics);

    let active = Batch::Active(ActiveReport {
        service: "shop".into(),
        received_ms: u64::MAX,
        transactions: vec![
            ActiveTxn {
                endpoint: "GET /slow".into(),
                elapsed_ms: 1234.5,
                thread: "http-nio-8080-exec-3".into(),
                trace_id: Some("0af7651916cd43dd8448eb211c80319c".into()),
                stack: Some("java.lang.Thread.sleep(Native Method)\n".into()),
            },
            ActiveTxn {
                endpoint: String::new(),
                elapsed_ms: 0.0,
                thread: String::new(),
                trace_id: Some(String::new()),
                stack: None,
            },
        ],
    });
    assert_eq!(round_trip(&active), active);
    let idle = Batch::Active(ActiveReport {
        service: "idle".into(),
        received_ms: 0,
        transactions: vec![],
    });
    assert_eq!(round_trip(&idle), idle, "an empty report is still a report");
    assert_eq!(round_trip(&Batch::Spans(vec![])), Batch::Spans(vec![]));
}

#[test]
fn version_1_bincode_payloads_still_decode() {
    let spans = Batch::Spans(vec![span(1), span(2)]);
    let metrics = Batch::Metrics(vec![MetricPoint {
        service: "s".into(),
        name: "m".into(),
        unit: "1".into(),
        kind: MetricKind::Sum,
        attributes: String::new(),
        time_ns: 9,
        value: 2.0,
        count: 0,
        instance: String::new(),
        host: String::new(),
    }]);
    // Exactly what the version-1 writer did.
    for (kind, batch) in [(KIND_SPANS, &spans), (KIND_METRICS, &metrics)] {
        let mut out = Vec::new();
        format::encode_record(kind, batch, &mut out).unwrap();
        assert_eq!(decode_payload(payload(&out)).unwrap(), *batch);
    }
    assert!(
        decode_payload(&[99, 1])
            .unwrap_err()
            .contains("unknown record kind")
    );
    assert!(decode_payload(&[]).is_err());
}

#[test]
fn a_version_1_segment_is_scanned_and_a_version_3_one_skipped() {
    let dir = std::env::temp_dir().join(format!("osprey-schema-v1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let batch = Batch::Spans(vec![span(3)]);
    let mut frames = Vec::new();
    format::encode_record(KIND_SPANS, &batch, &mut frames).unwrap();
    let new_frame = framed(&batch);
    frames.extend_from_slice(&new_frame);
    for (version, expect) in [(1, 2usize), (2, 2), (3, 0)] {
        let path = dir.join(FORMAT.file_name(1, u64::from(version)));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&FORMAT.header_of_version(version)).unwrap();
        f.write_all(&frames).unwrap();
        drop(f);
        let mut read = Vec::new();
        let issues = scan_segment(&path, |fr| read.push(decode_payload(&fr.payload).unwrap()));
        assert_eq!(read.len(), expect, "version {version}: {issues:?}");
        assert!(read.iter().all(|b| *b == batch));
        if version == 3 {
            assert!(
                issues[0].problem.contains("unsupported version 3"),
                "{issues:?}"
            );
        } else {
            assert!(issues.is_empty(), "{issues:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_or_truncated_zstd_bodies_are_errors() {
    let out = framed(&Batch::Spans(vec![span(1), span(2)]));
    let p = payload(&out).to_vec();
    for cut in 1..p.len() {
        assert!(
            decode_payload(&p[..cut]).is_err(),
            "cut at {cut} of {}",
            p.len()
        );
    }
    // Flipped bytes (the frame CRC catches them on disk; here it is
    // bypassed): an error, or a batch with altered text, never a panic.
    for i in 1..p.len() {
        let mut bad = p.clone();
        bad[i] ^= 0x5a;
        let _ = decode_payload(&bad);
    }
    assert!(decode_payload(&[KIND_STORED]).is_err());
    assert!(decode_payload(&[KIND_STORED, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    // A valid zstd frame whose content is not a StoredRecord.
    let mut junk = vec![KIND_STORED];
    junk.extend(zstd::bulk::compress(&[0xff; 64], 3).unwrap());
    assert!(decode_payload(&junk).unwrap_err().contains("undecodable"));
}

#[test]
fn a_record_mixing_kinds_is_refused() {
    let mut record = StoredRecord::from(&Batch::Spans(vec![span(1)]));
    record.metrics.push(schema::StoredMetric::default());
    let mut p = vec![KIND_STORED];
    p.extend(zstd::bulk::compress(&record.encode_to_vec(), 3).unwrap());
    assert!(
        decode_payload(&p)
            .unwrap_err()
            .contains("expected one kind")
    );
    let mut bad_trace = StoredRecord::from(&Batch::Spans(vec![span(1)]));
    bad_trace.spans[0].trace_id.pop();
    let mut p = vec![KIND_STORED];
    p.extend(zstd::bulk::compress(&bad_trace.encode_to_vec(), 3).unwrap());
    assert!(
        decode_payload(&p)
            .unwrap_err()
            .contains("trace id of 15 bytes")
    );
}

#[test]
fn an_unknown_attribute_value_type_drops_only_that_attribute() {
    // A newer writer's value type (tag 6, say bytes) reads as no value.
    let mut record = StoredRecord::from(&Batch::Spans(vec![span(1)]));
    record.spans[0].attributes[0].value = None;
    let mut p = vec![KIND_STORED];
    p.extend(zstd::bulk::compress(&record.encode_to_vec(), 3).unwrap());
    let Batch::Spans(read) = decode_payload(&p).unwrap() else {
        panic!("spans")
    };
    let mut want = span(1);
    want.attributes.remove(0);
    assert_eq!(read, vec![want]);
}

#[test]
fn a_zstd_bomb_is_refused_before_allocating() {
    // Declares (and holds) 257 MiB of zeros in a few KiB.
    let size = MAX_DECODED_BYTES as u64 + (1 << 20);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    enc.set_pledged_src_size(Some(size)).unwrap();
    enc.include_contentsize(true).unwrap();
    std::io::copy(&mut std::io::repeat(0).take(size), &mut enc).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let mut p = vec![KIND_STORED];
    p.extend_from_slice(&bomb);
    let err = decode_payload(&p).unwrap_err();
    assert!(err.contains("exceeds"), "{err}");
}

use std::io::Read as _;

#[test]
fn frames_without_a_declared_size_are_cut_off_at_the_cap() {
    let cap = 1 << 20;
    let stream = |n: usize| {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&vec![7u8; n]).unwrap();
        enc.finish().unwrap()
    };
    let small = stream(1000);
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&small).unwrap(),
        None
    );
    assert_eq!(
        compress::decompress_capped(&small, cap).unwrap(),
        vec![7u8; 1000]
    );
    assert_eq!(
        compress::decompress_capped(&stream(cap), cap)
            .unwrap()
            .len(),
        cap
    );
    let err = compress::decompress_capped(&stream(cap + 1), cap).unwrap_err();
    assert!(err.contains("exceeds"), "{err}");
    // A first frame declaring a small size followed by a large one.
    let mut two = zstd::bulk::compress(&[1u8; 10], 3).unwrap();
    two.extend(zstd::bulk::compress(&vec![2u8; 4096], 3).unwrap());
    assert!(compress::decompress_capped(&two, cap).is_err());
}

/// One servlet request of a Spring-petclinic-like app: a SERVER root with
/// the HTTP attributes an agent sets, controller and service steps, three
/// JDBC statements and an outgoing HTTP call (9 spans, one record).
fn servlet_trace(n: u64) -> Vec<SpanRec> {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    trace[8..].copy_from_slice(
        &(n ^ 0x5bd1_e995)
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .to_be_bytes(),
    );
    let id = |k: u64| SpanId((n.wrapping_mul(0xc4ce_b9fe_1a85_ec53) ^ k).to_be_bytes());
    let start = 1_764_000_000_000_000_000 + n * 3_137_000;
    let elapsed = 3_000_000 + (n * 7_919 % 400) * 100_000;
    let str_attr = |k: &str, v: String| (k.to_owned(), AttrValue::Str(v));
    let mk = |k: u64, parent: Option<u64>, name: &str, kind: Kind, off: u64, dur: u64| SpanRec {
        trace_id: TraceId(trace),
        span_id: id(k),
        parent: parent.map(id),
        service: "petclinic".into(),
        name: name.into(),
        kind,
        flags: 0x100,
        start_ns: start + off,
        end_ns: start + off + dur,
        error: false,
        status_message: String::new(),
        attributes: vec![],
        exceptions: vec![],
    };
    let owner = n % 10_000;
    let mut root = mk(1, None, "GET /owners/{ownerId}", Kind::Server, 0, elapsed);
    root.attributes = vec![
        str_attr("http.request.method", "GET".into()),
        str_attr("url.path", format!("/owners/{owner}")),
        str_attr("http.route", "/owners/{ownerId}".into()),
        str_attr("url.scheme", "http".into()),
        str_attr("server.address", "petclinic.internal".into()),
        ("server.port".into(), AttrValue::Int(8080)),
        str_attr("client.address", format!("10.1.{}.{}", n % 13, n % 251)),
        str_attr(
            "user_agent.original",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36".into(),
        ),
        ("http.response.status_code".into(), AttrValue::Int(200)),
        str_attr("enduser.id", format!("user{}", n % 5_000)),
        str_attr("thread.name", format!("http-nio-8080-exec-{}", n % 200)),
        ("thread.id".into(), AttrValue::Int(40 + (n % 200) as i64)),
    ];
    let mut ctl = mk(
        2,
        Some(1),
        "OwnerController.showOwner",
        Kind::Internal,
        50_000,
        elapsed - 100_000,
    );
    ctl.attributes = vec![
        str_attr(
            "code.namespace",
            "org.springframework.samples.petclinic.owner.OwnerController".into(),
        ),
        str_attr("code.function", "showOwner".into()),
    ];
    let svc = mk(
        3,
        Some(2),
        "OwnerRepository.findById",
        Kind::Internal,
        80_000,
        elapsed / 2,
    );
    let sql = |k: u64, off: u64, text: &str, op: &str| {
        let mut s = mk(
            k,
            Some(3),
            &format!("{op} petclinic"),
            Kind::Client,
            off,
            elapsed / 8,
        );
        s.attributes = vec![
            str_attr("db.system", "mysql".into()),
            str_attr("db.namespace", "petclinic".into()),
            str_attr("db.operation.name", op.into()),
            str_attr("db.query.text", text.into()),
            str_attr("server.address", "mysql.internal".into()),
            ("server.port".into(), AttrValue::Int(3306)),
        ];
        s
    };
    let mut spans = vec![
        root,
        ctl,
        svc,
        sql(
            4,
            100_000,
            "SELECT DISTINCT owner.id, owner.first_name, owner.last_name, owner.address, owner.city, owner.telephone FROM owners owner LEFT JOIN pets pet ON owner.id = pet.owner_id WHERE owner.id = ?",
            "SELECT",
        ),
        sql(
            5,
            100_000 + elapsed / 8,
            "SELECT pet.id, pet.name, pet.birth_date, pet.type_id, pet.owner_id FROM pets pet WHERE pet.owner_id = ? ORDER BY pet.name",
            "SELECT",
        ),
        sql(
            6,
            100_000 + elapsed / 4,
            "SELECT visit.id, visit.pet_id, visit.visit_date, visit.description FROM visits visit WHERE visit.pet_id IN (?, ?, ?)",
            "SELECT",
        ),
        mk(
            7,
            Some(2),
            "OwnerController.render",
            Kind::Internal,
            elapsed / 2 + 200_000,
            elapsed / 4,
        ),
    ];
    let mut http = mk(
        8,
        Some(2),
        "GET",
        Kind::Client,
        elapsed * 3 / 4 + 300_000,
        elapsed / 8,
    );
    http.attributes = vec![
        str_attr("http.request.method", "GET".into()),
        str_attr(
            "url.full",
            format!("http://vets-service:8080/vets?owner={owner}"),
        ),
        str_attr("server.address", "vets-service".into()),
        ("server.port".into(), AttrValue::Int(8080)),
        ("http.response.status_code".into(), AttrValue::Int(200)),
    ];
    spans.push(http);
    let mut render = mk(
        9,
        Some(7),
        "thymeleaf owners/ownerDetails",
        Kind::Internal,
        elapsed / 2 + 250_000,
        elapsed / 5,
    );
    render.attributes = vec![str_attr("template", "owners/ownerDetails".into())];
    spans.push(render);
    if n.is_multiple_of(50) {
        spans[0].error = true;
        spans[0].status_message = "java.lang.IllegalStateException: owner not found".into();
        spans[0].exceptions = vec![Exception {
            kind: "java.lang.IllegalStateException".into(),
            message: "owner not found".into(),
            stack: "java.lang.IllegalStateException: owner not found\n\tat org.springframework.samples.petclinic.owner.OwnerController.showOwner(OwnerController.java:167)\n\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)".into(),
        }];
    }
    spans
}

/// Stored bytes per span (frames included) of `traces`, one record per
/// trace as the embedded store writes them: `(version 1 bincode, kind 30)`.
fn bytes_per_span(traces: &[Vec<SpanRec>]) -> (f64, f64) {
    let (mut old, mut new, mut spans) = (Vec::new(), Vec::new(), 0);
    for t in traces {
        spans += t.len();
        let batch = Batch::Spans(t.clone());
        format::encode_record(KIND_SPANS, &batch, &mut old).unwrap();
        encode_batch(&batch, &mut new).unwrap();
    }
    let mut at = 0;
    let mut read = Vec::new();
    while at < new.len() {
        let len = u32::from_le_bytes(new[at..at + 4].try_into().unwrap()) as usize;
        read.push(decode_payload(&new[at + 8..at + 8 + len]).unwrap());
        at += 8 + len;
    }
    let written: Vec<Batch> = traces.iter().cloned().map(Batch::Spans).collect();
    assert_eq!(read, written, "the measured records read back");
    (
        old.len() as f64 / spans as f64,
        new.len() as f64 / spans as f64,
    )
}

#[test]
fn compressed_records_are_much_smaller_than_bincode_on_a_servlet_trace() {
    let traces: Vec<Vec<SpanRec>> = (0..500).map(servlet_trace).collect();
    let (old, new) = bytes_per_span(&traces);
    println!(
        "servlet-like trace (9 spans/record): bincode v1 {old:.1} B/span, kind 30 {new:.1} B/span"
    );
    assert!(
        new < old * 0.6,
        "bincode {old:.1} B/span, kind 30 {new:.1} B/span"
    );
}

#[test]
fn segments_keep_the_bytes_and_names_of_earlier_servers() {
    assert_eq!(FORMAT.header(), *b"OSPRYSRV\x02\0\0\0");
    assert_eq!(FORMAT.header_of_version(1), *b"OSPRYSRV\x01\0\0\0");
    assert_eq!(
        FORMAT.file_name(1_764_000_000_000, 7),
        "srv-0001764000000000-0000000007.oss"
    );
    assert_eq!(
        FORMAT.parse_file_name("seg-0000000000000001-0000000000.osp"),
        None
    );
}
