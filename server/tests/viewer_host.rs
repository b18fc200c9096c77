//! The viewer's host and container panel end to end: the real `osprey`
//! binary; an instrumented Rust service (the core with `host.metrics=true`)
//! sending a transaction and a few seconds of host metrics over OTLP; and
//! headless Chromium. Proves: clicking the service on the server map
//! opens its host's panel (CPU, load, memory, disk, network, TCP, top
//! processes) named after this machine, the host is kept in the URL (a
//! reload shows it again), and the inspector no longer lists host series.
//!
//! Without chromium and chromedriver the browser part is skipped with a
//! message. One test per file: `osprey::init` is process-global.

mod support;
mod viewer_support;

use std::time::Duration;

use osprey::Config;
use osprey::export::otlp::OtlpConfig;
use serde_json::{Value, json};
use support::{TempDir, get};
use viewer_support::{Browser, eventually, serve};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn server_map_leads_to_the_host_panel() {
    let dir = TempDir::new("viewer-host");
    let (_server, url) = serve(&dir.0);
    let guard = osprey::init(
        Config::default()
            .service_name("rust-front")
            .host_metrics(true)
            .host_top_processes(3)
            .batch_delay(Duration::from_millis(200))
            .exporter_spec(OtlpConfig::default().endpoint(&url)),
    )
    .expect("osprey core starts");
    osprey::transaction("GET /front").server().begin().end();
    // Three samples at least: the CPU shares need two.
    let series = |name: &str| -> Vec<Value> {
        get(&format!("{url}/api/metrics?service=rust-front&name={name}"))["series"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    eventually(WAIT, || {
        osprey::flush(Duration::from_secs(5));
        let cpu = series("system.cpu.utilization");
        (cpu.first()?["points"].as_array()?.len() >= 2).then_some(())
    })
    .expect("host metrics stored");
    drop(guard);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim().to_owned();

    let Some(browser) = Browser::start() else {
        eprintln!("chromium or chromedriver missing: viewer part skipped");
        return;
    };
    browser.goto(&format!("{url}/"));
    browser.wait_for(
        "the service on the map",
        WAIT,
        "return document.querySelector(\"#servermap g.node[data-name='rust-front']\") !== null",
    );
    browser.wait_for(
        "instances loaded",
        WAIT,
        "return document.querySelector('#instances tbody tr') !== null",
    );
    browser.click(&browser.find("#servermap g.node[data-name='rust-front']"));
    let shown = browser.wait_for(
        "the host panel",
        WAIT,
        "return document.getElementById('host').dataset.host || ''",
    );
    assert_eq!(shown, json!(host));
    // The host joins the filter's parameters in the URL (neither drops the other).
    let params = browser.wait_for(
        "the host and the service in the URL",
        WAIT,
        "const p = new URLSearchParams(location.search);
         return p.get('host') && p.get('service') ? [p.get('host'), p.get('service')] : null",
    );
    assert_eq!(params, json!([host, "rust-front"]));
    let metrics = browser.wait_for(
        "host metrics charted",
        WAIT,
        "const m = JSON.parse(document.getElementById('host').dataset.metrics || '[]');
         return m.includes('system.cpu.utilization') ? m : null",
    );
    for name in [
        "system.cpu.load_average.1m",
        "system.memory.usage",
        "system.linux.memory.available",
        "system.disk.io",
        "system.filesystem.utilization",
        "system.network.io",
        "system.network.connections",
        "process.memory.usage",
    ] {
        assert!(
            metrics.as_array().unwrap().contains(&json!(name)),
            "{name}: {metrics}"
        );
    }
    let charts = browser.js(
        "return [...document.querySelectorAll('#host figure')].map((f) => f.dataset.name)",
        json!([]),
    );
    for title in [
        "CPU",
        "Load",
        "Memory",
        "Disk I/O",
        "Network",
        "tcp",
        "processes",
    ] {
        assert!(
            charts.as_array().unwrap().contains(&json!(title)),
            "{title}: {charts}"
        );
    }
    let processes = browser.js(
        "return document.querySelectorAll('#host-processes tbody tr').length",
        json!([]),
    );
    assert!(processes.as_u64().unwrap() >= 1, "{processes}");
    // The CPU chart's text alternative names the modes with values.
    let label = browser.js(
        "return document.querySelector(\"#host figure[data-name='CPU'] canvas\").getAttribute('aria-label')",
        json!([]),
    );
    assert!(label.as_str().unwrap().contains("user "), "{label}");
    // The inspector keeps to the application's own metrics.
    let inspector = browser.wait_for(
        "the inspector drawn",
        WAIT,
        "return document.getElementById('charts').dataset.metrics || ''",
    );
    assert!(
        !inspector.as_str().unwrap().contains("system."),
        "{inspector}"
    );

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("viewer-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    browser.js(
        "document.getElementById('host-panel').scrollIntoView()",
        json!([]),
    );
    browser.screenshot(&shots.join("host-panel.png"));

    // The host is part of the URL: a reload shows the same panel.
    let here = browser.js("return location.href", json!([]));
    browser.goto(here.as_str().unwrap());
    let again = browser.wait_for(
        "the host panel after a reload",
        WAIT,
        "const h = document.getElementById('host');
         return h.dataset.metrics && h.dataset.metrics.includes('system.memory.usage') ? h.dataset.host : ''",
    );
    assert_eq!(again, json!(host));
}
