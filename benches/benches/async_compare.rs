//! Async work in one run: one root plus `n` awaited children (`args`), each
//! child yielding once so it is polled twice and may resume on the other
//! worker, on a two-worker multi-thread tokio runtime. Four tasks run
//! `reps(n)` transactions each, concurrently, [`ROUNDS`] times per
//! iteration; divan counts the spans as items. `bare` is the same work
//! without tracing: subtract it for each library's own cost per span.
//!
//! Each iteration ends with the library's flush, so the work its own
//! threads do (Osprey's collector and exporter, fastrace's global
//! collector, the OpenTelemetry batch processor) is inside the time, as it
//! is on a machine whose cores are all busy. An iteration is some 20 000
//! spans, so the flush's own round trip is a small part of it.
//!
//! Wall time on two busy cores shows whichever thread is the bottleneck;
//! the process's CPU time per span (every thread, the flush included) is
//! printed at the end as well, as `cpu ns per span: LIBRARY N VALUE`, and
//! split by thread role (`workers`, `main`, `background`: the library's own
//! threads) as `ROLE cpu ns per span: LIBRARY N VALUE`.
//!
//! `cargo bench -p osprey-benches --bench async_compare`

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use divan::Bencher;
use divan::counter::ItemsCount;
use osprey_benches as peers;
use tokio::runtime::Runtime;

fn main() {
    peers::osprey_start();
    peers::fastrace_start();
    let _ = peers::tracing_otel();
    let _ = peers::tracing_osprey();
    divan::main();
    // Everything recorded reached the exporter (native API and layer).
    osprey::flush(std::time::Duration::from_secs(10));
    let (produced, dropped_queue, dropped_export, delivered) = peers::osprey_counts();
    eprintln!(
        "osprey transactions: produced {produced}, dropped before the collector \
         {dropped_queue}, at the exporter {dropped_export}, delivered {delivered}"
    );
    for (lib, n, ns) in CPU_PER_SPAN.lock().expect("cpu table").iter() {
        println!("cpu ns per span: {lib} {n} {ns:.0}");
    }
    for (lib, n, roles) in ROLE_CPU_PER_SPAN.lock().expect("cpu table").iter() {
        for (role, ns) in Roles::NAMES.iter().zip(roles) {
            println!("{role} cpu ns per span: {lib} {n} {ns:.0}");
        }
    }
    println!("rounds per iteration: {ROUNDS}");
    fastrace::flush();
    eprintln!(
        "fastrace spans delivered: {}",
        peers::FASTRACE_DELIVERED.load(std::sync::atomic::Ordering::Relaxed)
    );
}

const N: &[usize] = &[1, 10, 100];

/// Tasks per iteration.
const TASKS: usize = 4;

/// Times the four tasks run per iteration, before the flush.
const ROUNDS: usize = 20;

/// Transactions per task and round: about 1000 spans' worth in all.
fn reps(n: usize) -> usize {
    (1000 / TASKS / (n + 1)).max(1)
}

/// Spans per iteration.
fn spans(n: usize) -> usize {
    ROUNDS * TASKS * reps(n) * (n + 1)
}

/// Runs `TASKS` tasks of `reps(n)` transactions each, concurrently.
fn run<F, Fut>(rt: &Runtime, n: usize, txn: F)
where
    F: Fn(usize) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    rt.block_on(async move {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..reps(n) {
                        txn(black_box(n)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
}

/// The process's CPU time per span of each measured cell: (library, n, ns).
static CPU_PER_SPAN: Mutex<Vec<(&str, usize, f64)>> = Mutex::new(Vec::new());

/// The same by thread role (see [`Roles`]): (library, n, roles' ns).
static ROLE_CPU_PER_SPAN: Mutex<Vec<(&str, usize, [f64; 3])>> = Mutex::new(Vec::new());

/// CPU time of this process's threads by role, in nanoseconds: the
/// runtime's workers, the main thread (which waits for them and flushes),
/// and the rest, which are the libraries' own threads (Osprey's collector
/// and exporter, fastrace's collector, the OpenTelemetry batch processor).
/// Read from `/proc/self/task/*/schedstat`, whose first field is a thread's
/// time on a CPU; all zero where that is not available.
#[derive(Clone, Copy, Default)]
struct Roles([u64; 3]);

impl Roles {
    const NAMES: [&str; 3] = ["workers", "main", "background"];

    fn now() -> Self {
        let mut roles = [0u64; 3];
        let pid = std::process::id().to_string();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Self(roles);
        };
        for task in tasks.flatten() {
            let path = task.path();
            let read = |file: &str| std::fs::read_to_string(path.join(file)).unwrap_or_default();
            let on_cpu: u64 = read("schedstat")
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse().ok())
                .unwrap_or(0);
            let role = if read("comm").trim() == "tokio-rt-worker" {
                0
            } else if task.file_name().to_str() == Some(pid.as_str()) {
                1
            } else {
                2
            };
            roles[role] += on_cpu;
        }
        Self(roles)
    }

    fn since(self, earlier: Self) -> [u64; 3] {
        std::array::from_fn(|i| self.0[i].saturating_sub(earlier.0[i]))
    }
}

/// CPU time of every thread of this process, in nanoseconds.
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0;
    assert!(ok, "the process CPU clock reads");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Measures `ROUNDS` runs followed by `flush`, which returns once the
/// library delivered what they recorded; notes the CPU time per span of
/// `lib` at `n` over every iteration divan ran.
fn measure<F, Fut>(bencher: Bencher, lib: &'static str, rt: &Runtime, n: usize, txn: F, flush: fn())
where
    F: Fn(usize) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    peers::warm_up(|| run(rt, n, txn));
    flush();
    let iterations = AtomicU64::new(0);
    let cpu = process_cpu_ns();
    let roles = Roles::now();
    bencher.counter(ItemsCount::new(spans(n))).bench(|| {
        for _ in 0..ROUNDS {
            run(rt, n, txn);
        }
        flush();
        iterations.fetch_add(1, Ordering::Relaxed);
    });
    let cpu = process_cpu_ns() - cpu;
    let roles = Roles::now().since(roles);
    let spans = (iterations.into_inner() * spans(n) as u64) as f64;
    CPU_PER_SPAN
        .lock()
        .expect("cpu table")
        .push((lib, n, cpu as f64 / spans));
    ROLE_CPU_PER_SPAN
        .lock()
        .expect("cpu table")
        .push((lib, n, roles.map(|ns| ns as f64 / spans)));
}

fn no_flush() {}

fn osprey_flush() {
    assert!(
        osprey::flush(std::time::Duration::from_secs(10)),
        "osprey flushed"
    );
}

fn otel_flush() {
    peers::tracing_otel()
        .1
        .provider
        .force_flush()
        .expect("the batch processor flushed");
}

fn runtime(
    slot: &'static OnceLock<Runtime>,
    dispatch: Option<&'static tracing::Dispatch>,
) -> &'static Runtime {
    slot.get_or_init(|| peers::async_runtime(dispatch))
}

#[divan::bench(args = N)]
fn bare(bencher: Bencher, n: usize) {
    static RT: OnceLock<Runtime> = OnceLock::new();
    measure(
        bencher,
        "bare",
        runtime(&RT, None),
        n,
        peers::bare_async_txn,
        no_flush,
    );
}

#[divan::bench(args = N)]
fn osprey(bencher: Bencher, n: usize) {
    static RT: OnceLock<Runtime> = OnceLock::new();
    measure(
        bencher,
        "osprey",
        runtime(&RT, None),
        n,
        peers::osprey_async_txn,
        osprey_flush,
    );
}

#[divan::bench(args = N)]
fn osprey_layer(bencher: Bencher, n: usize) {
    static RT: OnceLock<Runtime> = OnceLock::new();
    let rt = runtime(&RT, Some(peers::tracing_osprey()));
    measure(
        bencher,
        "osprey_layer",
        rt,
        n,
        peers::tracing_async_txn,
        osprey_flush,
    );
}

#[divan::bench(args = N)]
fn fastrace(bencher: Bencher, n: usize) {
    static RT: OnceLock<Runtime> = OnceLock::new();
    measure(
        bencher,
        "fastrace",
        runtime(&RT, None),
        n,
        peers::fastrace_async_txn,
        fastrace::flush,
    );
}

#[divan::bench(args = N)]
fn tracing_otel(bencher: Bencher, n: usize) {
    static RT: OnceLock<Runtime> = OnceLock::new();
    let rt = runtime(&RT, Some(&peers::tracing_otel().0));
    measure(
        bencher,
        "tracing_otel",
        rt,
        n,
        peers::tracing_async_txn,
        otel_flush,
    );
}
