//! The store at scale (plain `main`, no harness): N transactions of 10
//! spans spread over H hours ending now, ingested through OTLP decoding
//! into the embedded storage with its default memory budgets; then bytes
//! per span, the queries the viewer makes over sealed segments (an hour's
//! XLog, filtered first pages over 24 h, traces by id, 24 h aggregates,
//! one replayed second), restart to serving, and the process's RSS.
//!
//! `cargo bench -p osprey-server --bench history -- [transactions] [hours]`
//! (default 1,000,000 over 24 h; under `cargo test` a 20,000-transaction
//! smoke run). `OSPREY_BENCH_DIR` puts the store elsewhere than the temp
//! directory; it is removed at the end.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span};
use osprey::model::TraceId;
use osprey_server::app::{App, ServerConfig};
use osprey_server::index::{SeriesQuery, TxnFilter};
use osprey_server::ingest::otlp::{Encoding, parse_traces};

mod common;
use common::{kv, ms, request_bytes, rss, s, time};

const TXNS_PER_REQUEST: u64 = 100;
const SPANS_PER_TXN: u64 = 10;
const NS: u64 = 1_000_000_000;

fn trace_of(n: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    t[8..].copy_from_slice(&(n + 1).to_be_bytes());
    t
}

/// Client address of transaction `n` (about 180 000 distinct).
fn ip_of(n: u64) -> String {
    format!("10.{}.{}.{}", n % 3, n / 7 % 251, n % 241)
}

/// Elapsed of transaction `n`: mostly 5–100 ms, a long tail to 10 s.
fn elapsed_ns(n: u64) -> u64 {
    let r = n.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
    let ms = match r % 1000 {
        0 => 5_000 + r % 5_000,
        1..=20 => 500 + r % 2_000,
        _ => 5 + r % 95,
    };
    ms * 1_000_000
}

/// Request `r`: transactions `r*100..` with end times spread over the
/// range `[from_ns, from_ns + span_ns)`.
fn body(r: u64, total: u64, from_ns: u64, span_ns: u64) -> Vec<u8> {
    let mut spans = Vec::with_capacity((TXNS_PER_REQUEST * SPANS_PER_TXN) as usize);
    for i in 0..TXNS_PER_REQUEST {
        let n = r * TXNS_PER_REQUEST + i;
        let elapsed = elapsed_ns(n);
        let end = from_ns + (n as u128 * span_ns as u128 / total as u128) as u64;
        let start = end - elapsed;
        let trace = trace_of(n);
        let id = |k: u64| (n.wrapping_mul(16) + k + 1).to_le_bytes().to_vec();
        let mk = |k: u64, parent: Option<u64>, name: &str, kind: span::SpanKind, attrs| Span {
            trace_id: trace.to_vec(),
            span_id: id(k),
            parent_span_id: parent.map(id).unwrap_or_default(),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: start + k * elapsed / 20,
            end_time_unix_nano: start + k * elapsed / 20 + elapsed / 25,
            attributes: attrs,
            ..Span::default()
        };
        let endpoint =
            ["GET /orders/{id}", "GET /cart", "POST /pay", "GET /search"][(n % 4) as usize];
        let mut root = mk(
            0,
            None,
            endpoint,
            span::SpanKind::Server,
            vec![
                kv("client.address", s(&ip_of(n))),
                kv("enduser.id", s(&format!("user{}", n % 20_000))),
                kv(
                    "http.response.status_code",
                    any_value::Value::IntValue(if n.is_multiple_of(100) { 500 } else { 200 }),
                ),
                kv("service.instance.id", s(&format!("shop-{}", n % 4))),
            ],
        );
        root.end_time_unix_nano = end;
        root.start_time_unix_nano = start;
        if n.is_multiple_of(100) {
            root.status = Some(Status {
                code: 2,
                message: "boom".into(),
            });
        }
        spans.push(root);
        for k in 1..=3 {
            spans.push(mk(
                k,
                Some(0),
                ["OrderService.load", "PriceService.quote", "Render.page"][k as usize - 1],
                span::SpanKind::Internal,
                vec![],
            ));
        }
        for k in 4..=7 {
            spans.push(mk(
                k,
                Some(1),
                "SELECT",
                span::SpanKind::Client,
                vec![
                    kv("db.system", s("postgresql")),
                    kv("db.namespace", s("shop")),
                    kv(
                        "db.query.text",
                        s("SELECT o.id, o.total FROM orders o WHERE o.customer = ? AND o.state = ?"),
                    ),
                ],
            ));
        }
        for k in 8..=9 {
            spans.push(mk(
                k,
                Some(2),
                "GET",
                span::SpanKind::Client,
                vec![kv("url.full", s("http://inventory:8080/stock/{sku}"))],
            ));
        }
    }
    request_bytes("shop", spans)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let nums: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let total = nums
        .first()
        .copied()
        .unwrap_or(if bench { 1_000_000 } else { 20_000 });
    let total = total.div_ceil(TXNS_PER_REQUEST) * TXNS_PER_REQUEST;
    let hours = nums.get(1).copied().unwrap_or(24).max(1);
    let base = std::env::var_os("OSPREY_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("osprey-history-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let span_ns = hours * 3_600 * NS;
    let from_ns = (now_s - 60) * NS - span_ns;
    let cfg = ServerConfig::new(&dir);
    let budget = (cfg.index.max_transactions, cfg.index.cache_bytes);
    let app = App::open(cfg).expect("store opens");
    println!(
        "osprey-server history: {total} transactions x {SPANS_PER_TXN} spans over {hours} h, \
         default budgets (hot {} transactions, cache {:.0} MiB)",
        budget.0,
        mib(budget.1)
    );

    let mut busy = Duration::ZERO;
    for r in 0..total / TXNS_PER_REQUEST {
        let b = body(r, total, from_ns, span_ns);
        let t = Instant::now();
        let spans = parse_traces(Encoding::Protobuf, &b).expect("valid");
        app.ingest_spans(spans).expect("stored");
        busy += t.elapsed();
        if r % 2_000 == 1_999 {
            app.maintain();
        }
    }
    let t = Instant::now();
    app.maintain();
    let seal = t.elapsed();
    let spans = total * SPANS_PER_TXN;
    let st = app.status();
    let (rss_now, rss_peak) = rss();
    println!(
        "  ingest (decode + store + index): {:.0} spans/s on one thread, {:.1} s busy; last seal {:.2} s",
        spans as f64 / busy.as_secs_f64(),
        busy.as_secs_f64(),
        seal.as_secs_f64()
    );
    println!(
        "  on disk: {:.1} B/span ({:.0} MiB: segments and indexes; {} sealed, {} hot); RSS {:.0} MiB, peak {:.0} MiB",
        st.store_bytes as f64 / spans as f64,
        mib(st.store_bytes),
        st.index.sealed_segments,
        st.index.hot_segments,
        mib(rss_now),
        mib(rss_peak)
    );
    assert_eq!(st.index.transactions as u64, total);
    queries(&app, total, from_ns, span_ns);
    let (rss_now, rss_peak) = rss();
    println!(
        "  after the queries: RSS {:.0} MiB, peak {:.0} MiB, cache {:.0} of {:.0} MiB",
        mib(rss_now),
        mib(rss_peak),
        mib(app.status().index.cache_bytes),
        mib(app.status().index.cache_budget_bytes)
    );
    drop(app);

    let t = Instant::now();
    let app = App::open(ServerConfig::new(&dir)).expect("reopens");
    let opened = t.elapsed();
    let hour = TxnFilter {
        from_ns: Some(from_ns + span_ns - 60 * NS),
        ..TxnFilter::default()
    };
    let n = app.read(|i| i.transactions(&hour, 100).len());
    println!(
        "  restart to serving: open {:.1} ms, first answer ({n} rows) {:.1} ms; {} transactions",
        ms(opened),
        ms(t.elapsed()),
        app.status().index.transactions
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

fn queries(app: &App, total: u64, from_ns: u64, span_ns: u64) {
    let to_ns = from_ns + span_ns;
    let hours = span_ns / (3_600 * NS);
    // The middle hour, and the last 24 h.
    let h0 = from_ns + hours / 2 * 3_600 * NS;
    let hour = TxnFilter {
        from_ns: Some(h0),
        to_ns: Some(h0 + 3_600 * NS),
        ..TxnFilter::default()
    };
    let day_from = to_ns.saturating_sub(24 * 3_600 * NS).max(from_ns);
    let day = TxnFilter {
        from_ns: Some(day_from),
        to_ns: Some(to_ns),
        ..TxnFilter::default()
    };
    println!("queries ({total} transactions on disk; medians of 5 unless noted):");
    let mut dots = 0;
    time("XLog: every transaction of one hour, streamed", 5, || {
        dots = app.read(|i| i.transactions(&hour, usize::MAX).len());
    });
    println!("    ({dots} dots)");
    let first_page = |label: &str, f: TxnFilter| {
        let mut got = 0;
        time(label, 5, || {
            got = app.read(|i| i.transactions(&f, 100).len())
        });
        println!("    ({got} rows)");
    };
    first_page(
        "first page over 24 h: errors of one endpoint",
        TxnFilter {
            error_only: true,
            endpoint: Some("GET /orders/{id}".into()),
            ..day.clone()
        },
    );
    first_page(
        "first page over 24 h: elapsed > 5 s",
        TxnFilter {
            min_elapsed_ns: Some(5_000_000_000),
            ..day.clone()
        },
    );
    first_page(
        "first page over 24 h: one client IP",
        TxnFilter {
            client_ip: Some(ip_of(total / 2)),
            ..day.clone()
        },
    );
    first_page(
        "first page over 24 h: one user",
        TxnFilter {
            user: Some("user4242".into()),
            ..day.clone()
        },
    );
    let mut k = 0u64;
    time(
        "trace by id (20 spread over the range, each median)",
        20,
        || {
            k += 1;
            let n = (k * 7_919_993) % total;
            let hex = TraceId(trace_of(n)).to_hex();
            let trees = app.trees(&hex).expect("found");
            assert_eq!(
                trees[0].steps.len() as u64,
                SPANS_PER_TXN - 1,
                "the tree of {n}"
            );
        },
    );
    let (fs, ts) = (day_from / NS, to_ns / NS - 1);
    time(
        "aggregates per second over 24 h (60 s user window)",
        5,
        || app.read(|i| i.seconds(fs, ts, 60).len()),
    );
    time("server map over 24 h", 5, || {
        app.read(|i| i.server_map(day_from, to_ns).len())
    });
    let one = h0 + 1_800 * NS;
    time(
        "replay one second (transactions, aggregate, edges, metrics, active)",
        5,
        || {
            app.read(|i| {
                let f = TxnFilter {
                    from_ns: Some(one),
                    to_ns: Some(one + NS),
                    ..TxnFilter::default()
                };
                (
                    i.transactions(&f, 1000).len(),
                    i.seconds(one / NS, one / NS, 60).len(),
                    i.server_map(one, one + NS).len(),
                    i.series(&SeriesQuery {
                        to_ns: Some(one + NS),
                        latest_only: true,
                        ..SeriesQuery::default()
                    })
                    .len(),
                )
            });
            app.storage().active_at(one / NS).map(|a| a.len())
        },
    );
}
