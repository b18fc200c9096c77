//! Report generation at scale (plain `main`, no harness): a service at
//! `tps` transactions per second for `seconds` seconds ending a minute ago
//! (each a SERVER root and one SQL call, 20 endpoints, 1 % errors),
//! ingested through OTLP decoding into the embedded storage with its
//! default memory budgets; then the time to gather the report
//! (`report::gather`: one pass over the transactions, the trees of the 200
//! slowest, the metric series) and to render HTML and CSV, and the RSS.
//!
//! `cargo bench -p osprey-server --bench report -- [seconds] [tps]`
//! (default a day at 1 000 TPS; under `cargo test` a 20-second smoke run).
//! `OSPREY_BENCH_DIR` puts the store elsewhere than the temp directory;
//! it is removed at the end.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::{Span, Status, span};
use osprey::model::TraceId;
use osprey_server::app::{App, ServerConfig};
use osprey_server::ingest::otlp::{Encoding, parse_traces};
use osprey_server::report::{self, ReportRequest};
use osprey_server::storage::{TxnCursor, TxnFilter};

mod common;
use common::{kv, request_bytes, rss, s, time};

const NS: u64 = 1_000_000_000;
const SQL: [&str; 4] = [
    "SELECT * FROM item WHERE id = ?",
    "UPDATE stock SET qty = qty - ? WHERE id = ?",
    "INSERT INTO orders (id, total) VALUES (?, ?)",
    "SELECT name FROM customer WHERE id = ?",
];

fn elapsed_ns(n: u64) -> u64 {
    let r = n.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
    let ms = match r % 1000 {
        0 => 2_000 + r % 3_000,
        1..=20 => 300 + r % 700,
        _ => 3 + r % 80,
    };
    ms * 1_000_000
}

/// The spans of second `sec` (offset from `from_s`): `tps` transactions.
fn second(from_s: u64, sec: u64, tps: u64) -> Vec<Span> {
    let mut spans = Vec::with_capacity(2 * tps as usize);
    for i in 0..tps {
        let n = sec * tps + i;
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        trace[8..].copy_from_slice(&(n + 1).to_be_bytes());
        let end = (from_s + sec) * NS + i * (NS / tps);
        let elapsed = elapsed_ns(n);
        let start = end - elapsed;
        let root = (n * 2 + 1).to_be_bytes().to_vec();
        spans.push(Span {
            trace_id: trace.to_vec(),
            span_id: root.clone(),
            name: format!("GET /api/endpoint{}", n % 20),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            status: (n % 100 == 7).then(|| Status {
                code: 2,
                message: "failed".into(),
            }),
            ..Span::default()
        });
        spans.push(Span {
            trace_id: trace.to_vec(),
            span_id: (n * 2 + 2).to_be_bytes().to_vec(),
            parent_span_id: root,
            name: "SQL".into(),
            kind: span::SpanKind::Client as i32,
            start_time_unix_nano: start + elapsed / 4,
            end_time_unix_nano: start + elapsed / 2,
            attributes: vec![
                kv("db.system", s("postgresql")),
                kv("db.query.text", s(SQL[(n % 4) as usize])),
            ],
            ..Span::default()
        });
    }
    spans
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let nums: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let seconds = nums
        .first()
        .copied()
        .unwrap_or(if bench { 86_400 } else { 20 })
        .max(1);
    let tps = nums.get(1).copied().unwrap_or(1_000).max(1);
    let base = std::env::var_os("OSPREY_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("osprey-report-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let from_s = now_s - 60 - seconds;
    let app = App::open(ServerConfig::new(&dir)).expect("store opens");
    println!(
        "osprey-server report: {} transactions ({tps} TPS for {seconds} s, 2 spans each)",
        seconds * tps
    );
    let t = Instant::now();
    for sec in 0..seconds {
        let b = request_bytes("shop", second(from_s, sec, tps));
        let spans = parse_traces(Encoding::Protobuf, &b).expect("valid");
        app.ingest_spans(spans).expect("stored");
        if sec % 600 == 599 {
            app.maintain();
        }
    }
    let ingest = t.elapsed();
    println!(
        "  ingest: {:.1} s ({:.0} transactions/s)",
        ingest.as_secs_f64(),
        (seconds * tps) as f64 / ingest.as_secs_f64()
    );
    let req = ReportRequest::new("shop", from_s * NS, (from_s + seconds) * NS).expect("valid");
    let runs = if bench { 3 } else { 1 };
    let mut r = None;
    time(
        "gather the report (one pass, 200 trees, series)",
        runs,
        || {
            r = Some(report::gather(app.storage(), &req).expect("gathered"));
        },
    );
    let r = r.expect("ran");
    // Where the time goes: the pass over the transactions alone (pages of
    // 10 000 and of 100 000 rows), and the 200 slowest trees alone.
    for page in [10_000, 100_000] {
        time(
            &format!("  of which: every transaction, pages of {page}"),
            1,
            || {
                let mut f = TxnFilter {
                    service: Some("shop".into()),
                    from_ns: Some(req.from_ns),
                    to_ns: Some(req.to_ns),
                    ..TxnFilter::default()
                };
                let mut n = 0;
                loop {
                    let rows = app
                        .storage()
                        .transactions(&f, page)
                        .expect("page")
                        .transactions;
                    n += rows.len();
                    match rows.last() {
                        Some(last) if rows.len() == page => f.before = Some(TxnCursor::of(last)),
                        _ => break n,
                    }
                }
            },
        );
    }
    time("  of which: 20 of the 200 slowest call trees", 1, || {
        for s in &r.slowest {
            let trace = TraceId::from_hex(&s.trace_id).expect("hex");
            app.storage().trace_spans(trace).expect("spans");
        }
    });
    assert_eq!(r.totals.count, seconds * tps, "every transaction counted");
    assert!(!r.sql.is_empty(), "SQL found in the slowest trees");
    time("render HTML", runs, || report::html::render(&r).len());
    time("render CSV", runs, || {
        report::csv::render(&r).expect("csv").len()
    });
    let (now, peak) = rss();
    println!(
        "  RSS now {:.0} MiB, peak {:.0} MiB; p95 {:.1} ms, {} trend points",
        now as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        r.totals.p95_ms,
        r.trend.len()
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
