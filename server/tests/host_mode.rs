//! `osprey host` end to end: the real binary samples this machine for a
//! few seconds and sends OTLP to a real `osprey serve`; the stored series,
//! read back through `/api/metrics`, match `/proc`.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::*;

fn series(url: &str, service: &str, name: &str) -> Vec<Value> {
    get(&format!("{url}/api/metrics?service={service}&name={name}"))["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn attr<'a>(s: &'a Value, key: &str) -> Option<&'a str> {
    s["attributes"]
        .as_str()?
        .split(',')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn host_mode_metrics_land_in_the_server_and_match_proc() {
    let data = TempDir::new("host-mode");
    let (_server, url) = serve_binary(&data.0, &[]);
    let (ok, stdout, stderr) = run_osprey(
        &[
            "host",
            "--server",
            &url,
            "--service",
            "box",
            "--duration",
            "3s",
            "--top-processes",
            "2",
        ],
        "",
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("osprey host: sending"), "{stdout}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();

    // Memory: the limit is MemTotal, on a series tagged with the host.
    let limit = series(&url, "box", "system.memory.limit");
    assert_eq!(limit.len(), 1, "{limit:?}");
    assert_eq!(attr(&limit[0], "host.name"), Some(host));
    assert_eq!(limit[0]["unit"], "By");
    let total_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    let points = limit[0]["points"].as_array().unwrap();
    assert!(points.len() >= 2, "a sample a second: {points:?}");
    for p in points {
        assert_eq!(p[1].as_f64(), Some(total_kb * 1024.0));
    }

    // CPU: every mode's counter never goes back.
    let cpu = series(&url, "box", "system.cpu.time");
    let modes: BTreeSet<&str> = cpu.iter().filter_map(|s| attr(s, "cpu.mode")).collect();
    for m in ["user", "system", "iowait", "steal", "idle"] {
        assert!(modes.contains(m), "{modes:?}");
    }
    for s in &cpu {
        let values: Vec<f64> = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    }

    // Network: the interfaces of /proc/net/dev, no more, no fewer.
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let expected: BTreeSet<String> = dev
        .lines()
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_owned()))
        .collect();
    let reported: BTreeSet<String> = series(&url, "box", "system.network.io")
        .iter()
        .filter_map(|s| attr(s, "network.interface.name").map(str::to_owned))
        .collect();
    assert_eq!(reported, expected);

    // The rest of the panel's metrics are there too.
    for name in [
        "system.cpu.utilization",
        "system.cpu.load_average.1m",
        "system.memory.usage",
        "system.paging.usage",
        "system.disk.io",
        "system.filesystem.usage",
        "system.network.connections",
        "process.memory.usage",
    ] {
        assert!(!series(&url, "box", name).is_empty(), "{name} missing");
    }
}
