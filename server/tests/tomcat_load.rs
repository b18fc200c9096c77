//! Every transaction reaches the server, under load: the Tomcat demo under
//! the Java agent (its default tree budget of 1000 call trees a second,
//! default `otlp.summaries=auto`) exporting to the real `osprey` binary,
//! driven by `wrk` for ten seconds. The server's count of `GET /hello`
//! transactions equals the requests wrk saw completed (plus at most the
//! ones in flight when wrk stopped, one per connection), and its TPS over
//! the run is within 2 % of wrk's rate.
//!
//! The server is the release build of the `osprey` binary
//! (`OSPREY_SERVER_BIN`, else built here with `cargo build --release`), as
//! operators run it: the debug build ingests too slowly for the demo's
//! rate on the same two cores, and the agent then drops batches (its export
//! queue is bounded), which is what this test would report.
//!
//! Without `wrk` the test is skipped with a message (CI installs it through
//! `.ci/run`). The agent jar is `OSPREY_AGENT_JAR` or built by
//! `scripts/build-agent.sh`.

mod support;
mod viewer_support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::{TempDir, get, transactions_counted};
use viewer_support::{Demo, repo_root, serve_with, which};

const CONNECTIONS: u64 = 8;
const SECONDS: u64 = 10;

/// What wrk printed: requests completed, their rate, non-2xx answers.
struct WrkRun {
    requests: u64,
    per_second: f64,
    non_2xx: u64,
}

fn parse_wrk(out: &str) -> WrkRun {
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{out}"));
    let per_second = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{out}"));
    let non_2xx = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    WrkRun {
        requests,
        per_second,
        non_2xx,
    }
}

/// The release `osprey` binary: `OSPREY_SERVER_BIN`, else built once.
fn release_server() -> PathBuf {
    if let Some(bin) = std::env::var_os("OSPREY_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "OSPREY_SERVER_BIN={} missing", bin.display());
        return bin;
    }
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "osprey-server",
            "--bin",
            "osprey",
        ])
        .current_dir(repo_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --release -p osprey-server");
    // Next to the debug binary: <target>/debug/osprey -> <target>/release/osprey.
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_osprey"));
    let target = debug.parent().and_then(|d| d.parent()).expect("target dir");
    target.join("release").join("osprey")
}

#[test]
fn under_load_the_server_counts_every_request() {
    let Some(wrk) = which("wrk") else {
        eprintln!("skipped: wrk is not installed (apt-get install wrk; CI installs it)");
        return;
    };
    let dir = TempDir::new("tomcat-load");
    let (_server, url) = serve_with(&release_server(), &dir.0);
    let demo = Demo::start(
        &format!("exporter=otlp,otlp.endpoint={url},service.name=tomcat-load"),
        &dir.0,
    );
    let target = format!("http://127.0.0.1:{}/hello?id=42", demo.port);
    let began_ms = now_ms();
    let out = Command::new(wrk)
        .args(["-t", "2", "-c", &CONNECTIONS.to_string()])
        .args(["-d", &format!("{SECONDS}s"), &target])
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    let run = parse_wrk(&text);
    assert_eq!(run.non_2xx, 0, "{text}");
    assert!(
        run.requests > 10_000,
        "over 1000 a second, past the tree budget:\n{text}"
    );
    // The agent flushes on the way out.
    demo.stop();
    // What the agent said (dropped batches, a full queue) and the server's
    // own errors, for the failure messages.
    let said = |file: &str| {
        std::fs::read_to_string(dir.0.join(file))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("osprey"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let diagnostics = format!(
        "agent: {}\nserver: {}",
        said("demo.err"),
        said("osprey.err")
    );

    // The XLog of the run, two seconds at a time (the whole run's columns
    // would pass the HTTP client's 10 MB body limit).
    let (mut ends, mut elapsed, mut omitted) = (Vec::new(), Vec::new(), 0);
    for from in (began_ms..now_ms() + 1_000).step_by(2_000) {
        let xlog = get(&format!(
            "{url}/api/xlog?service=tomcat-load&endpoint=GET%20/hello&from={from}&to={}&limit=1000000",
            from + 2_000
        ));
        ends.extend(column::<u64>(&xlog, "end_ms"));
        elapsed.extend(column::<f64>(&xlog, "elapsed_ms"));
        omitted += column::<bool>(&xlog, "tree_omitted")
            .into_iter()
            .filter(|o| *o)
            .count();
    }
    let served = ends.len() as u64;
    eprintln!(
        "wrk: {} requests, {:.1}/s; server: {served} transactions",
        run.requests, run.per_second
    );
    assert!(
        (run.requests..=run.requests + CONNECTIONS).contains(&served),
        "server holds {served} transactions, wrk completed {}\n{diagnostics}",
        run.requests
    );
    assert!(
        omitted > 0,
        "summaries carried the requests past the budget"
    );

    // TPS: the per-second aggregates over the run, divided by the run's
    // length as the server saw it (first start to last end).
    let first_start = ends
        .iter()
        .zip(&elapsed)
        .map(|(e, ms)| *e as f64 - ms)
        .fold(f64::MAX, f64::min);
    let last_end = *ends.iter().max().unwrap() as f64;
    let from = first_start as u64 / 1000 * 1000;
    let to = (last_end as u64 / 1000 + 1) * 1000;
    let counted = transactions_counted(&url, from, to);
    // The aggregates hold every service's transactions: the demo's `/exit`.
    assert!(
        (served..=served + 1).contains(&counted),
        "aggregates count {counted}, transactions {served}"
    );
    let tps = served as f64 / ((last_end - first_start) / 1000.0);
    let off = (tps - run.per_second).abs() / run.per_second;
    eprintln!(
        "server TPS {tps:.1} vs wrk {:.1} ({:.2} %)",
        run.per_second,
        off * 100.0
    );
    assert!(off <= 0.02, "TPS {tps:.1} vs wrk's {:.1}", run.per_second);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn column<T: serde::de::DeserializeOwned>(cols: &Value, name: &str) -> Vec<T> {
    serde_json::from_value(cols[name].clone()).unwrap_or_else(|e| panic!("{name}: {e}"))
}
