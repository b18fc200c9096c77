//! Report generation at scale (plain `main`, no harness): a service at
//! `tps` transactions per second for `seconds` seconds ending a minute ago
//! (each a SERVER root and one SQL call, 20 endpoints, 1 % errors, a long
//! tail), written straight into the embedded storage through
//! [`App::ingest_spans`] (the spans built as the OTLP decoder makes them,
//! on a second thread; a day at 1 000 TPS is 86.4 M transactions) with its
//! default memory budgets; then the time and peak RSS of gathering the
//! report (`report::gather`: the per-minute rollups, the rows of the
//! partial last minute, the slowest rows, the trees of the 200 slowest,
//! the metric series), of the row-by-row pass (`report::gather_exact`,
//! once, when `OSPREY_BENCH_EXACT=1` or the range is at most 6 hours) and
//! that both give the same report, and of rendering HTML and CSV.
//!
//! `cargo bench -p osprey-server --bench report -- [seconds] [tps]`
//! (default a day at 1 000 TPS; under `cargo test` a 20-second smoke run).
//! `OSPREY_BENCH_DIR` puts the store elsewhere than the temp directory; it
//! is removed at the end unless `OSPREY_BENCH_KEEP=1`.
//! `OSPREY_BENCH_CHECKPOINT=<seconds>` also gathers the report of what
//! is ingested so far every that many seconds of data (time and peak RSS),
//! so a long run gives figures before it ends.
//! `OSPREY_BENCH_REUSE=<store dir>` skips the ingest and reports on a
//! store kept by an earlier run (same `seconds` and `tps`; the range is
//! read from its newest transaction).

use std::sync::mpsc::sync_channel;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use osprey::AttrValue;
use osprey::model::{SpanId, TraceId};
use osprey_server::app::{App, ServerConfig};
use osprey_server::record::{Kind, SpanRec};
use osprey_server::report::{self, ReportRequest};
use osprey_server::storage::{TxnCursor, TxnFilter};

mod common;
use common::{rss, time};

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

/// The spans of second `sec` (offset from `from_s`): `tps` transactions,
/// as [`osprey_server::ingest::otlp::parse_traces`] makes them from OTLP.
fn second(from_s: u64, sec: u64, tps: u64) -> Vec<SpanRec> {
    let mut spans = Vec::with_capacity(2 * tps as usize);
    for i in 0..tps {
        let n = sec * tps + i;
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        trace[8..].copy_from_slice(&(n + 1).to_be_bytes());
        let end = (from_s + sec) * NS + i * (NS / tps);
        let elapsed = elapsed_ns(n);
        let start = end - elapsed;
        let root = SpanId((n * 2 + 1).to_be_bytes());
        let error = n % 100 == 7;
        let base = SpanRec {
            trace_id: TraceId(trace),
            span_id: root,
            parent: None,
            service: "shop".into(),
            name: format!("GET /api/endpoint{}", n % 20),
            kind: Kind::Server,
            flags: 0,
            start_ns: start,
            end_ns: end,
            error,
            status_message: if error {
                "failed".into()
            } else {
                String::new()
            },
            attributes: Vec::new(),
            exceptions: Vec::new(),
        };
        let sql = SpanRec {
            span_id: SpanId((n * 2 + 2).to_be_bytes()),
            parent: Some(root),
            name: "SQL".into(),
            kind: Kind::Client,
            start_ns: start + elapsed / 4,
            end_ns: start + elapsed / 2,
            error: false,
            status_message: String::new(),
            attributes: vec![
                ("db.system".into(), AttrValue::Str("postgresql".into())),
                (
                    "db.query.text".into(),
                    AttrValue::Str(SQL[(n % 4) as usize].into()),
                ),
            ],
            ..base.clone()
        };
        spans.push(base);
        spans.push(sql);
    }
    spans
}

/// Resets this process's peak RSS (`VmHWM`) to its RSS now.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Bytes under `dir` (files directly in it), and those of rollup files.
fn store_bytes(dir: &std::path::Path) -> (u64, u64) {
    let (mut all, mut rollups) = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let len = e.metadata().map_or(0, |m| m.len());
        all += len;
        if e.file_name().to_string_lossy().ends_with(".rollup") {
            rollups += len;
        }
    }
    (all, rollups)
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
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let reuse = env("OSPREY_BENCH_REUSE").map(std::path::PathBuf::from);
    let keep = reuse.is_some() || env("OSPREY_BENCH_KEEP").is_some();
    let checkpoint: Option<u64> = env("OSPREY_BENCH_CHECKPOINT")
        .and_then(|v| v.to_str()?.parse().ok())
        .filter(|c| *c > 0);
    let dir = reuse.clone().unwrap_or_else(|| {
        env("OSPREY_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("osprey-report-bench-{}", std::process::id()))
    });
    if reuse.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let app = App::open(ServerConfig::new(&dir)).expect("store opens");
    println!(
        "osprey-server report: {} transactions ({tps} TPS for {seconds} s, 2 spans each)",
        seconds * tps
    );
    let from_s = if reuse.is_some() {
        let newest = app
            .storage()
            .transactions(&TxnFilter::default(), 1)
            .expect("read")
            .transactions;
        newest.first().expect("a kept store").end_ns() / NS + 1 - seconds
    } else {
        let from_s = (now_s - 60 - seconds) / 60 * 60;
        let t = Instant::now();
        let (tx, rx) = sync_channel(8);
        let maker = std::thread::spawn(move || {
            for sec in 0..seconds {
                if tx.send(second(from_s, sec, tps)).is_err() {
                    return;
                }
            }
        });
        for (sec, spans) in rx.into_iter().enumerate() {
            app.ingest_spans(spans).expect("stored");
            if sec % 600 == 599 {
                app.maintain();
            }
            if sec % 3_600 == 3_599 {
                println!(
                    "  ingested {} h in {:.0} s",
                    (sec + 1) / 3_600,
                    t.elapsed().as_secs_f64()
                );
            }
            let done = sec as u64 + 1;
            if checkpoint.is_some_and(|c| done.is_multiple_of(c) && done < seconds) {
                app.maintain();
                let req =
                    ReportRequest::new("shop", from_s * NS, (from_s + done) * NS).expect("valid");
                let (before, _) = rss();
                reset_peak_rss();
                let t = Instant::now();
                let r = report::gather(app.storage(), &req).expect("gathered");
                let took = t.elapsed();
                let (_, peak) = rss();
                assert_eq!(r.totals.count, done * tps, "every transaction counted");
                println!(
                    "  checkpoint: report of the first {done} s ({} transactions): \
                     {:.3} s, RSS before {:.0} MiB, peak {:.0} MiB",
                    r.totals.count,
                    took.as_secs_f64(),
                    before as f64 / 1048576.0,
                    peak as f64 / 1048576.0
                );
            }
        }
        maker.join().expect("maker");
        app.maintain();
        let ingest = t.elapsed();
        println!(
            "  ingest: {:.1} s ({:.0} transactions/s)",
            ingest.as_secs_f64(),
            (seconds * tps) as f64 / ingest.as_secs_f64()
        );
        from_s
    };
    let (bytes, rollup_bytes) = store_bytes(&dir);
    println!(
        "  store: {:.2} GB on disk, of which rollups {:.1} MB",
        bytes as f64 / 1e9,
        rollup_bytes as f64 / 1e6
    );
    let req = ReportRequest::new("shop", from_s * NS, (from_s + seconds) * NS).expect("valid");
    let runs = if bench { 3 } else { 1 };
    let mut r = None;
    let (rss_before, _) = rss();
    reset_peak_rss();
    time(
        "gather the report (rollups, slowest rows, 200 trees, series)",
        runs,
        || {
            r = Some(report::gather(app.storage(), &req).expect("gathered"));
        },
    );
    let (_, peak_gather) = rss();
    let r = r.expect("ran");
    println!(
        "  RSS before {:.0} MiB, peak while gathering {:.0} MiB",
        rss_before as f64 / 1048576.0,
        peak_gather as f64 / 1048576.0
    );
    assert_eq!(r.totals.count, seconds * tps, "every transaction counted");
    assert!(!r.sql.is_empty(), "SQL found in the slowest trees");
    if env("OSPREY_BENCH_EXACT").is_some() || seconds <= 6 * 3_600 {
        reset_peak_rss();
        let mut exact = None;
        time("the same, row by row (report::gather_exact)", 1, || {
            exact = Some(report::gather_exact(app.storage(), &req).expect("gathered"));
        });
        let (_, peak) = rss();
        let mut exact = exact.expect("ran");
        exact.generated_ms = r.generated_ms;
        assert!(exact == r, "the rollups give the row-by-row report");
        println!(
            "  peak RSS row by row {:.0} MiB; the two reports are equal",
            peak as f64 / 1048576.0
        );
        // Where the row-by-row time goes: the pass alone.
        time("  of which: every transaction, pages of 10000", 1, || {
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
                    .transactions(&f, 10_000)
                    .expect("page")
                    .transactions;
                n += rows.len();
                match rows.last() {
                    Some(last) if rows.len() == 10_000 => f.before = Some(TxnCursor::of(last)),
                    _ => break n,
                }
            }
        });
    }
    time("  of which: 20 of the 200 slowest call trees", 1, || {
        for s in &r.slowest {
            let trace = TraceId::from_hex(&s.trace_id).expect("hex");
            app.storage().trace_spans(trace).expect("spans");
        }
    });
    time("render HTML", runs, || report::html::render(&r).len());
    time("render CSV", runs, || {
        report::csv::render(&r).expect("csv").len()
    });
    println!(
        "  p95 {:.1} ms, {} trend points, {} endpoints",
        r.totals.p95_ms,
        r.trend.len(),
        r.top_by_time.len()
    );
    drop(app);
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
