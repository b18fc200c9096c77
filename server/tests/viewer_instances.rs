//! The viewer's per-instance views end to end, with the real `osprey`
//! binaries and headless Chromium:
//! - the agents' own drop counters (OTLP metrics, the names
//!   core/src/collector/self_metrics.rs exports) from two instances of one
//!   service show as one row each in the drops table, the lossy one marked,
//!   beside the row of the real `osprey host` agent's own counters, and
//!   the inspector names each instance's line;
//! - `osprey host` alone (no instrumented app on the machine) puts this
//!   machine on the server map as a host node, and the node opens its
//!   host panel (kept in the URL).
//!
//! Without chromium and chromedriver the browser part is skipped with a
//! message.

mod support;
mod viewer_support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{post, run_osprey};
use viewer_support::{Browser, serve};

const WAIT: Duration = Duration::from_secs(60);

/// One instance's counters as its agent exports them (cumulative sums).
fn counters(instance: &str, host: &str, queue: u64, export: u64, steps: u64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();
    let sum = |name: &str, attrs: &[(&str, &str)], value: u64| {
        let attrs: Vec<Value> = attrs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": { "stringValue": v } }))
            .collect();
        json!({ "name": name, "unit": "{transaction}", "sum": {
            "isMonotonic": true, "aggregationTemporality": 2,
            "dataPoints": [{ "timeUnixNano": now, "asInt": value.to_string(), "attributes": attrs }] } })
    };
    json!({
        "resource": { "attributes": [
            { "key": "service.name", "value": { "stringValue": "shop" } },
            { "key": "service.instance.id", "value": { "stringValue": instance } },
            { "key": "host.name", "value": { "stringValue": host } },
        ] },
        "scopeMetrics": [{ "metrics": [
            sum("otel.sdk.processor.span.processed", &[], 3_250),
            sum("otel.sdk.processor.span.processed", &[("error.type", "queue_full")], queue),
            sum("osprey.agent.tree_budget.left_out", &[], 40),
            sum("otel.sdk.exporter.span.exported", &[("otel.component.name", "otlp")], 601),
            sum("otel.sdk.exporter.span.exported",
                &[("otel.component.name", "otlp"), ("error.type", "export_failed")], export),
            sum("osprey.agent.steps.dropped", &[], steps),
            sum("osprey.agent.names.refused", &[("osprey.name.kind", "sql")], 0),
            sum("osprey.agent.metric_sets.dropped", &[], 0),
        ] }],
    })
}

#[test]
fn drops_per_instance_and_a_host_only_node_on_the_map() {
    let dir = support::TempDir::new("viewer-instances");
    let (_server, url) = serve(&dir.0);
    let body = json!({ "resourceMetrics": [
        counters("shop-a", "web-1", 2_649, 7, 12),
        counters("shop-b", "web-2", 0, 0, 0),
    ] });
    let (status, answer) = post(
        &format!("{url}/v1/metrics"),
        "application/json",
        None,
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    // The real host mode, alone on this machine.
    let (ok, stdout, stderr) = run_osprey(
        &[
            "host",
            "--server",
            &url,
            "--service",
            "box",
            "--duration",
            "3s",
        ],
        "",
    );
    assert!(ok, "{stdout}\n{stderr}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim().to_owned();

    let Some(browser) = Browser::start() else {
        eprintln!("chromium or chromedriver missing: viewer part skipped");
        return;
    };
    browser.goto(&format!("{url}/"));
    let rows = browser.wait_for(
        "the drops table",
        WAIT,
        "const rows = [...document.querySelectorAll('#drops-table tbody tr')];
         return rows.length === 3 ? rows.map((r) => ({
           service: r.dataset.service,
           instance: r.dataset.instance,
           lossy: r.classList.contains('lossy'),
           label: r.querySelector('th').textContent,
           cells: Object.fromEntries([...r.querySelectorAll('td[data-col]')]
             .map((c) => [c.dataset.col, Number(c.textContent)])),
         })) : null",
    );
    // Rows by service then instance: `box` is `osprey host` itself,
    // whose agent exports its own counters too (it records no transaction).
    let services: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["box", "shop", "shop"], "{rows}");
    let cells = |i: usize, col: &str| rows[i]["cells"][col].as_f64().unwrap();
    assert!(
        !rows[0]["instance"].as_str().unwrap().is_empty(),
        "the agent's own instance id: {rows}"
    );
    assert_eq!(cells(0, "Taken"), 0.0, "{rows}");
    assert_eq!(rows[1]["instance"], "shop-a", "{rows}");
    assert_eq!(rows[2]["instance"], "shop-b", "{rows}");
    assert_eq!(rows[1]["lossy"], true);
    assert_eq!(rows[1]["label"], "shop-a (losing data)", "told in text too");
    assert_eq!(rows[2]["lossy"], false);
    for (col, a, b) in [
        ("Taken", 3_250.0, 3_250.0),
        ("Dropped at queue", 2_649.0, 0.0),
        ("Without call tree", 40.0, 40.0),
        ("Dropped at export", 7.0, 0.0),
        ("Steps dropped", 12.0, 0.0),
        ("Names refused", 0.0, 0.0),
    ] {
        assert_eq!((cells(1, col), cells(2, col)), (a, b), "{col}: {rows}");
    }
    let headers = browser.js(
        "return [...document.querySelectorAll('#drops-table thead th')].map((h) => h.getAttribute('scope'))",
        json!([]),
    );
    assert!(
        headers.as_array().unwrap().iter().all(|s| s == "col"),
        "{headers}"
    );

    // The inspector names each instance's line of the same series.
    let legend = browser.wait_for(
        "the inspector's steps chart",
        WAIT,
        "const f = document.querySelector(\"#charts figure[data-name='osprey.agent.steps.dropped']\");
         return f ? f.textContent : null",
    );
    let legend = legend.as_str().unwrap();
    assert!(
        legend.contains("shop shop-a") && legend.contains("shop shop-b"),
        "{legend}"
    );

    // The machine that only runs `osprey host`: a host node on the map.
    let node = format!("#servermap g.node.host[data-name='{host}']");
    browser.wait_for(
        "the host node",
        WAIT,
        &format!("return document.querySelector(\"{node}\") !== null"),
    );
    let role = browser.js(
        &format!(
            "const n = document.querySelector(\"{node}\");
             return [n.getAttribute('role'), n.getAttribute('tabindex'), n.getAttribute('aria-label')]"
        ),
        json!([]),
    );
    assert_eq!(role, json!(["button", "0", format!("Show host {host}")]));
    browser.click(&browser.find(&node));
    let shown = browser.wait_for(
        "the host panel",
        WAIT,
        "return document.getElementById('host').dataset.host || ''",
    );
    assert_eq!(shown, json!(host));
    // In the URL: a reload shows the same host.
    browser.js("location.reload(); return true", json!([]));
    let again = browser.wait_for(
        "the host panel after a reload",
        WAIT,
        "const m = JSON.parse(document.getElementById('host').dataset.metrics || '[]');
         return m.includes('system.cpu.utilization') ? document.getElementById('host').dataset.host : null",
    );
    assert_eq!(again, json!(host));
}
