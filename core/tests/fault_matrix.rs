//! The fault matrix under load, agent → collector: the OTLP exporter sends
//! through `osprey_testkit::FaultProxy` (a real TCP proxy) to the loopback
//! receiver while two application threads serve requests at a steady
//! rate. Each fault — the collector down, refusing connections,
//! blackholed (accepts, never answers), `503` with `Retry-After`, 5 s per
//! answer, a TLS failure — lasts `OSPREY_FAULT_SECONDS` (10 by default)
//! after `OSPREY_FAULT_HEALTHY_SECONDS` (3) of healthy traffic, then the
//! collector recovers for `OSPREY_FAULT_RECOVERY_SECONDS` (5).
//!
//! Asserted per fault: every transaction is delivered or counted as
//! dropped (queue or exporter), nothing counted as delivered is missing at
//! the collector, the process's memory stays within the configured queue
//! budget plus allocator slack, and transactions recorded during the fault
//! that were still queued or retrying arrive after the recovery. Reported,
//! not asserted (a shared machine): the application's throughput and p99
//! latency in the fault against its healthy phase.
//!
//! The long version (5 minutes of each fault):
//! `OSPREY_FAULT_SECONDS=300 cargo test --release -p osprey --test fault_matrix -- --nocapture`.
#![cfg(all(feature = "otlp", feature = "enable"))]

#[path = "support/rss.rs"]
mod rss;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use osprey::Config;
use osprey::export::otlp::OtlpConfig;
use osprey_testkit::spans::all_spans;
use osprey_testkit::{FaultProxy, Mode, Receiver, TlsFront};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Requests per second per application thread.
const RATE: u64 = 400;
const THREADS: usize = 2;
/// The queue's byte budget (`max_queue_bytes`), the memory cap asserted.
const QUEUE_BYTES: usize = 8 << 20;
/// Allocator and thread slack allowed on top of the budget.
const SLACK_BYTES: u64 = 24 << 20;

const PHASES: [&str; 3] = ["GET /healthy", "GET /fault", "GET /recovered"];

fn seconds(var: &str, default: u64) -> Duration {
    let s = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Duration::from_secs(s)
}

/// What the application threads measured in one phase.
#[derive(Default, Clone)]
struct Load {
    latencies_us: Vec<u64>,
    seconds: f64,
}

impl Load {
    fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds.max(1e-9)
    }

    fn p99_us(&self) -> u64 {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        v.get(v.len() * 99 / 100).copied().unwrap_or(0)
    }
}

/// One request of the application: a transaction with a small call tree
/// around some work.
fn serve(phase: usize) {
    let txn = osprey::transaction(PHASES[phase]).server().begin();
    txn.attr("http.response.status_code", 200i64);
    {
        let _outer = osprey::step("handle");
        let _sql = osprey::step_of_kind(osprey::StepKind::Sql, "SELECT * FROM t WHERE id = ?");
        let mut x = 0u64;
        for i in 0..2_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
    }
    txn.end();
}

/// Runs the application threads until `stop`; per phase, what they saw.
fn run_load(
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<[Load; 3]>> {
    (0..THREADS)
        .map(|_| {
            let (phase, stop) = (phase.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut loads: [Load; 3] = Default::default();
                let tick = Duration::from_micros(1_000_000 / RATE);
                let mut next = Instant::now();
                let mut phase_start = Instant::now();
                let mut current = phase.load(Ordering::SeqCst) as usize;
                while !stop.load(Ordering::SeqCst) {
                    let p = phase.load(Ordering::SeqCst) as usize;
                    if p != current {
                        loads[current].seconds += phase_start.elapsed().as_secs_f64();
                        phase_start = Instant::now();
                        current = p;
                    }
                    let started = Instant::now();
                    serve(p);
                    loads[p]
                        .latencies_us
                        .push(started.elapsed().as_micros() as u64);
                    next += tick;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        // Behind schedule: the lost time shows as lower throughput.
                        next = now;
                    }
                }
                loads[current].seconds += phase_start.elapsed().as_secs_f64();
                loads
            })
        })
        .collect()
}

struct Tls {
    ca_file: std::path::PathBuf,
    config: Arc<rustls::ServerConfig>,
}

fn tls() -> Tls {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let ca_file = std::env::temp_dir().join(format!("osprey-fault-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, certified.cert.pem()).unwrap();
    Tls {
        ca_file,
        config: Arc::new(config),
    }
}

fn run_fault(label: &str, fault: Mode, tls: Option<&Tls>) -> String {
    let healthy = seconds("OSPREY_FAULT_HEALTHY_SECONDS", 3);
    let faulty = seconds("OSPREY_FAULT_SECONDS", 10);
    let recovery = seconds("OSPREY_FAULT_RECOVERY_SECONDS", 5);

    let receiver = Receiver::start();
    let receiver_addr = ([127, 0, 0, 1], receiver.port()).into();
    let front = tls.map(|t| TlsFront::start(t.config.clone(), receiver_addr));
    let proxy = FaultProxy::start(front.as_ref().map_or(receiver_addr, TlsFront::addr));
    let mut otlp = match tls {
        Some(t) => {
            let mut c =
                OtlpConfig::default().endpoint(&format!("https://localhost:{}", proxy.port()));
            c.ca_file = Some(t.ca_file.clone());
            c
        }
        None => OtlpConfig::default().endpoint(&proxy.endpoint()),
    };
    // The defaults users get: 10 s per request, 30 s of retries.
    otlp = otlp.timeout(Duration::from_secs(10));
    let guard = osprey::init(
        Config::default()
            .service_name("fault-matrix")
            .batch_delay(Duration::from_millis(200))
            .max_queue_bytes(QUEUE_BYTES)
            .shutdown_timeout(Duration::from_secs(5))
            .exporter_spec(otlp),
    )
    .expect("osprey starts");

    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = run_load(phase.clone(), stop.clone());
    std::thread::sleep(healthy);
    let rss_before = rss::rss_kib();
    phase.store(1, Ordering::SeqCst);
    proxy.set_mode(fault.clone());
    let fault_end = Instant::now() + faulty;
    let mut rss_peak = rss_before;
    while Instant::now() < fault_end {
        std::thread::sleep(Duration::from_millis(200));
        rss_peak = rss_peak.max(rss::rss_kib());
    }
    proxy.set_mode(Mode::Pass);
    let recovered_at = Instant::now();
    phase.store(2, Ordering::SeqCst);
    std::thread::sleep(recovery);
    stop.store(true, Ordering::SeqCst);
    let mut loads: [Load; 3] = Default::default();
    for t in threads {
        for (i, l) in t.join().expect("load thread").into_iter().enumerate() {
            loads[i].latencies_us.extend(l.latencies_us);
            loads[i].seconds = loads[i].seconds.max(l.seconds);
        }
    }
    // Whatever is still retrying gets its time: the retry budget is 30 s.
    let flushed = osprey::flush(Duration::from_secs(45));
    let stats = osprey::stats();
    assert!(guard.shutdown(Duration::from_secs(10)));
    let otlp = stats.exporters[0].clone();

    // Every drop counted.
    assert!(flushed, "{label}: flush did not finish: {stats:?}");
    assert_eq!(
        stats.dropped_queue + otlp.dropped,
        stats.produced() - otlp.delivered,
        "{label}: {stats:?}"
    );
    // Nothing counted as delivered is missing (a retried batch can arrive
    // twice when its answer was lost: count span ids once).
    let requests = receiver.requests_to("/v1/traces");
    let mut roots = HashSet::new();
    let mut fault_after_recovery = 0;
    for r in &requests {
        for s in all_spans(&[r.traces()]) {
            if PHASES.contains(&s.name.as_str())
                && roots.insert(s.span_id.clone())
                && s.name == PHASES[1]
                && r.at >= recovered_at
            {
                fault_after_recovery += 1;
            }
        }
    }
    let unique = roots.len() as u64;
    assert!(
        unique >= otlp.delivered && unique <= stats.produced(),
        "{label}: {unique} unique transactions arrived, {} counted delivered, {} produced",
        otlp.delivered,
        stats.produced()
    );
    // Memory under its cap.
    let grown = rss_peak.saturating_sub(rss_before) * 1024;
    assert!(
        grown <= QUEUE_BYTES as u64 + SLACK_BYTES,
        "{label}: RSS grew {grown} bytes in the fault"
    );
    // What was still queued or retrying was delivered after the recovery.
    assert!(
        fault_after_recovery > 0,
        "{label}: no transaction of the fault arrived after the recovery: {stats:?}"
    );
    let (h, f) = (&loads[0], &loads[1]);
    format!(
        "| {label} | {:.0} / {:.0} | {} / {} | {} | {} | {} | {} | {} | {} / {} |",
        h.throughput(),
        f.throughput(),
        h.p99_us(),
        f.p99_us(),
        stats.produced(),
        otlp.delivered,
        stats.dropped_queue,
        otlp.dropped,
        fault_after_recovery,
        rss_before,
        rss_peak
    )
}

#[test]
fn every_fault_recovers_with_every_drop_counted() {
    let tls = tls();
    let faults = [
        ("down", Mode::Down, false),
        ("refusing", Mode::Refusing, false),
        ("blackholed", Mode::Blackholed, false),
        (
            "503, Retry-After: 2",
            Mode::Unavailable { retry_after: 2 },
            false,
        ),
        (
            "5 s per answer",
            Mode::Slow {
                delay: Duration::from_secs(5),
            },
            false,
        ),
        ("TLS failure", Mode::NotTls, true),
    ];
    let only = std::env::var("OSPREY_FAULT_ONLY").ok();
    let mut rows = vec![
        "| fault | req/s healthy / fault | p99 µs healthy / fault | produced | delivered | dropped at queue | dropped at export | fault txns delivered after recovery | RSS KiB before / peak |".to_owned(),
        "|---|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    for (label, mode, over_tls) in faults {
        if only.as_deref().is_some_and(|o| !label.starts_with(o)) {
            continue;
        }
        let row = run_fault(label, mode, over_tls.then_some(&tls));
        eprintln!("{row}");
        rows.push(row);
    }
    let _ = std::fs::remove_file(&tls.ca_file);
    println!("{}", rows.join("\n"));
}
