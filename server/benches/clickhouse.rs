//! ClickHouse backend benchmark (plain `main`, no harness): ingest
//! spans/s per core of the Osprey side (OTLP decode, the derived rows,
//! `RowBinary` encoding, the HTTP inserts), with one and with four
//! clients; bytes per span in ClickHouse once its parts are merged; and
//! query latencies against the embedded backend holding the same data.
//!
//! Needs a ClickHouse server: `OSPREY_BENCH_CLICKHOUSE=clickhouse://127.0.0.1:8123/osprey_bench
//! cargo bench -p osprey-server --bench clickhouse -- [transactions]`
//! (default 200,000; the database is dropped and re-created). Without the
//! variable it says so and does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use osprey_server::app::{App, ServerConfig};
use osprey_server::index::TxnFilter;
use osprey_server::ingest::otlp::{Encoding, parse_traces};
use osprey_server::storage::clickhouse::{self, ClickHouseConfig};

mod common;
use common::{TXNS_PER_REQUEST, body, state_at, time};

/// CPU seconds (user + system) this process has used.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // After the name: state (field 3), then fields 4.. (utime is 14, stime 15).
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| {
        f.get(n - 3)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field(14) + field(15)) / 100.0
}

fn sql(base: &str, q: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    agent
        .post(base)
        .send(q.as_bytes())
        .expect("ClickHouse answers")
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn main() {
    let Ok(url) = std::env::var("OSPREY_BENCH_CLICKHOUSE") else {
        println!(
            "clickhouse bench: set OSPREY_BENCH_CLICKHOUSE=clickhouse://host:port/db to run it"
        );
        return;
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let total = total.div_ceil(TXNS_PER_REQUEST) * TXNS_PER_REQUEST;
    let dir = std::env::temp_dir().join(format!("osprey-ch-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = ClickHouseConfig::parse(&url, dir.join("buffer")).expect("a clickhouse:// URL");
    cfg.max_age = Duration::from_secs(30 * 86_400);
    let base = cfg.shards[0].clone();
    sql(&base, &format!("DROP DATABASE IF EXISTS {}", cfg.database));
    clickhouse::migrate(&cfg).expect("schema created");
    let version = sql(&base, "SELECT version()");
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hour_start = (now_s - 3_700) * 1_000_000_000;
    let bodies: Vec<Vec<u8>> = (0..total / TXNS_PER_REQUEST)
        .map(|r| body(r, total, hour_start))
        .collect();

    let mut server = ServerConfig::new(dir.join("ch"));
    server.clickhouse = Some(cfg.clone());
    let ch = App::open(server).expect("ClickHouse backend opens");
    println!(
        "osprey-server → ClickHouse {} ({url}): {total} transactions × 4 spans, {TXNS_PER_REQUEST} per request",
        version.trim()
    );
    for clients in [1usize, 4] {
        let part: Vec<&[u8]> = bodies
            .iter()
            .enumerate()
            .filter(|(i, _)| if clients == 1 { i % 2 == 0 } else { i % 2 == 1 })
            .map(|(_, b)| &b[..])
            .collect();
        let (cpu0, t) = (cpu_s(), Instant::now());
        std::thread::scope(|s| {
            for c in 0..clients {
                let (ch, part) = (ch.clone(), &part);
                s.spawn(move || {
                    for b in part.iter().skip(c).step_by(clients) {
                        let spans = parse_traces(Encoding::Protobuf, b).expect("valid");
                        ch.ingest_spans(spans).expect("stored");
                    }
                });
            }
        });
        let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_s() - cpu0);
        let spans = part.len() as f64 * TXNS_PER_REQUEST as f64 * 4.0;
        println!(
            "  ingest, {clients} client(s): {:.0} spans/s per Osprey core ({:.2} CPU s), {:.0} spans/s wall",
            spans / cpu,
            cpu,
            spans / wall
        );
    }
    let tables = sql(
        &base,
        &format!(
            "SELECT name FROM system.tables WHERE database = '{}'",
            cfg.database
        ),
    );
    for t in tables.lines().filter(|t| *t != "osprey_schema") {
        sql(&base, &format!("OPTIMIZE TABLE {}.{t} FINAL", cfg.database));
    }
    let by_table = sql(
        &base,
        &format!(
            "SELECT table, sum(bytes_on_disk), sum(rows) FROM system.parts WHERE database = '{}' \
             AND active GROUP BY table ORDER BY table",
            cfg.database
        ),
    );
    let all: u64 = by_table
        .lines()
        .filter_map(|l| l.split('\t').nth(1)?.parse::<u64>().ok())
        .sum();
    println!(
        "  ClickHouse bytes after merges: {:.1} B/span, {:.0} B/transaction ({all} bytes)",
        all as f64 / (total * 4) as f64,
        all as f64 / total as f64
    );
    for l in by_table.lines() {
        println!("    {l}");
    }

    let emb = App::open(ServerConfig::new(dir.join("embedded"))).expect("embedded opens");
    for b in &bodies {
        emb.ingest_spans(parse_traces(Encoding::Protobuf, b).unwrap())
            .unwrap();
    }
    emb.maintain();
    let (from, to) = (hour_start, hour_start + 3_600_000_000_000);
    let hour = TxnFilter {
        from_ns: Some(from),
        to_ns: Some(to),
        ..TxnFilter::default()
    };
    let user = TxnFilter {
        user: Some("user42".into()),
        ..hour.clone()
    };
    let one = hour_start + 1_800_000_000_000;
    let some = emb.read(|i| i.transactions(&hour, 1)[0].span_id.to_hex());
    for (name, app) in [("embedded", &emb), ("clickhouse", &ch)] {
        println!("queries over the hour, {name}:");
        let app: &Arc<App> = app;
        time("transactions, newest 100", 10, || {
            app.read(|i| i.transactions(&hour, 100).len())
        });
        time("transactions, one user, limit 1000", 5, || {
            app.read(|i| i.transactions(&user, 1000).len())
        });
        time("aggregates per second, 3600 s, 60 s window", 5, || {
            app.read(|i| {
                i.seconds(from / 1_000_000_000, to / 1_000_000_000 - 1, 60)
                    .len()
            })
        });
        time("server map over the hour", 5, || {
            app.read(|i| i.server_map(from, to).len())
        });
        time(
            "state at one second (txns, aggregate, edges, metrics)",
            10,
            || app.read(|i| state_at(i, one)),
        );
        time("call tree of one transaction", 10, || {
            app.trees(&some).map(|t| t.len())
        });
    }
    drop((ch, emb));
    let _ = std::fs::remove_dir_all(&dir);
}
