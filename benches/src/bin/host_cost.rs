//! The cost of host and container metrics in an application: Osprey runs
//! with `host.metrics=true` (one sample a second on the collector thread)
//! and the OTLP exporter sending to a loopback sink in this process; after
//! `SECONDS` the CPU time of Osprey's own threads (`osprey-collector`,
//! `osprey-export-otlp`, from `/proc/self/task/*/stat`) is divided by the
//! wall time, and the resident memory growth is printed. The sink's
//! thread is not counted. A second run with the sampler off gives the
//! baseline of an idle collector.
//!
//! `cargo run --release -p osprey-benches --bin host_cost [-- SECONDS [TOP_PROCESSES]]`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use osprey::Config;
use osprey::export::otlp::OtlpConfig;

/// Answers every HTTP request with an empty 200, forever.
fn sink() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::Builder::new()
        .name("sink".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    loop {
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                        if conn.write_all(reply).is_err() {
                            return;
                        }
                    }
                });
            }
        })
        .unwrap();
    port
}

/// CPU seconds of this process's threads whose name starts with `osprey-`.
fn osprey_cpu_seconds() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with("osprey-") {
            continue;
        }
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        ticks += rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    }
    ticks as f64 / hz
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn run(seconds: u64, host: bool, top: usize, detail: u32, port: u16) {
    let guard = osprey::init(
        Config::default()
            .service_name("host-cost")
            .host_metrics(host)
            .host_top_processes(top)
            .host_detail_interval(detail)
            .exporter_spec(OtlpConfig::default().endpoint(&format!("http://127.0.0.1:{port}"))),
    )
    .unwrap();
    // Let the first sample and export settle, then measure.
    std::thread::sleep(Duration::from_secs(2));
    let (cpu0, rss0, t0) = (osprey_cpu_seconds(), rss_kib(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, rss1, wall) = (osprey_cpu_seconds(), rss_kib(), t0.elapsed().as_secs_f64());
    let stats = osprey::stats();
    drop(guard);
    println!(
        "host.metrics={host:<5} top_processes={top} detail_interval_s={detail}: {:.3} % of one core ({:.1} ms CPU per second), \
         RSS {} KiB at start, +{} KiB while running, export failures {}",
        100.0 * (cpu1 - cpu0) / wall,
        1000.0 * (cpu1 - cpu0) / wall,
        rss0,
        rss1 as i64 - rss0 as i64,
        stats
            .exporters
            .iter()
            .map(|e| e.failed_batches)
            .sum::<u64>(),
    );
}

/// This thread's CPU time, seconds.
fn thread_cpu() -> f64 {
    // SAFETY: timespec is plain data; an all-zero value is valid.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU ms per call of `f`, over `n` calls on this thread.
fn cpu_ms(n: u32, mut f: impl FnMut()) -> f64 {
    f();
    let t = thread_cpu();
    for _ in 0..n {
        f();
    }
    (thread_cpu() - t) * 1000.0 / f64::from(n)
}

/// What each part of a sample costs, CPU ms per call on this thread.
fn parts() {
    use osprey::host::{HostSampler, net, process};
    let proc_dir = std::path::Path::new("/proc");
    let mut all = Vec::new();
    let mut top0 = HostSampler::at("/", 0, Some("h"), None);
    let mut top5 = HostSampler::at("/", 5, Some("h"), None);
    let mut default = HostSampler::at("/", 5, Some("h"), None).detail_every(5);
    println!(
        "CPU ms per call: sample(top 0) {:.3}, sample(top 5) {:.3}, \
         sample(top 5, TCP and processes every 5th) {:.3}, TCP states by netlink {:.3}, \
         by /proc/net/tcp{{,6}} {:.3}, process scan {:.3}",
        cpu_ms(20, || drop(top0.sample())),
        cpu_ms(20, || drop(top5.sample())),
        cpu_ms(20, || drop(default.sample())),
        cpu_ms(20, || {
            std::hint::black_box(net::diag_tcp());
        }),
        cpu_ms(20, || {
            std::hint::black_box(net::read_tcp(proc_dir));
        }),
        cpu_ms(20, || process::scan(proc_dir, &mut all)),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let top: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let processes = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .count();
    println!("{seconds} s per run, {processes} processes on this machine");
    parts();
    let port = sink();
    run(seconds, false, top, 5, port);
    run(seconds, true, top, 1, port);
    run(seconds, true, top, 5, port);
}
