//! Storage-engine candidates for the Osprey server, measured on one
//! deterministic workload (see README.md).
//!
//! `storage-candidates run` (the default) ingests the workload into every
//! candidate, each in a fresh process, then opens each store in fresh
//! processes and times the queries, interleaving candidates, and prints a
//! table of medians. `ingest NAME DIR` and `query NAME DIR` run one step.

#[cfg(feature = "fjall")]
mod lsm;
mod model;
#[cfg(feature = "parquet")]
mod pq;
mod seglog;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use model::{AggBuilder, AggRow, Filter, Generator, Span, Summary, Txn};

/// Errors of the harness: any candidate's error, boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result with [`Error`].
pub type Res<T> = Result<T, Error>;

/// One XLog dot as streamed: end, elapsed, error, ids.
#[derive(Clone, Copy, Debug)]
pub struct Dot {
    /// End µs.
    pub end_us: u64,
    /// Elapsed µs.
    pub elapsed_us: u32,
    /// Failed.
    pub error: bool,
    /// Ingest sequence (the transaction's row id).
    pub seq: u64,
    /// Root span id.
    pub span_id: [u8; 8],
}

impl From<&Summary> for Dot {
    fn from(s: &Summary) -> Self {
        Dot {
            end_us: s.end_us,
            elapsed_us: s.elapsed_us,
            error: s.error,
            seq: s.seq,
            span_id: s.span_id,
        }
    }
}

/// The write side of a candidate.
pub trait Writer {
    /// Stores one request's transactions and the aggregate rows that closed.
    fn append(&mut self, txns: &[Txn], aggs: &[AggRow]) -> Res<()>;
    /// Makes everything appended so far durable (fsync).
    fn sync(&mut self) -> Res<()>;
}

/// The read side of a candidate.
pub trait Reader {
    /// Streams the dots whose end is in `[from_us, to_us)` in time order.
    fn xlog(&mut self, from_us: u64, to_us: u64, f: &mut dyn FnMut(Dot)) -> Res<()>;
    /// The first `limit` summaries in `[from_us, to_us)` accepted by `filter`, in time order.
    fn first_page(
        &mut self,
        from_us: u64,
        to_us: u64,
        filter: Filter,
        limit: usize,
    ) -> Res<Vec<Summary>>;
    /// Every transaction of a trace with its spans.
    fn trace(&mut self, trace_id: &[u8; 16]) -> Res<Vec<(Summary, Vec<Span>)>>;
    /// The aggregate rows of seconds in `[from_s, to_s)`.
    fn aggs(&mut self, from_s: u64, to_s: u64) -> Res<Vec<AggRow>>;
}

const CANDIDATES: [&str; 4] = ["seglog", "sqlite", "fjall", "parquet"];

fn open_writer(name: &str, dir: &Path) -> Res<Box<dyn Writer>> {
    Ok(match name {
        "seglog" => Box::new(seglog::SegWriter::create(dir)?),
        #[cfg(feature = "sqlite")]
        "sqlite" => Box::new(sqlite::SqlWriter::create(dir)?),
        #[cfg(feature = "fjall")]
        "fjall" => Box::new(lsm::LsmWriter::create(dir)?),
        #[cfg(feature = "parquet")]
        "parquet" => Box::new(pq::PqWriter::create(dir)?),
        other => return Err(format!("unknown candidate {other}").into()),
    })
}

fn open_reader(name: &str, dir: &Path) -> Res<Box<dyn Reader>> {
    Ok(match name {
        "seglog" => Box::new(seglog::SegReader::open(dir)?),
        #[cfg(feature = "sqlite")]
        "sqlite" => Box::new(sqlite::SqlReader::open(dir)?),
        #[cfg(feature = "fjall")]
        "fjall" => Box::new(lsm::LsmReader::open(dir)?),
        #[cfg(feature = "parquet")]
        "parquet" => Box::new(pq::PqReader::open(dir)?),
        other => return Err(format!("unknown candidate {other}").into()),
    })
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(d)
}

/// Transactions in the workload (`SC_TXNS`, default 2 000 000).
fn total_txns() -> u64 {
    env_u64("SC_TXNS", 2_000_000)
}

/// Transactions per request (`SC_REQ`, default 100) and per fsync (`SC_SYNC`, default 1 000).
fn batch_sizes() -> (usize, usize) {
    (
        env_u64("SC_REQ", 100) as usize,
        env_u64("SC_SYNC", 1000) as usize,
    )
}

/// CPU seconds (user + system) of this process so far, all threads.
fn process_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU seconds of the calling thread so far.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Peak resident set (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            n += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}

fn result(k: &str, v: f64) {
    println!("RESULT {k} {v}");
}

fn ingest(name: &str, dir: &Path) -> Res<()> {
    let total = total_txns();
    let (req, sync_every) = batch_sizes();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let mut w = open_writer(name, dir)?;
    let mut g = Generator::new(total);
    let mut agg = AggBuilder::default();
    let (mut spans, mut txns_n, mut since_sync) = (0u64, 0u64, 0usize);
    let mut in_store = Duration::ZERO;
    let mut gen_time = Duration::ZERO;
    let mut gen_cpu = 0.0;
    let cpu0 = process_cpu_s();
    let wall0 = Instant::now();
    let mut batch = Vec::with_capacity(req);
    let mut closed = Vec::new();
    loop {
        let t0 = Instant::now();
        let c0 = thread_cpu_s();
        batch.clear();
        closed.clear();
        while batch.len() < req {
            match g.next_txn() {
                Some(t) => {
                    agg.add(&t.s, &mut closed);
                    spans += t.spans.len() as u64;
                    batch.push(t);
                }
                None => break,
            }
        }
        gen_time += t0.elapsed();
        gen_cpu += thread_cpu_s() - c0;
        if batch.is_empty() {
            break;
        }
        let t1 = Instant::now();
        w.append(&batch, &closed)?;
        txns_n += batch.len() as u64;
        since_sync += batch.len();
        if since_sync >= sync_every {
            w.sync()?;
            since_sync = 0;
        }
        in_store += t1.elapsed();
    }
    let t1 = Instant::now();
    // An orderly flush of the open second's aggregates; the store itself is
    // not closed (no seal, no compaction): the reader opens it as after a crash.
    agg.flush(&mut closed);
    w.append(&[], &closed)?;
    w.sync()?;
    in_store += t1.elapsed();
    let wall = wall0.elapsed();
    let cpu = process_cpu_s() - cpu0;
    // Simulate a crash: no orderly close (destructors may still run; the
    // candidates' Drop impls do nothing beyond what a crash loses).
    std::mem::forget(w);
    let bytes = dir_bytes(dir);
    result("txns", txns_n as f64);
    result("spans", spans as f64);
    result("ingest_wall_s", wall.as_secs_f64());
    result("ingest_store_s", in_store.as_secs_f64());
    result("ingest_gen_s", gen_time.as_secs_f64());
    result("ingest_gen_cpu_s", gen_cpu);
    result("ingest_cpu_s", cpu);
    result("ingest_store_cpu_s", cpu - gen_cpu);
    result("spans_per_s_wall", spans as f64 / in_store.as_secs_f64());
    result("spans_per_cpu_s", spans as f64 / (cpu - gen_cpu).max(1e-3));
    result("disk_bytes", bytes as f64);
    result("bytes_per_span", bytes as f64 / spans as f64);
    result("ingest_peak_rss_mib", peak_rss_mib());
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// With `SC_COLD=1`, drops this store's files from the OS page cache
/// (`posix_fadvise(DONTNEED)` on each file: other processes' cached data is
/// untouched), so the next query reads from the disk as on a store larger
/// than memory.
fn evict(dir: &Path) {
    if std::env::var("SC_COLD").as_deref() != Ok("1") {
        return;
    }
    fn walk(p: &Path) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path);
            } else if let Ok(f) = std::fs::File::open(&path) {
                use std::os::fd::AsRawFd;
                // SAFETY: a valid open descriptor; the call only advises the kernel.
                unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            }
        }
    }
    walk(dir);
}

fn query(name: &str, dir: &Path) -> Res<()> {
    let total = total_txns();
    let g = Generator::new(total);
    let day_us = 86_400_000_000u64;
    let week0 = model::WEEK_START_S * 1_000_000;
    // Open and answer the last minute: "restart to serving".
    evict(dir);
    let t0 = Instant::now();
    let mut r = open_reader(name, dir)?;
    let end = g.end_us_of(total - 1) + 1;
    let mut n_last = 0u64;
    r.xlog(end - 60_000_000, end, &mut |_| n_last += 1)?;
    let restart = t0.elapsed();
    result("restart_ms", ms(restart));
    let expect_last = total - g.count_before(end - 60_000_000);
    check("last minute", n_last, expect_last)?;

    // XLog: the rows one hour holds at 10 M transactions a week.
    let hours = (10_000_000u64.div_ceil(total)).max(1);
    let mut xs = Vec::new();
    let mut rows = 0;
    for d in [1u64, 3, 5] {
        let from = week0 + d * day_us + 12 * 3_600_000_000;
        let to = from + hours * 3_600_000_000;
        let mut n = 0u64;
        let mut chk = 0u64;
        evict(dir);
        let t = Instant::now();
        r.xlog(from, to, &mut |dot| {
            n += 1;
            chk = chk.wrapping_add(
                dot.seq
                    ^ dot.elapsed_us as u64
                    ^ dot.error as u64
                    ^ u64::from_le_bytes(dot.span_id),
            );
        })?;
        xs.push(ms(t.elapsed()));
        check("xlog rows", n, g.count_before(to) - g.count_before(from))?;
        println!("CHECK xlog{d} {chk}");
        rows = n;
    }
    result("xlog_rows", rows as f64);
    result("xlog_ms", median(&mut xs));

    // First page over 24 h, three filters, three days.
    let mut fp: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for d in [1u64, 3, 5] {
        let from = week0 + d * day_us;
        let to = from + day_us;
        // A client IP seen that day: the one of the day's first transaction.
        let ip = {
            let mut ip = 0;
            let page = r.first_page(from, to, Filter::SlowerThan(0), 1)?;
            if let Some(s) = page.first() {
                ip = s.client_ip;
            }
            ip
        };
        for f in [
            Filter::ErrorsOf(0),
            Filter::SlowerThan(5_000_000),
            Filter::ClientIp(ip),
        ] {
            evict(dir);
            let t = Instant::now();
            let page = r.first_page(from, to, f, 100)?;
            fp.entry(f.label()).or_default().push(ms(t.elapsed()));
            if !page
                .iter()
                .all(|s| f.accepts(s) && s.end_us >= from && s.end_us < to)
                || !page
                    .windows(2)
                    .all(|w| (w[0].end_us, w[0].seq) <= (w[1].end_us, w[1].seq))
            {
                return Err(
                    format!("{name}: first page of {f:?} has a wrong or unordered row").into(),
                );
            }
            println!(
                "CHECK page{d}-{} {} {:?}",
                f.label(),
                page.len(),
                page.last().map(|s| s.seq)
            );
        }
    }
    let mut all = Vec::new();
    for (k, mut v) in fp {
        all.extend(v.iter().copied());
        result(&format!("page_ms[{k}]"), median(&mut v));
    }
    result("page_ms_max", all.iter().copied().fold(0.0, f64::max));

    // Trace by id: 20 transactions spread over the week.
    let mut ts = Vec::new();
    let mut h = model::Rng(7);
    for _ in 0..20 {
        let k = h.below(total);
        let id = model::trace_id_of(k);
        evict(dir);
        let t = Instant::now();
        let tr = r.trace(&id)?;
        ts.push(ms(t.elapsed()));
        check(
            "trace transactions",
            tr.len() as u64,
            model::trace_len(k, total) as u64,
        )?;
        if !tr
            .iter()
            .all(|(s, sp)| s.trace_id == id && !sp.is_empty() && sp[0].span_id == s.span_id)
        {
            return Err(format!("{name}: trace {k} came back wrong").into());
        }
    }
    result("trace_ms", median(&mut ts));
    result("trace_ms_max", ts.iter().copied().fold(0.0, f64::max));

    // Per-second aggregates over 24 h.
    let mut ag = Vec::new();
    for d in [1u64, 3, 5] {
        let from = model::WEEK_START_S + d * 86_400;
        evict(dir);
        let t = Instant::now();
        let rows = r.aggs(from, from + 86_400)?;
        let (secs, count) = model::per_second(rows, from, from + 86_400);
        ag.push(ms(t.elapsed()));
        check(
            "aggregate count",
            count,
            g.count_before((from + 86_400) * 1_000_000) - g.count_before(from * 1_000_000),
        )?;
        println!("CHECK agg{d} {secs} {count}");
    }
    result("agg24h_ms", median(&mut ag));
    result("query_peak_rss_mib", peak_rss_mib());
    Ok(())
}

fn check(what: &str, got: u64, want: u64) -> Res<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, want {want}").into())
    }
}

fn run_child(args: &[&str], cold: bool) -> Res<BTreeMap<String, f64>> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(args)
        .env("SC_COLD", if cold { "1" } else { "0" })
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            text
        )
        .into());
    }
    let mut m = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("RESULT ") {
            let (k, v) = rest.rsplit_once(' ').unwrap();
            let k = if cold {
                format!("cold:{k}")
            } else {
                k.to_string()
            };
            m.insert(k, v.parse().unwrap_or(f64::NAN));
        }
    }
    eprintln!("{args:?}: {m:?}");
    Ok(m)
}

fn run(base: &Path) -> Res<()> {
    let names: Vec<String> = std::env::var("SC_CANDIDATES")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_else(|_| CANDIDATES.iter().map(|s| s.to_string()).collect());
    let ingest_rounds = env_u64("SC_INGEST_ROUNDS", 1);
    let query_rounds = env_u64("SC_QUERY_ROUNDS", 3);
    let mut res: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for round in 0..ingest_rounds {
        for n in &names {
            let dir = base.join(n);
            eprintln!("round {round}: ingest {n}");
            for (k, v) in run_child(&["ingest", n, dir.to_str().unwrap()], false)? {
                res.entry((n.clone(), k)).or_default().push(v);
            }
        }
    }
    let cold_rounds = env_u64("SC_COLD_ROUNDS", 0);
    for round in 0..query_rounds + cold_rounds {
        let cold = round >= query_rounds;
        for n in &names {
            let dir = base.join(n);
            eprintln!(
                "round {round}: query {n}{}",
                if cold { " (cold)" } else { "" }
            );
            for (k, v) in run_child(&["query", n, dir.to_str().unwrap()], cold)? {
                res.entry((n.clone(), k)).or_default().push(v);
            }
        }
    }
    let keys: Vec<String> = {
        let mut k: Vec<String> = res.keys().map(|(_, k)| k.clone()).collect();
        k.sort();
        k.dedup();
        k
    };
    print!("| metric (median of runs) |");
    for n in &names {
        print!(" {n} |");
    }
    println!();
    print!("|---|");
    for _ in &names {
        print!("---:|");
    }
    println!();
    for k in keys {
        print!("| {k} |");
        for n in &names {
            match res.get_mut(&(n.clone(), k.clone())) {
                Some(v) => {
                    let spread = v.iter().copied().fold(f64::MIN, f64::max)
                        - v.iter().copied().fold(f64::MAX, f64::min);
                    let m = median(v);
                    if v.len() > 1 && m != 0.0 {
                        print!(" {} (±{:.0}%) |", fmt(m), spread / 2.0 / m * 100.0);
                    } else {
                        print!(" {} |", fmt(m));
                    }
                }
                None => print!(" – |"),
            }
        }
        println!();
    }
    Ok(())
}

fn fmt(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = PathBuf::from(std::env::var("SC_DIR").unwrap_or_else(|_| "target/sc-data".into()));
    let r = match args.get(1).map(String::as_str) {
        None | Some("run") => run(&base),
        Some("ingest") if args.len() == 4 => ingest(&args[2], Path::new(&args[3])),
        Some("query") if args.len() == 4 => query(&args[2], Path::new(&args[3])),
        _ => Err("usage: storage-candidates [run | ingest NAME DIR | query NAME DIR]".into()),
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    /// Every candidate stores a small workload and answers every query as
    /// the generator says (`query` checks counts, filters, order, traces and
    /// aggregate totals and fails on a wrong answer); the segment log also
    /// after a torn frame was appended to its open segment.
    #[test]
    fn every_candidate_answers_correctly() {
        // SAFETY: the crate's only test sets the variable before anything
        // reads the environment; no other thread is running yet.
        unsafe { std::env::set_var("SC_TXNS", "20000") };
        let base = std::env::temp_dir().join(format!("sc-test-{}", std::process::id()));
        for name in super::CANDIDATES {
            let dir = base.join(name);
            super::ingest(name, &dir).unwrap_or_else(|e| panic!("{name} ingest: {e}"));
            super::query(name, &dir).unwrap_or_else(|e| panic!("{name} query: {e}"));
        }
        let seg = base.join("seglog");
        let mut logs: Vec<_> = std::fs::read_dir(&seg)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        let last = logs.last().unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        super::query("seglog", &seg).unwrap_or_else(|e| panic!("seglog after a torn tail: {e}"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
