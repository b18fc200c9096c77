//! What the alert engine and `/metrics` cost at 1 000 TPS (divan).
//!
//! The store holds 11 minutes of 1 000 transactions per second (4
//! services × 4 instances × 5 endpoints, 1 % failed) and one point per
//! second of the JVM and host series the rules read (heap, GC per
//! collector, CPU per CPU and mode, memory, three file systems), fed
//! through the live feed like `osprey serve` does. Then:
//!
//! - `tick_one_rule`: one evaluation of one rule of each kind (what the
//!   server does every second per rule; nothing fires);
//! - `feed_one_second`: counting one second of 1 000 transactions for
//!   `/metrics` and for three rule scopes (all, a service, an endpoint);
//! - `metrics_exposition`: one `/metrics` answer (text format).
//!
//! `cargo bench -p osprey-server --bench alerts` (under `cargo test` a
//! 20-second store).

use std::sync::LazyLock;

use opentelemetry_proto::tonic::trace::v1::{Span, Status, span};
use osprey_server::alerts::window::{Recent, ScopeKey};
use osprey_server::alerts::{AlertConfig, Alerts};
use osprey_server::app::{App, ServerConfig};
use osprey_server::auth::Grant;
use osprey_server::ingest::otlp::{Encoding, parse_traces};
use osprey_server::live::Live;
use osprey_server::prom::{self, encode::Format};
use osprey_server::record::{MetricKind, MetricPoint};
use osprey_server::storage::{TxnFilter, TxnRow};

mod common;
use common::{kv, request_bytes, s};

const TPS: u64 = 1_000;
const NS: u64 = 1_000_000_000;
const SERVICES: [&str; 4] = ["shop", "billing", "search", "auth"];
const ENDPOINTS: [&str; 5] = [
    "GET /cart",
    "POST /pay",
    "GET /search",
    "GET /orders/{id}",
    "POST /login",
];

/// The rule of each kind: thresholds the data does not reach.
const RULES: [(&str, &str); 11] = [
    ("error_rate", "kind = 'error_rate'\nthreshold = 0.5"),
    (
        "error_rate_service",
        "kind = 'error_rate'\nservice = 'shop'\nthreshold = 0.5",
    ),
    ("p95", "kind = 'p95'\nthreshold = 60000"),
    (
        "p99_endpoint",
        "kind = 'p99'\nservice = 'shop'\nendpoint = 'POST /pay'\nthreshold = 60000",
    ),
    (
        "tps_drop",
        "kind = 'tps_drop'\nthreshold = 0.9\nbaseline = '10m'",
    ),
    ("heap", "kind = 'heap'\nthreshold = 0.99"),
    ("gc_time", "kind = 'gc_time'\nthreshold = 0.9"),
    ("host_cpu", "kind = 'host_cpu'\nthreshold = 0.99"),
    ("host_disk", "kind = 'host_disk'\nthreshold = 0.99"),
    ("silent", "kind = 'silent'\nthreshold = 3600"),
    (
        "metric_rate",
        "kind = 'metric'\nmetric = 'jvm.gc.collections.elapsed'\naggregate = 'rate'\nthreshold = 1000",
    ),
];

fn rule_text(kind: &str) -> String {
    let body = RULES.iter().find(|r| r.0 == kind).unwrap().1;
    format!("[[rule]]\nname = '{kind}'\n{body}\n")
}

struct Fixture {
    live: Live,
    now_ms: u64,
    second: Vec<TxnRow>,
    _dir: tempfile::TempDir,
}

fn seconds() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        660
    } else {
        20
    }
}

fn build() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    // Every rule while the data is fed (the longest, tps_drop: 60 s + 10
    // min, sets what is kept); each bench then keeps one, whose scope
    // keeps its seconds.
    let rules = dir.path().join("alerts.toml");
    let all: String = RULES.iter().map(|r| rule_text(r.0)).collect();
    std::fs::write(&rules, all).unwrap();
    let mut cfg = ServerConfig::new(dir.path());
    cfg.alerts = AlertConfig {
        rules: Some(rules),
        ..AlertConfig::default()
    };
    let alerts = Alerts::open(&cfg.alerts, dir.path()).unwrap();
    let app = App::open(cfg).unwrap();
    let live = Live::new(app.clone(), alerts).unwrap();
    let secs = seconds();
    let now_ms = osprey_server::time::now_ms() / 1000 * 1000;
    let first_s = now_ms / 1000 - secs;
    for sec in first_s..first_s + secs {
        for svc in 0..SERVICES.len() as u64 {
            let mut spans = Vec::new();
            for i in 0..TPS / SERVICES.len() as u64 {
                let n = sec * TPS + svc * 1_000_000 + i;
                let end = sec * NS + i * (NS / (TPS / 4));
                let elapsed = (5 + n % 95) * 1_000_000;
                let mut root = Span {
                    trace_id: n.to_le_bytes().repeat(2),
                    span_id: (n + 1).to_le_bytes().to_vec(),
                    name: ENDPOINTS[(n % 5) as usize].into(),
                    kind: span::SpanKind::Server as i32,
                    start_time_unix_nano: end - elapsed,
                    end_time_unix_nano: end,
                    attributes: vec![kv(
                        "service.instance.id",
                        s(&format!("{}-{}", SERVICES[svc as usize], n % 4)),
                    )],
                    ..Span::default()
                };
                if n.is_multiple_of(100) {
                    root.status = Some(Status {
                        code: 2,
                        message: "boom".into(),
                    });
                }
                spans.push(root);
            }
            let body = request_bytes(SERVICES[svc as usize], spans);
            app.ingest_spans(parse_traces(Encoding::Protobuf, &body).unwrap())
                .unwrap();
        }
        app.ingest_metrics(metric_points(sec)).unwrap();
        live.poll((sec + 1) * 1000).unwrap();
    }
    let second = app
        .storage()
        .transactions(
            &TxnFilter {
                from_ns: Some((first_s + secs - 1) * NS),
                ..TxnFilter::default()
            },
            TPS as usize,
        )
        .unwrap()
        .transactions;
    Fixture {
        live,
        now_ms: now_ms + 2_000,
        second,
        _dir: dir,
    }
}

fn metric_points(sec: u64) -> Vec<MetricPoint> {
    let p =
        |service: &str, name: &str, unit: &str, kind, attributes: String, value: f64| MetricPoint {
            service: service.into(),
            name: name.into(),
            unit: unit.into(),
            kind,
            attributes,
            time_ns: sec * NS,
            value,
            count: 0,
            instance: String::new(),
            host: String::new(),
        };
    let mut out = Vec::new();
    for svc in SERVICES {
        let heap = "jvm.memory.type=heap".to_owned();
        out.push(p(
            svc,
            "jvm.memory.used",
            "By",
            MetricKind::Gauge,
            heap.clone(),
            5e8,
        ));
        out.push(p(
            svc,
            "jvm.memory.limit",
            "By",
            MetricKind::Gauge,
            heap,
            2e9,
        ));
        for gc in ["G1 Young Generation", "G1 Old Generation"] {
            out.push(p(
                svc,
                "jvm.gc.collections.elapsed",
                "ms",
                MetricKind::Sum,
                format!("jvm.gc.name={gc}"),
                (sec % 100_000) as f64 * 3.0,
            ));
        }
    }
    for cpu in 0..2 {
        for (mode, v) in [("user", 0.2), ("system", 0.1), ("idle", 0.7)] {
            out.push(p(
                "host-1",
                "system.cpu.utilization",
                "1",
                MetricKind::Gauge,
                format!("cpu.logical_number={cpu},cpu.mode={mode}"),
                v,
            ));
        }
    }
    out.push(p(
        "host-1",
        "system.memory.utilization",
        "1",
        MetricKind::Gauge,
        "system.memory.state=used".into(),
        0.5,
    ));
    for m in ["/", "/data", "/var"] {
        out.push(p(
            "host-1",
            "system.filesystem.utilization",
            "1",
            MetricKind::Gauge,
            format!("system.filesystem.mountpoint={m},system.filesystem.state=used"),
            0.4,
        ));
    }
    out
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(build);
static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

fn main() {
    LazyLock::force(&FIXTURE);
    divan::main();
}

/// One evaluation of one rule of `kind`.
#[divan::bench(args = RULES.map(|r| r.0))]
fn tick_one_rule(bencher: divan::Bencher, kind: &str) {
    let _one = ONE_AT_A_TIME.lock();
    let f = &*FIXTURE;
    f.live.replace_rules(&rule_text(kind)).unwrap();
    let storage = f.live.app.storage();
    bencher.bench(|| f.live.alerts.tick(storage, f.now_ms));
    let state = &f.live.alerts.states()[0];
    assert!(!state.firing, "{kind} must not fire in the bench");
    // Judged on data (in the short smoke store tps_drop has no baseline).
    let judged = state.reading.as_ref().is_some_and(|r| r.value.is_some());
    assert!(
        judged || (kind == "tps_drop" && seconds() < 660),
        "{kind}: {:?}",
        state.reading
    );
}

/// Counting one second of 1 000 transactions (the feed's work per second).
#[divan::bench]
fn feed_one_second(bencher: divan::Bencher) {
    let f = &*FIXTURE;
    let counters = prom::counters::Counters::default();
    let scopes = vec![
        ScopeKey::default(),
        ScopeKey {
            service: Some("shop".into()),
            ..ScopeKey::default()
        },
        ScopeKey {
            service: Some("shop".into()),
            endpoint: Some("POST /pay".into()),
            ..ScopeKey::default()
        },
    ];
    let recent = Recent::new(scopes, 60);
    let now_s = f.now_ms / 1000;
    bencher.bench(|| {
        counters.add(&f.second);
        recent.add(&f.second, now_s);
    });
}

/// One `/metrics` answer in the text format.
#[divan::bench]
fn metrics_exposition(bencher: divan::Bencher) {
    let f = &*FIXTURE;
    let grant = Grant::open();
    bencher.bench(|| {
        prom::exposition(&f.live, &grant, Format::Text, f.now_ms)
            .unwrap()
            .len()
    });
}
