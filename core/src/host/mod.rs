//! Host and container metrics, read once a second on the collector thread
//! (`host.metrics=true`) or by `osprey host`, exported as OTLP metrics with
//! OpenTelemetry semantic-convention names:
//!
//! | metric | unit | attributes | from |
//! |---|---|---|---|
//! | `system.cpu.time` | s | `cpu.mode` | `/proc/stat` |
//! | `system.cpu.utilization` | 1 | `cpu.mode` | `/proc/stat`, between two samples |
//! | `system.cpu.logical.count` | {cpu} | | `/proc/stat` |
//! | `system.cpu.load_average.1m` `.5m` `.15m` | {thread} | | `/proc/loadavg` |
//! | `system.memory.usage` | By | `system.memory.state` (used, free, buffers, cached) | `/proc/meminfo` |
//! | `system.memory.limit` | By | | `/proc/meminfo` |
//! | `system.linux.memory.available` | By | | `/proc/meminfo` |
//! | `system.memory.utilization` | 1 | `system.memory.state`=used | `/proc/meminfo` |
//! | `system.paging.usage` | By | `system.paging.state` (used, free) | `/proc/meminfo` |
//! | `system.disk.io`, `system.disk.operations` | By, {operation} | `system.device`, `disk.io.direction` | `/proc/diskstats` |
//! | `system.disk.io_time` | s | `system.device` | `/proc/diskstats` |
//! | `system.filesystem.usage` | By | `system.device`, `system.filesystem.mountpoint`, `.type`, `.state` | mounts, `statvfs` |
//! | `system.filesystem.utilization` | 1 | as above without state | mounts, `statvfs` |
//! | `system.network.io`, `.packets`, `.errors`, `.dropped` | By, {packet}, {error}, {packet} | `network.interface.name`, `network.io.direction` | `/proc/net/dev` |
//! | `system.network.connections` | {connection} | `network.transport`=tcp, `network.connection.state` | `sock_diag` netlink (else `/proc/net/tcp{,6}`) |
//! | `process.cpu.utilization` | 1 | `process.pid`, `process.executable.name` | top processes, `/proc/<pid>/stat` |
//! | `process.memory.usage` | By | as above | top processes, `/proc/<pid>/stat` |
//! | `container.cpu.time` | s | `cpu.mode` (user, system) | cgroup v2 `cpu.stat` |
//! | `container.cpu.throttled.time` | s | | cgroup v2 `cpu.stat` |
//! | `container.cpu.periods`, `container.cpu.throttled.periods` | {period} | | cgroup v2 `cpu.stat` |
//! | `container.memory.usage`, `container.memory.limit` | By | | cgroup v2 `memory.current`, `memory.max` |
//! | `container.memory.oom_kills` | {process} | | cgroup v2 `memory.events` |
//!
//! Every point also carries `host.name` (and container points
//! `container.id`, when known) besides the resource: a server that keys
//! series by service and point attributes, as Osprey's does, then keeps
//! the hosts of one service apart. Counters are totals since boot (or
//! since the cgroup was made); their start time is the sampler's start.
//! The top processes are the [`HostConfig::top_processes`] busiest by CPU
//! since the previous scan and as many largest by resident memory. TCP
//! states and the process scan cost more than everything else together
//! (measured in `BENCHMARKS.md`): they run every
//! [`HostConfig::detail_every`] samples (`host.detail_interval_s`, 5 by
//! default; 1 for every second).
//!
//! # Why our own parsers
//! The files are line-oriented and stable kernel ABI; a parser each is a
//! few dozen lines, tested on fixture text and against the live `/proc`.
//! The `procfs` crate would add rustix, bitflags and more to a library
//! that every instrumented JVM loads, and does not read cgroup v2 files or
//! fixture trees under an arbitrary root; `sysinfo` samples far more than
//! we need per call. Everything here is read below a root directory, so
//! tests run it on fixture trees, and each sample's cost is bounded:
//! at most [`disk::MAX_DEVICES`] devices and mounts, [`MAX_INTERFACES`]
//! interfaces, [`process::MAX_PROCESSES`] processes and
//! [`net::MAX_TCP_LINES`] connection lines per file; network
//! filesystems are never `statvfs`ed (a hung server would block).

pub mod cgroup;
pub mod cpu;
pub mod disk;
pub mod memory;
pub mod net;
pub mod process;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{AttrValue, Attribute, MetricKind, MetricRecord, MetricValue, Resource};
use crate::names::{self, NameId};

/// Most network interfaces reported per sample.
pub const MAX_INTERFACES: usize = 64;

/// Host metrics settings (config keys `host.metrics`, `host.top_processes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Sample once a second on the collector thread (off by default).
    pub enabled: bool,
    /// Processes listed by CPU and by memory; 0 skips the process scan.
    pub top_processes: usize,
    /// The two costly parts — TCP states (the kernel walks its whole
    /// connection table) and the process scan (a file per process) — run
    /// every this many samples (seconds); the rest every sample.
    pub detail_every: u32,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            top_processes: 5,
            detail_every: 5,
        }
    }
}

/// Reads the host's and the process's cgroup's state and turns it into
/// metric records; keeps what rates need between samples.
pub struct HostSampler {
    root: PathBuf,
    proc_dir: PathBuf,
    cgroup_dir: Option<PathBuf>,
    ticks_per_second: f64,
    page_bytes: u64,
    top: usize,
    host_attrs: Vec<Attribute>,
    container_attrs: Vec<Attribute>,
    names: HashMap<&'static str, NameId>,
    start_unix_ns: u64,
    previous_cpu: Option<cpu::CpuTimes>,
    logical_cpus: usize,
    previous_procs: HashMap<u32, (u64, u64)>,
    previous_scan_unix_ns: u64,
    detail_every: u32,
    samples: u64,
    scan: Vec<process::ProcStat>,
}

impl HostSampler {
    /// A sampler of this machine, its points tagged with `resource`'s
    /// `host.name` and `container.id`.
    pub fn new(config: &HostConfig, resource: &Resource) -> Self {
        let get = |key: &str| {
            resource
                .attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.to_string())
        };
        Self::at(
            "/",
            config.top_processes,
            get("host.name").as_deref(),
            get("container.id").as_deref(),
        )
        .detail_every(config.detail_every)
    }

    /// TCP states and the process scan every `n` samples (1: every one).
    pub fn detail_every(mut self, n: u32) -> Self {
        self.detail_every = n.max(1);
        self
    }

    /// A sampler reading below `root` (`/` for this machine; a fixture tree
    /// with `proc/` and `sys/fs/cgroup/` in tests).
    pub fn at(
        root: impl Into<PathBuf>,
        top_processes: usize,
        host_name: Option<&str>,
        container_id: Option<&str>,
    ) -> Self {
        let root = root.into();
        let proc_dir = root.join("proc");
        let cgroup_dir = {
            let self_dir = proc_dir.join("self");
            let read = |f: &str| std::fs::read_to_string(self_dir.join(f)).unwrap_or_default();
            cgroup::locate(&root, &read("cgroup"), &read("mountinfo"))
        };
        let mut names = HashMap::new();
        let mut attr = |k: &'static str, v: &str| Attribute {
            key: *names.entry(k).or_insert_with(|| names::intern(k)),
            value: AttrValue::Str(v.to_owned()),
        };
        let host_attrs: Vec<Attribute> = host_name
            .map(|h| attr("host.name", h))
            .into_iter()
            .collect();
        let mut container_attrs = host_attrs.clone();
        container_attrs.extend(container_id.map(|c| attr("container.id", c)));
        Self {
            root,
            proc_dir,
            cgroup_dir,
            // SAFETY: sysconf has no preconditions.
            ticks_per_second: match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
                t if t > 0 => t as f64,
                _ => 100.0,
            },
            // SAFETY: as above.
            page_bytes: match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
                p if p > 0 => p as u64,
                _ => 4096,
            },
            top: top_processes,
            host_attrs,
            container_attrs,
            names,
            start_unix_ns: unix_ns_now(),
            previous_cpu: None,
            logical_cpus: 1,
            previous_procs: HashMap::new(),
            previous_scan_unix_ns: 0,
            detail_every: 1,
            samples: 0,
            scan: Vec::new(),
        }
    }

    /// The cgroup v2 directory the container metrics come from, if any.
    pub fn cgroup_dir(&self) -> Option<&Path> {
        self.cgroup_dir.as_deref()
    }

    /// One sample, stamped now.
    pub fn sample(&mut self) -> Vec<MetricRecord> {
        self.sample_at(unix_ns_now())
    }

    /// One sample stamped `unix_ns`: every metric the files allow (a file
    /// that is missing or unreadable leaves its metrics out).
    pub fn sample_at(&mut self, unix_ns: u64) -> Vec<MetricRecord> {
        // Counters keep one start time, never after their first point.
        self.start_unix_ns = self.start_unix_ns.min(unix_ns);
        let mut out = Points {
            records: Vec::with_capacity(256),
            unix_ns,
            start_unix_ns: self.start_unix_ns,
        };
        let detail = self.samples.is_multiple_of(u64::from(self.detail_every));
        self.samples += 1;
        self.cpu(&mut out);
        self.memory(&mut out);
        self.disks(&mut out);
        self.network(&mut out, detail);
        if self.top > 0 && detail {
            let since = self.previous_scan_unix_ns;
            let elapsed_s = (since > 0 && unix_ns > since).then(|| (unix_ns - since) as f64 / 1e9);
            self.processes(&mut out, elapsed_s);
            self.previous_scan_unix_ns = unix_ns;
        }
        self.container(&mut out);
        out.records
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_dir.join(path)).ok()
    }

    fn id(&mut self, s: &'static str) -> NameId {
        *self.names.entry(s).or_insert_with(|| names::intern(s))
    }

    /// A record of `metric` with its [`Tags`] attributes plus `extra`.
    fn put(
        &mut self,
        out: &mut Points,
        metric: Metric,
        extra: &[(&'static str, AttrValue)],
        value: MetricValue,
    ) {
        let Metric(name, unit, kind, tags) = metric;
        let mut attributes = match tags {
            Tags::Host => self.host_attrs.clone(),
            Tags::Container => self.container_attrs.clone(),
        };
        for (k, v) in extra {
            attributes.push(Attribute {
                key: self.id(k),
                value: v.clone(),
            });
        }
        out.records.push(MetricRecord {
            name: self.id(name),
            unit: self.id(unit),
            kind,
            attributes,
            start_unix_ns: match kind {
                MetricKind::Gauge => out.unix_ns,
                _ => out.start_unix_ns,
            },
            unix_ns: out.unix_ns,
            value,
        });
    }

    fn cpu(&mut self, out: &mut Points) {
        if let Some((times, cpus)) = self
            .read("stat")
            .and_then(|t| cpu::parse_stat(&t, self.ticks_per_second))
        {
            self.logical_cpus = cpus.max(1);
            for (mode, secs) in times.modes() {
                let attrs = [("cpu.mode", str_value(mode))];
                self.put(out, SYSTEM_CPU_TIME, &attrs, MetricValue::Double(secs));
            }
            if let Some(before) = self.previous_cpu {
                let all = times.total() - before.total();
                if all > 0.0 {
                    for ((mode, now), (_, then)) in times.modes().into_iter().zip(before.modes()) {
                        let share = ((now - then) / all).clamp(0.0, 1.0);
                        let attrs = [("cpu.mode", str_value(mode))];
                        self.put(
                            out,
                            SYSTEM_CPU_UTILIZATION,
                            &attrs,
                            MetricValue::Double(share),
                        );
                    }
                }
            }
            self.previous_cpu = Some(times);
            let n = MetricValue::Int(cpus as i64);
            self.put(out, SYSTEM_CPU_LOGICAL_COUNT, &[], n);
        }
        if let Some(load) = self.read("loadavg").and_then(|t| cpu::parse_loadavg(&t)) {
            for (metric, v) in [
                (SYSTEM_CPU_LOAD_AVERAGE_1M, load[0]),
                (SYSTEM_CPU_LOAD_AVERAGE_5M, load[1]),
                (SYSTEM_CPU_LOAD_AVERAGE_15M, load[2]),
            ] {
                self.put(out, metric, &[], MetricValue::Double(v));
            }
        }
    }

    fn memory(&mut self, out: &mut Points) {
        let Some(m) = self.read("meminfo").and_then(|t| memory::parse(&t)) else {
            return;
        };
        for (state, v) in [
            ("used", m.used()),
            ("free", m.free),
            ("buffers", m.buffers),
            ("cached", m.cached),
        ] {
            let attrs = [("system.memory.state", str_value(state))];
            self.put(out, SYSTEM_MEMORY_USAGE, &attrs, int(v));
        }
        self.put(out, SYSTEM_MEMORY_LIMIT, &[], int(m.total));
        let available = int(m.available);
        self.put(out, SYSTEM_LINUX_MEMORY_AVAILABLE, &[], available);
        if m.total > 0 {
            let used = MetricValue::Double(m.used() as f64 / m.total as f64);
            let attrs = [("system.memory.state", str_value("used"))];
            self.put(out, SYSTEM_MEMORY_UTILIZATION, &attrs, used);
        }
        for (state, v) in [("used", m.swap_used()), ("free", m.swap_free)] {
            let attrs = [("system.paging.state", str_value(state))];
            self.put(out, SYSTEM_PAGING_USAGE, &attrs, int(v));
        }
    }

    fn disks(&mut self, out: &mut Points) {
        for d in self
            .read("diskstats")
            .map(|t| disk::parse_diskstats(&t))
            .unwrap_or_default()
        {
            let dev = str_value(&d.device);
            for (dir, bytes, ops) in [
                ("read", d.read_bytes, d.reads),
                ("write", d.write_bytes, d.writes),
            ] {
                let attrs = [
                    ("system.device", dev.clone()),
                    ("disk.io.direction", str_value(dir)),
                ];
                self.put(out, SYSTEM_DISK_IO, &attrs, int(bytes));
                self.put(out, SYSTEM_DISK_OPERATIONS, &attrs, int(ops));
            }
            let busy = MetricValue::Double(d.io_ms as f64 / 1000.0);
            self.put(out, SYSTEM_DISK_IO_TIME, &[("system.device", dev)], busy);
        }
        let mounts = self
            .read("self/mounts")
            .map(|t| disk::parse_mounts(&t))
            .unwrap_or_default();
        for m in mounts {
            let path = self.root.join(m.mountpoint.trim_start_matches('/'));
            let Some(space) = disk::space(&path) else {
                continue;
            };
            let base = [
                ("system.device", str_value(&m.device)),
                ("system.filesystem.mountpoint", str_value(&m.mountpoint)),
                ("system.filesystem.type", str_value(&m.fs_type)),
            ];
            for (state, v) in [
                ("used", space.used),
                ("free", space.free),
                ("reserved", space.reserved),
            ] {
                let mut attrs = base.to_vec();
                attrs.push(("system.filesystem.state", str_value(state)));
                self.put(out, SYSTEM_FILESYSTEM_USAGE, &attrs, int(v));
            }
            let total = space.used + space.free + space.reserved;
            if total > 0 {
                let u = MetricValue::Double(space.used as f64 / total as f64);
                self.put(out, SYSTEM_FILESYSTEM_UTILIZATION, &base, u);
            }
        }
    }

    fn network(&mut self, out: &mut Points, detail: bool) {
        let devs = self
            .read("net/dev")
            .map(|t| net::parse_dev(&t))
            .unwrap_or_default();
        for d in devs.into_iter().take(MAX_INTERFACES) {
            let name = str_value(&d.name);
            for (dir, bytes, packets, errors, dropped) in [
                (
                    "receive",
                    d.rx_bytes,
                    d.rx_packets,
                    d.rx_errors,
                    d.rx_dropped,
                ),
                (
                    "transmit",
                    d.tx_bytes,
                    d.tx_packets,
                    d.tx_errors,
                    d.tx_dropped,
                ),
            ] {
                let attrs = [
                    ("network.interface.name", name.clone()),
                    ("network.io.direction", str_value(dir)),
                ];
                self.put(out, SYSTEM_NETWORK_IO, &attrs, int(bytes));
                self.put(out, SYSTEM_NETWORK_PACKETS, &attrs, int(packets));
                self.put(out, SYSTEM_NETWORK_ERRORS, &attrs, int(errors));
                self.put(out, SYSTEM_NETWORK_DROPPED, &attrs, int(dropped));
            }
        }
        // This machine: netlink (a fraction of /proc/net/tcp's cost);
        // a fixture tree, or netlink refused: the text files.
        let counts = if !detail {
            None
        } else if self.root == Path::new("/") {
            net::diag_tcp().or_else(|| net::read_tcp(&self.proc_dir))
        } else {
            net::read_tcp(&self.proc_dir)
        };
        if let Some(counts) = counts {
            for (state, n) in net::TCP_STATES.iter().zip(counts) {
                let attrs = [
                    ("network.transport", str_value("tcp")),
                    ("network.connection.state", str_value(state)),
                ];
                self.put(out, SYSTEM_NETWORK_CONNECTIONS, &attrs, int(n));
            }
        }
    }

    fn processes(&mut self, out: &mut Points, elapsed_s: Option<f64>) {
        let mut scan = std::mem::take(&mut self.scan);
        process::scan(&self.proc_dir, &mut scan);
        // CPU used over the interval as a share of all CPUs, per process
        // seen in both scans (the same pid with the same start time).
        let capacity = elapsed_s.map(|s| s * self.ticks_per_second * self.logical_cpus as f64);
        let mut by_cpu: Vec<(usize, f64)> = scan
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let (start, ticks) = *self.previous_procs.get(&p.pid)?;
                let cap = capacity.filter(|c| *c > 0.0)?;
                (start == p.start)
                    .then(|| (i, (p.utime + p.stime).saturating_sub(ticks) as f64 / cap))
            })
            .collect();
        by_cpu.sort_by(|a, b| b.1.total_cmp(&a.1));
        by_cpu.truncate(self.top);
        let mut by_memory: Vec<usize> = (0..scan.len()).collect();
        by_memory.sort_by_key(|i| std::cmp::Reverse(scan[*i].rss_pages));
        by_memory.truncate(self.top);
        let mut listed: Vec<usize> = by_cpu.iter().map(|(i, _)| *i).chain(by_memory).collect();
        listed.sort_unstable();
        listed.dedup();
        for i in listed {
            let p = &scan[i];
            let attrs = [
                ("process.pid", AttrValue::Int(i64::from(p.pid))),
                ("process.executable.name", str_value(&p.name)),
            ];
            let cpu = by_cpu.iter().find(|(j, _)| *j == i).map_or_else(
                || {
                    let (start, ticks) =
                        self.previous_procs.get(&p.pid).copied().unwrap_or_default();
                    let cap = capacity.unwrap_or(0.0);
                    if start == p.start && cap > 0.0 {
                        (p.utime + p.stime).saturating_sub(ticks) as f64 / cap
                    } else {
                        0.0
                    }
                },
                |(_, share)| *share,
            );
            if capacity.is_some() {
                self.put(
                    out,
                    PROCESS_CPU_UTILIZATION,
                    &attrs,
                    MetricValue::Double(cpu),
                );
            }
            let rss =
                i64::try_from(p.rss_pages.saturating_mul(self.page_bytes)).unwrap_or(i64::MAX);
            self.put(out, PROCESS_MEMORY_USAGE, &attrs, MetricValue::Int(rss));
        }
        self.previous_procs.clear();
        self.previous_procs
            .extend(scan.iter().map(|p| (p.pid, (p.start, p.utime + p.stime))));
        self.scan = scan;
    }

    fn container(&mut self, out: &mut Points) {
        let Some(s) = self.cgroup_dir.as_deref().and_then(cgroup::read) else {
            return;
        };
        let secs = |us: u64| MetricValue::Double(us as f64 / 1e6);
        for (mode, us) in [("user", s.user_usec), ("system", s.system_usec)] {
            let attrs = [("cpu.mode", str_value(mode))];
            self.put(out, CONTAINER_CPU_TIME, &attrs, secs(us));
        }
        self.put(
            out,
            CONTAINER_CPU_THROTTLED_TIME,
            &[],
            secs(s.throttled_usec),
        );
        self.put(out, CONTAINER_CPU_PERIODS, &[], int(s.periods));
        let throttled = int(s.throttled_periods);
        self.put(out, CONTAINER_CPU_THROTTLED_PERIODS, &[], throttled);
        if let Some(v) = s.memory_usage {
            self.put(out, CONTAINER_MEMORY_USAGE, &[], int(v));
        }
        if let Some(v) = s.memory_limit {
            self.put(out, CONTAINER_MEMORY_LIMIT, &[], int(v));
        }
        if let Some(v) = s.oom_kills {
            self.put(out, CONTAINER_MEMORY_OOM_KILLS, &[], int(v));
        }
    }
}

/// A metric's semantic-convention name, UCUM unit, kind and the
/// attributes its points carry besides their own.
#[derive(Clone, Copy)]
struct Metric(&'static str, &'static str, MetricKind, Tags);

/// Declares each metric once, one row a metric:
/// `CONST = name, unit, kind, tags;`.
macro_rules! metrics {
    ($($id:ident = $name:literal, $unit:literal, $kind:ident, $tags:ident;)*) => {
        $(const $id: Metric = Metric($name, $unit, MetricKind::$kind, Tags::$tags);)*
    };
}

metrics! {
    SYSTEM_CPU_TIME = "system.cpu.time", "s", Counter, Host;
    SYSTEM_CPU_UTILIZATION = "system.cpu.utilization", "1", Gauge, Host;
    SYSTEM_CPU_LOGICAL_COUNT = "system.cpu.logical.count", "{cpu}", UpDownCounter, Host;
    SYSTEM_MEMORY_USAGE = "system.memory.usage", "By", UpDownCounter, Host;
    SYSTEM_MEMORY_LIMIT = "system.memory.limit", "By", UpDownCounter, Host;
    SYSTEM_LINUX_MEMORY_AVAILABLE = "system.linux.memory.available", "By", UpDownCounter, Host;
    SYSTEM_MEMORY_UTILIZATION = "system.memory.utilization", "1", Gauge, Host;
    SYSTEM_PAGING_USAGE = "system.paging.usage", "By", UpDownCounter, Host;
    SYSTEM_DISK_IO = "system.disk.io", "By", Counter, Host;
    SYSTEM_DISK_OPERATIONS = "system.disk.operations", "{operation}", Counter, Host;
    SYSTEM_DISK_IO_TIME = "system.disk.io_time", "s", Counter, Host;
    SYSTEM_FILESYSTEM_USAGE = "system.filesystem.usage", "By", UpDownCounter, Host;
    SYSTEM_FILESYSTEM_UTILIZATION = "system.filesystem.utilization", "1", Gauge, Host;
    SYSTEM_NETWORK_IO = "system.network.io", "By", Counter, Host;
    SYSTEM_NETWORK_PACKETS = "system.network.packets", "{packet}", Counter, Host;
    SYSTEM_NETWORK_ERRORS = "system.network.errors", "{error}", Counter, Host;
    SYSTEM_NETWORK_DROPPED = "system.network.dropped", "{packet}", Counter, Host;
    SYSTEM_NETWORK_CONNECTIONS = "system.network.connections", "{connection}", UpDownCounter, Host;
    PROCESS_CPU_UTILIZATION = "process.cpu.utilization", "1", Gauge, Host;
    PROCESS_MEMORY_USAGE = "process.memory.usage", "By", UpDownCounter, Host;
    CONTAINER_CPU_TIME = "container.cpu.time", "s", Counter, Container;
    CONTAINER_CPU_THROTTLED_TIME = "container.cpu.throttled.time", "s", Counter, Container;
    CONTAINER_CPU_PERIODS = "container.cpu.periods", "{period}", Counter, Container;
    CONTAINER_CPU_THROTTLED_PERIODS =
        "container.cpu.throttled.periods", "{period}", Counter, Container;
    CONTAINER_MEMORY_USAGE = "container.memory.usage", "By", UpDownCounter, Container;
    CONTAINER_MEMORY_LIMIT = "container.memory.limit", "By", UpDownCounter, Container;
    CONTAINER_MEMORY_OOM_KILLS = "container.memory.oom_kills", "{process}", Counter, Container;
    SYSTEM_CPU_LOAD_AVERAGE_1M = "system.cpu.load_average.1m", "{thread}", Gauge, Host;
    SYSTEM_CPU_LOAD_AVERAGE_5M = "system.cpu.load_average.5m", "{thread}", Gauge, Host;
    SYSTEM_CPU_LOAD_AVERAGE_15M = "system.cpu.load_average.15m", "{thread}", Gauge, Host;
}

/// Which attributes a point carries besides its own.
#[derive(Clone, Copy)]
enum Tags {
    /// `host.name`.
    Host,
    /// `host.name` and `container.id`.
    Container,
}

/// The records of one sample being built.
struct Points {
    records: Vec<MetricRecord>,
    unix_ns: u64,
    start_unix_ns: u64,
}

/// A count or size as an integer point (saturating at `i64::MAX`).
fn int(v: u64) -> MetricValue {
    MetricValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn str_value(s: &str) -> AttrValue {
    AttrValue::Str(s.to_owned())
}

fn unix_ns_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
