//! The OTLP exporter's traces encoder: the cost and wire size of a summary
//! span (a transaction whose call tree was not kept, sent root-only with
//! `otlp.summaries`) against a kept tree of the same request with its two
//! SQL steps. A batch of 512 transactions as the Tomcat demo's
//! `GET /hello` produces them (HTTP attributes, client address, user, SQL
//! count and time, CPU time, thread).
//!
//! `cargo bench -p osprey-benches --bench otlp_encode`

use std::hint::black_box;
use std::sync::Arc;

use divan::counter::ItemsCount;
use divan::{AllocProfiler, Bencher};
use osprey::export::otlp::BenchEncoder;
use osprey::model::{
    AttrValue, Attribute, ExportBatch, Resource, SpanId, SpanKind, StepKind, StepRecord, TraceId,
    TransactionRecord,
};
use osprey::names::intern;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const BATCH: usize = 512;

fn attr(key: &str, value: AttrValue) -> Attribute {
    Attribute {
        key: intern(key),
        value,
    }
}

fn sql(id: u64, offset_ns: u64) -> StepRecord {
    StepRecord {
        span_id: SpanId(id.to_le_bytes()),
        parent: None,
        depth: 1,
        kind: StepKind::Sql,
        name: intern("SELECT name FROM item WHERE id = ?"),
        start_offset_ns: offset_ns,
        elapsed_ns: 40_000,
        busy_ns: None,
        error: None,
        attributes: vec![attr("db.system", AttrValue::from("h2"))],
        repaired: false,
    }
}

/// `BATCH` transactions of `GET /hello`; with `tree`, each keeps its two
/// SQL steps, otherwise none does (summaries).
fn batch(tree: bool) -> ExportBatch {
    let transactions = (0..BATCH as u64)
        .map(|i| TransactionRecord {
            trace_id: TraceId([(i % 251) as u8 + 1; 16]),
            span_id: SpanId((i + 1).to_le_bytes()),
            parent_span_id: None,
            kind: SpanKind::Server,
            name: intern("GET /hello"),
            start_unix_ns: 1_700_000_000_000_000_000 + i * 100_000,
            elapsed_ns: 180_000,
            busy_ns: None,
            error: None,
            attributes: vec![
                attr("http.request.method", AttrValue::from("GET")),
                attr("url.path", AttrValue::from("/hello")),
                attr("http.response.status_code", AttrValue::Int(200)),
                attr("client.address", AttrValue::from("127.0.0.1")),
                attr("user.id", AttrValue::from("3f1b9c20aa51")),
                attr("osprey.sql.count", AttrValue::Int(2)),
                attr("osprey.sql.time_ms", AttrValue::Float(0.08)),
                attr("osprey.cpu_time_ms", AttrValue::Float(0.12)),
            ],
            steps: if tree {
                vec![sql(i * 2 + 10_000, 20_000), sql(i * 2 + 10_001, 90_000)]
            } else {
                Vec::new()
            },
            dropped_steps: 0,
            repaired: false,
            sampled: tree,
            thread_id: 31,
        })
        .collect();
    ExportBatch {
        resource: Arc::new(Resource {
            service_name: "tomcat-demo".into(),
            attributes: vec![
                ("host.name".into(), AttrValue::from("web-1")),
                (
                    "service.instance.id".into(),
                    AttrValue::from("0f8e2d7c-5b7a-4f6e-9d3c-2a1b0c9d8e7f"),
                ),
                ("process.pid".into(), AttrValue::Int(4242)),
            ],
        }),
        transactions,
        ..ExportBatch::default()
    }
}

fn main() {
    let mut encoder = BenchEncoder::default();
    for (what, summaries) in [("summary", true), ("kept tree (3 spans)", false)] {
        let bytes = encoder.encode(&batch(!summaries), summaries);
        eprintln!(
            "{what}: {bytes} B for {BATCH} transactions = {:.1} B each on the wire (uncompressed)",
            bytes as f64 / BATCH as f64
        );
    }
    divan::main();
}

/// One batch of summaries encoded; per transaction.
#[divan::bench]
fn summaries(bencher: Bencher) {
    let batch = batch(false);
    let mut encoder = BenchEncoder::default();
    bencher
        .counter(ItemsCount::new(BATCH))
        .bench_local(|| encoder.encode(black_box(&batch), true));
}

/// The same transactions with their trees kept; per transaction.
#[divan::bench]
fn kept_trees(bencher: Bencher) {
    let batch = batch(true);
    let mut encoder = BenchEncoder::default();
    bencher
        .counter(ItemsCount::new(BATCH))
        .bench_local(|| encoder.encode(black_box(&batch), false));
}
