//! Host and container metrics: exact values from a fixture tree (cgroup v2
//! container, two samples for the rates), and this machine's values
//! checked against `/proc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use osprey::host::HostSampler;
use osprey::model::{MetricKind, MetricRecord};
use osprey::names;

const ID: &str = "9f3a1c0e5b7d4e2f8a6c1b3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f";

/// `name{k=v,...}` → value, attributes sorted.
fn table(records: &[MetricRecord]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for r in records {
        let mut attrs: Vec<String> = r
            .attributes
            .iter()
            .map(|a| format!("{}={}", names::resolve(a.key), a.value))
            .collect();
        attrs.sort();
        let key = format!("{}{{{}}}", names::resolve(r.name), attrs.join(","));
        assert!(
            out.insert(key.clone(), r.value.as_f64()).is_none(),
            "two points for {key}"
        );
    }
    out
}

fn get(t: &BTreeMap<String, f64>, key: &str) -> f64 {
    *t.get(key)
        .unwrap_or_else(|| panic!("no {key} in {:#?}", t.keys().collect::<Vec<_>>()))
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn fixture_container_values_and_rates_between_two_samples() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host/docker-v2");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture, dir.path());
    let mut sampler = HostSampler::at(dir.path(), 2, Some("shop-1"), Some(ID));
    assert_eq!(
        sampler.cgroup_dir(),
        Some(dir.path().join("sys/fs/cgroup").as_path())
    );
    let t0 = 1_700_000_000_000_000_000;
    let first = sampler.sample_at(t0);
    let t = table(&first);
    let h = "host.name=shop-1";
    // /proc/stat at 100 ticks per second (USER_HZ on Linux).
    assert_eq!(
        get(&t, &format!("system.cpu.time{{cpu.mode=user,{h}}}")),
        10.0
    );
    assert_eq!(
        get(&t, &format!("system.cpu.time{{cpu.mode=steal,{h}}}")),
        0.3
    );
    assert_eq!(get(&t, &format!("system.cpu.logical.count{{{h}}}")), 2.0);
    assert!(
        !t.keys().any(|k| k.starts_with("system.cpu.utilization")),
        "needs two samples"
    );
    assert_eq!(
        get(&t, &format!("system.cpu.load_average.15m{{{h}}}")),
        1.25
    );
    // /proc/meminfo, kB → bytes; used = total - free - buffers - cached.
    assert_eq!(
        get(&t, &format!("system.memory.limit{{{h}}}")),
        2_048_000_000.0
    );
    assert_eq!(
        get(
            &t,
            &format!("system.memory.usage{{{h},system.memory.state=used}}")
        ),
        800_000.0 * 1024.0
    );
    assert_eq!(
        get(&t, &format!("system.linux.memory.available{{{h}}}")),
        1_200_000.0 * 1024.0
    );
    assert_eq!(
        get(
            &t,
            &format!("system.paging.usage{{{h},system.paging.state=used}}")
        ),
        250_000.0 * 1024.0
    );
    // /proc/diskstats: the idle loop device is left out.
    let vda = "system.device=vda";
    assert_eq!(
        get(
            &t,
            &format!("system.disk.io{{disk.io.direction=read,{h},{vda}}}")
        ),
        20_000.0 * 512.0
    );
    assert_eq!(
        get(
            &t,
            &format!("system.disk.operations{{disk.io.direction=write,{h},{vda}}}")
        ),
        2000.0
    );
    assert_eq!(get(&t, &format!("system.disk.io_time{{{h},{vda}}}")), 1.5);
    assert!(!t.keys().any(|k| k.contains("loop0")));
    // The overlay root is the fixture directory itself: statvfs works on it.
    assert!(t.contains_key(&format!(
        "system.filesystem.usage{{{h},system.device=overlay,system.filesystem.mountpoint=/,system.filesystem.state=used,system.filesystem.type=overlay}}"
    )));
    // /proc/net/dev.
    let eth0 = "network.interface.name=eth0";
    assert_eq!(
        get(
            &t,
            &format!(
                "system.network.io{{{h},network.interface.name=eth0,network.io.direction=receive}}"
            )
        ),
        900_000.0
    );
    assert_eq!(
        get(
            &t,
            &format!("system.network.errors{{{h},{eth0},network.io.direction=transmit}}")
        ),
        3.0
    );
    assert_eq!(
        get(
            &t,
            &format!("system.network.dropped{{{h},{eth0},network.io.direction=receive}}")
        ),
        2.0
    );
    // /proc/net/tcp and tcp6.
    let tcp = |state: &str| {
        get(
            &t,
            &format!(
                "system.network.connections{{{h},network.connection.state={state},network.transport=tcp}}"
            ),
        )
    };
    assert_eq!(
        (
            tcp("established"),
            tcp("listen"),
            tcp("time_wait"),
            tcp("close_wait")
        ),
        (2.0, 1.0, 1.0, 0.0)
    );
    // Top 2 by memory (no CPU rate yet): java and node, not sh; 4 KiB pages.
    let java = "process.executable.name=java,process.pid=101";
    let page = 4096.0;
    assert_eq!(
        get(&t, &format!("process.memory.usage{{{h},{java}}}")),
        250_000.0 * page
    );
    assert!(t.contains_key(&format!(
        "process.memory.usage{{{h},process.executable.name=node worker,process.pid=202}}"
    )));
    assert!(!t.keys().any(|k| k.contains("process.pid=303")));
    // cgroup v2.
    let c = format!("container.id={ID},{h}");
    assert_eq!(
        get(
            &t,
            &format!("container.cpu.time{{container.id={ID},cpu.mode=user,{h}}}")
        ),
        3.0
    );
    assert_eq!(
        get(&t, &format!("container.cpu.throttled.time{{{c}}}")),
        1.5
    );
    assert_eq!(
        get(&t, &format!("container.cpu.throttled.periods{{{c}}}")),
        40.0
    );
    assert_eq!(get(&t, &format!("container.cpu.periods{{{c}}}")), 1000.0);
    assert_eq!(
        get(&t, &format!("container.memory.usage{{{c}}}")),
        104_857_600.0
    );
    assert_eq!(
        get(&t, &format!("container.memory.limit{{{c}}}")),
        268_435_456.0
    );
    assert_eq!(get(&t, &format!("container.memory.oom_kills{{{c}}}")), 2.0);
    // Kinds: counters are cumulative sums, utilizations gauges.
    let kind = |name: &str| {
        first
            .iter()
            .find(|r| names::resolve(r.name).as_ref() == name)
            .unwrap()
            .kind
    };
    assert_eq!(kind("system.cpu.time"), MetricKind::Counter);
    assert_eq!(kind("system.memory.usage"), MetricKind::UpDownCounter);
    assert_eq!(kind("system.cpu.load_average.1m"), MetricKind::Gauge);

    // One second later: the machine did 100 ticks of work on 2 CPUs
    // (200 ticks in all): 60 user, 20 system, 20 idle; sh used 80 ticks.
    let root = dir.path();
    std::fs::write(
        root.join("proc/stat"),
        "cpu  1060 20 320 5020 40 0 10 30 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\ncpu1 1 0 0 0 0 0 0 0 0 0\n",
    )
    .unwrap();
    std::fs::write(
        root.join("proc/303/stat"),
        "303 (sh) S 1 303 303 0 -1 4194560 100 0 0 0 61 21 0 0 20 0 1 0 7000 9000000 200 18446744073709551615 1 1 0",
    )
    .unwrap();
    // memory.max back to `max`: no limit, so no limit point.
    std::fs::write(root.join("sys/fs/cgroup/memory.max"), "max\n").unwrap();
    let second = sampler.sample_at(t0 + 1_000_000_000);
    let t = table(&second);
    let near = |key: String, want: f64| {
        let v = get(&t, &key);
        assert!((v - want).abs() < 1e-9, "{key}: {v}, want {want}");
    };
    near(format!("system.cpu.utilization{{cpu.mode=user,{h}}}"), 0.6);
    near(
        format!("system.cpu.utilization{{cpu.mode=system,{h}}}"),
        0.2,
    );
    near(format!("system.cpu.utilization{{cpu.mode=idle,{h}}}"), 0.2);
    near(
        format!("system.cpu.utilization{{cpu.mode=iowait,{h}}}"),
        0.0,
    );
    // sh: 80 of 200 ticks available → 0.4, first by CPU; java stays by memory.
    near(
        format!("process.cpu.utilization{{{h},process.executable.name=sh,process.pid=303}}"),
        0.4,
    );
    assert_eq!(
        get(&t, &format!("process.cpu.utilization{{{h},{java}}}")),
        0.0
    );
    assert!(!t.keys().any(|k| k.starts_with("container.memory.limit")));
    assert!(second.iter().all(|r| r.unix_ns == t0 + 1_000_000_000));
    let cpu_time = second
        .iter()
        .find(|r| names::resolve(r.name).as_ref() == "system.cpu.time")
        .unwrap();
    assert!(cpu_time.start_unix_ns <= t0);
}

#[test]
fn this_machine_against_proc() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut sampler = HostSampler::at("/", 3, Some(host.trim()), None);
    let first = table(&sampler.sample());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    let h = format!("host.name={}", host.trim());
    assert_eq!(
        get(&first, &format!("system.memory.limit{{{h}}}")),
        total_kb * 1024.0
    );
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(
        get(&first, &format!("system.cpu.logical.count{{{h}}}")),
        cpus as f64
    );

    // Interfaces: exactly those of /proc/net/dev.
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let mut expected: Vec<String> = dev
        .lines()
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_owned()))
        .collect();
    expected.sort();
    let mut reported: Vec<String> = first
        .keys()
        .filter(|k| k.starts_with("system.network.io{") && k.contains("direction=receive"))
        .filter_map(|k| k.split("network.interface.name=").nth(1))
        .map(|rest| rest.split(',').next().unwrap().to_owned())
        .collect();
    reported.sort();
    assert_eq!(reported, expected);

    // The root filesystem is listed.
    assert!(
        first
            .keys()
            .any(|k| k.starts_with("system.filesystem.usage{") && k.contains("mountpoint=/,")),
        "{:#?}",
        first
            .keys()
            .filter(|k| k.contains("filesystem"))
            .collect::<Vec<_>>()
    );
    // This process is among the top processes by memory or CPU when it is
    // large; at least the lists are there and bounded by 3 + 3.
    let listed = first
        .keys()
        .filter(|k| k.starts_with("process.memory.usage{"))
        .count();
    assert!((1..=3).contains(&listed), "{listed}");

    // Work, then a second sample: counters never go back.
    let mut x = 0u64;
    for i in 0..20_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    let second = table(&sampler.sample());
    for (key, before) in first.iter().filter(|(k, _)| {
        k.starts_with("system.cpu.time{")
            || k.starts_with("system.network.io{")
            || k.starts_with("system.disk.io{")
    }) {
        let after = get(&second, key);
        assert!(after >= *before, "{key}: {before} then {after}");
    }
    let busy: f64 = second
        .iter()
        .filter(|(k, _)| k.starts_with("system.cpu.utilization{") && !k.contains("mode=idle"))
        .map(|(_, v)| v)
        .sum();
    let all: f64 = second
        .iter()
        .filter(|(k, _)| k.starts_with("system.cpu.utilization{"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        (all - 1.0).abs() < 1e-6 || all == 0.0,
        "shares add up to 1: {all}"
    );
    assert!(busy <= 1.0 + 1e-9, "{busy}");
}

#[test]
fn costly_parts_every_n_samples_with_rates_over_their_own_interval() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host/docker-v2");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture, dir.path());
    let mut sampler = HostSampler::at(dir.path(), 2, Some("h"), None).detail_every(2);
    let t0 = 1_700_000_000_000_000_000;
    let has = |t: &BTreeMap<String, f64>, prefix: &str| t.keys().any(|k| k.starts_with(prefix));
    let first = table(&sampler.sample_at(t0));
    assert!(has(&first, "system.network.connections{") && has(&first, "process.memory.usage{"));
    let second = table(&sampler.sample_at(t0 + 1_000_000_000));
    assert!(!has(&second, "system.network.connections{") && !has(&second, "process."));
    assert!(
        has(&second, "system.cpu.time{") && has(&second, "system.network.io{"),
        "the rest every sample"
    );
    // sh used 80 ticks over the 2 s since the last scan: 400 ticks possible
    // on 2 CPUs at 100 per second → 0.2.
    std::fs::write(
        dir.path().join("proc/303/stat"),
        "303 (sh) S 1 303 303 0 -1 4194560 100 0 0 0 61 21 0 0 20 0 1 0 7000 9000000 200 18446744073709551615 1 1 0",
    )
    .unwrap();
    let third = table(&sampler.sample_at(t0 + 2_000_000_000));
    let sh = get(
        &third,
        "process.cpu.utilization{host.name=h,process.executable.name=sh,process.pid=303}",
    );
    assert!((sh - 0.2).abs() < 1e-9, "{sh}");
    assert!(has(&third, "system.network.connections{"));
}
