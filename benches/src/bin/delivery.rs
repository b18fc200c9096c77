//! Spans delivered versus produced: each library records about a million
//! spans (transactions of one root plus `n` children) as fast as it can on
//! one or more threads, flushes, and its counting no-op exporter says how
//! many arrived.
//!
//! `cargo run --release -p osprey-benches --bin delivery [-- THREADS [SPANS]]`

use std::time::{Duration, Instant};

use osprey_benches as peers;

const N: &[usize] = &[1, 10, 100, 1000];

/// Runs `f` `txns` times on each of `threads` threads; wall ns per span.
fn record(threads: usize, txns: u64, n: usize, f: fn(usize)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                for _ in 0..txns {
                    f(n);
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / (txns * threads as u64 * (n as u64 + 1)) as f64
}

fn tracing_otel_txn(n: usize) {
    peers::use_dispatch(&peers::tracing_otel().0);
    peers::tracing_txn(n);
}

fn tracing_registry_txn(n: usize) {
    peers::use_dispatch(peers::tracing_registry());
    peers::tracing_txn(n);
}

fn otel_sdk_txn(n: usize) {
    peers::otel_sdk_txn(&peers::otel_sdk().tracer, n);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let spans: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    peers::osprey_start();
    peers::fastrace_start();

    println!("threads: {threads}; about {spans} spans per library and n");
    println!();
    println!("| library | n | produced spans | delivered spans | delivered % | wall ns/span |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut osprey_losses = Vec::new();
    for &n in N {
        let txns = (spans / threads as u64 / (n as u64 + 1)).max(1);
        let produced = txns * threads as u64 * (n as u64 + 1);
        let row = |lib: &str, delivered: Option<u64>, ns: f64| {
            let (d, pct) = match delivered {
                Some(d) => (
                    d.to_string(),
                    format!("{:.1}", 100.0 * d as f64 / produced as f64),
                ),
                None => ("(no export)".into(), "–".into()),
            };
            println!("| {lib} | {n} | {produced} | {d} | {pct} | {ns:.1} |");
        };

        let before = peers::osprey_counts();
        let ns = record(threads, txns, n, peers::osprey_txn);
        osprey::flush(Duration::from_secs(60));
        let after = peers::osprey_counts();
        row("osprey", Some((after.3 - before.3) * (n as u64 + 1)), ns);
        osprey_losses.push((n, after.1 - before.1, after.2 - before.2));

        let before = peers::FASTRACE_DELIVERED.load(std::sync::atomic::Ordering::Relaxed);
        let ns = record(threads, txns, n, peers::fastrace_txn);
        fastrace::flush();
        let after = peers::FASTRACE_DELIVERED.load(std::sync::atomic::Ordering::Relaxed);
        row("fastrace", Some(after - before), ns);

        let pipeline = peers::otel_sdk();
        let before = pipeline.exporter.count();
        let ns = record(threads, txns, n, otel_sdk_txn);
        let _ = pipeline.provider.force_flush();
        row("otel_sdk", Some(pipeline.exporter.count() - before), ns);

        let pipeline = &peers::tracing_otel().1;
        let before = pipeline.exporter.count();
        let ns = record(threads, txns, n, tracing_otel_txn);
        let _ = pipeline.provider.force_flush();
        row("tracing_otel", Some(pipeline.exporter.count() - before), ns);

        let ns = record(threads, txns, n, tracing_registry_txn);
        row("tracing_registry", None, ns);
    }
    println!();
    for (n, queue, exporter) in osprey_losses {
        println!(
            "osprey n={n}: transactions dropped before the collector {queue}, at the exporter queue {exporter}"
        );
    }
}
