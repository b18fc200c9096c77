//! `/metrics` against the real Prometheus (Debian's `prometheus`): it
//! scrapes the server with an API key, and PromQL through its HTTP API
//! sees the requests, errors, response-time histogram and a JVM series;
//! `promtool check metrics` accepts the exposition; without a key the
//! server refuses, and a key limited to a service sees only that service.

mod ops;
mod support;

use std::time::Duration;

use osprey_server::app::ServerConfig;
use serde_json::Value;

use ops::{call, free_port, send_txns, spawn, wait_for};
use support::TempDir;

const WAIT: Duration = Duration::from_secs(120);

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PromQL instant query: Prometheus's HTTP status and answer.
fn query(prom: &str, q: &str) -> (u16, Value) {
    let (status, _, body) = call(
        "GET",
        &format!("{prom}/api/v1/query?query={}", encode(q)),
        None,
        None,
        None,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The result vector of a PromQL query (empty while Prometheus is not up).
fn promql(prom: &str, q: &str) -> Vec<Value> {
    let (status, v) = query(prom, q);
    if status != 200 {
        return Vec::new();
    }
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(r: &Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_and_queries_the_metrics() {
    let dir = TempDir::new("prom");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Auth on: one key for the agents, one for Prometheus limited to `shop`.
    let (_, ingest_key) =
        osprey_server::auth::keys::add(&data, Some("agents".into()), Vec::new()).unwrap();
    let (_, scrape_key) =
        osprey_server::auth::keys::add(&data, Some("prometheus".into()), vec!["shop".into()])
            .unwrap();
    let running =
        osprey_server::api::start(ServerConfig::new(&data), "127.0.0.1:0".parse().unwrap())
            .unwrap();
    let base = running.base_url();

    // Refused without a key, or with a wrong one.
    assert_eq!(
        call("GET", &format!("{base}/metrics"), None, None, None).0,
        401
    );
    assert_eq!(
        call(
            "GET",
            &format!("{base}/metrics"),
            Some("osk_wrong"),
            None,
            None
        )
        .0,
        401
    );

    // 7 fast + 3 failed slow requests of shop, 4 of billing; a JVM gauge.
    send_txns(
        &base,
        Some(&ingest_key),
        "shop",
        "shop-1",
        "GET /cart",
        7,
        0,
        3,
        1,
    );
    send_txns(
        &base,
        Some(&ingest_key),
        "shop",
        "shop-1",
        "POST /pay",
        3,
        3,
        700,
        2,
    );
    send_txns(
        &base,
        Some(&ingest_key),
        "billing",
        "bill-1",
        "GET /invoice",
        4,
        0,
        10,
        3,
    );
    let metrics = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},
        "scopeMetrics":[{{"metrics":[{{"name":"jvm.memory.used","unit":"By","gauge":{{"dataPoints":[
          {{"timeUnixNano":"{now}","asInt":"123456","attributes":[{{"key":"jvm.memory.type","value":{{"stringValue":"heap"}}}}]}}]}}}},
          {{"name":"jvm.memory.limit","unit":"By","gauge":{{"dataPoints":[
          {{"timeUnixNano":"{now}","asInt":"1000000","attributes":[{{"key":"jvm.memory.type","value":{{"stringValue":"heap"}}}}]}}]}}}}]}}]}}]}}"#,
        now = ops::now_ns()
    );
    let (st, _, body) = call(
        "POST",
        &format!("{base}/v1/metrics"),
        Some(&ingest_key),
        None,
        Some(("application/json", metrics.as_bytes())),
    );
    assert_eq!(st, 200, "{body}");

    // The feed counts within a second or two.
    let text = wait_for("the counters", WAIT, || {
        let (st, ct, body) = call(
            "GET",
            &format!("{base}/metrics"),
            Some(&scrape_key),
            None,
            None,
        );
        assert_eq!(st, 200, "{body}");
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        body.contains(
            "osprey_requests_total{service=\"shop\",instance=\"shop-1\",endpoint=\"POST /pay\"} 3",
        )
        .then_some(body)
    });
    assert!(
        text.contains(
            "osprey_requests_total{service=\"shop\",instance=\"shop-1\",endpoint=\"GET /cart\"} 7"
        ),
        "{text}"
    );
    assert!(text.contains("osprey_request_errors_total{service=\"shop\",instance=\"shop-1\",endpoint=\"POST /pay\"} 3"), "{text}");
    assert!(text.contains("osprey_request_duration_seconds_bucket{service=\"shop\",instance=\"shop-1\",endpoint=\"POST /pay\",le=\"0.5\"} 0"), "{text}");
    assert!(text.contains("osprey_request_duration_seconds_bucket{service=\"shop\",instance=\"shop-1\",endpoint=\"POST /pay\",le=\"1\"} 3"), "{text}");
    assert!(
        text.contains("jvm_memory_used_bytes{service=\"shop\",jvm_memory_type=\"heap\"} 123456"),
        "{text}"
    );
    assert!(
        !text.contains("billing"),
        "a key limited to shop sees only shop:\n{text}"
    );
    let (_, _, all) = call(
        "GET",
        &format!("{base}/metrics"),
        Some(&ingest_key),
        None,
        None,
    );
    assert!(all.contains("osprey_requests_total{service=\"billing\",instance=\"bill-1\",endpoint=\"GET /invoice\"} 4"), "{all}");

    // OpenMetrics when Prometheus asks for it; promtool (which reads the
    // text format) accepts the text exposition.
    let (_, ct, om) = call(
        "GET",
        &format!("{base}/metrics"),
        Some(&ingest_key),
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
        None,
    );
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(
        om.ends_with("# EOF\n")
            && om.contains("# TYPE osprey_requests counter\nosprey_requests_total{"),
        "{om}"
    );
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(all.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The real Prometheus scrapes with the key (OpenMetrics, its default).
    let port = free_port();
    let key_file = dir.0.join("scrape.key");
    std::fs::write(&key_file, &scrape_key).unwrap();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: osprey\n    authorization:\n      type: Bearer\n      credentials_file: {}\n    static_configs:\n      - targets: ['{}']\n",
            key_file.display(),
            running.addr
        ),
    )
    .unwrap();
    let tsdb = dir.0.join("tsdb");
    let listen = format!("127.0.0.1:{port}");
    let _prom = spawn(
        "prometheus",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", tsdb.display()),
            &format!("--web.listen-address={listen}"),
        ],
        &dir.0,
    );
    let prom = format!("http://{listen}");
    let pay = wait_for("Prometheus to scrape", WAIT, || {
        let r = promql(
            &prom,
            "osprey_requests_total{service=\"shop\",endpoint=\"POST /pay\"}",
        );
        r.first().map(value)
    });
    assert_eq!(pay, 3.0);
    let errors = promql(&prom, "sum(osprey_request_errors_total{service=\"shop\"})");
    assert_eq!(value(&errors[0]), 3.0);
    let total = promql(&prom, "sum by (service) (osprey_requests_total)");
    assert_eq!(
        total.len(),
        1,
        "the limited key scrapes only shop: {total:?}"
    );
    assert_eq!(value(&total[0]), 10.0);
    // 3 of 10 shop requests took 700 ms: the p90 lies in (0.5, 1] s.
    let p90 = promql(
        &prom,
        "histogram_quantile(0.9, sum by (le) (osprey_request_duration_seconds_bucket{service=\"shop\"}))",
    );
    let p90 = value(&p90[0]);
    assert!(p90 > 0.5 && p90 <= 1.0, "p90 {p90}");
    let heap = promql(&prom, "jvm_memory_used_bytes{jvm_memory_type=\"heap\"}");
    assert_eq!(value(&heap[0]), 123456.0);
    let up = promql(&prom, "up{job=\"osprey\"}");
    assert_eq!(value(&up[0]), 1.0);

    // The Grafana dashboard: every query is valid PromQL here, and the
    // request, latency and heap panels have data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/osprey.json"))
            .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let e = t["expr"]
                .as_str()
                .unwrap()
                .replace("$service", ".*")
                .replace("$__rate_interval", "1m");
            exprs.push((panel["title"].as_str().unwrap().to_owned(), e));
        }
    }
    assert!(exprs.len() >= 15, "{exprs:?}");
    for (title, e) in &exprs {
        let (status, v) = query(&prom, e);
        assert_eq!(
            (status, v["status"].as_str()),
            (200, Some("success")),
            "{title}: {e}: {v}"
        );
    }
    for title in [
        "Requests per second",
        "Error rate",
        "Response time p95 / p99",
        "Heap used / limit",
    ] {
        let (_, e) = exprs.iter().find(|(t, _)| t == title).unwrap();
        let r = wait_for(title, WAIT, || {
            let r = promql(&prom, e);
            (!r.is_empty()).then_some(r)
        });
        if title == "Heap used / limit" {
            assert_eq!(value(&r[0]), 0.123456);
        }
    }
    running.stop();
}

/// One OTLP metrics request with `jvm.thread.count` from each of two
/// processes of `shop` (`service.instance.id`, `host.name`) and one from
/// a process that sent neither.
fn two_instances_request(now_ns: u64) -> String {
    let resource = |attrs: &[(&str, &str)], value: u32| {
        let attrs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!(r#"{{"key":"{k}","value":{{"stringValue":"{v}"}}}}"#))
            .collect();
        format!(
            r#"{{"resource":{{"attributes":[{}]}},"scopeMetrics":[{{"metrics":[{{"name":"jvm.thread.count","unit":"{{thread}}","gauge":{{"dataPoints":[{{"timeUnixNano":"{now_ns}","asInt":"{value}","attributes":[{{"key":"jvm.thread.daemon","value":{{"boolValue":true}}}}]}}]}}}}]}}]}}"#,
            attrs.join(",")
        )
    };
    format!(
        r#"{{"resourceMetrics":[{},{},{}]}}"#,
        resource(
            &[
                ("service.name", "shop"),
                ("service.instance.id", "shop-a"),
                ("host.name", "web-1")
            ],
            11
        ),
        resource(
            &[
                ("service.name", "shop"),
                ("service.instance.id", "shop-b"),
                ("host.name", "web-2")
            ],
            22
        ),
        resource(&[("service.name", "shop")], 33),
    )
}

#[test]
fn metric_points_of_two_instances_reach_prometheus_apart() {
    let dir = TempDir::new("prom-instances");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let running =
        osprey_server::api::start(ServerConfig::new(&data), "127.0.0.1:0".parse().unwrap())
            .unwrap();
    let base = running.base_url();
    let body = two_instances_request(ops::now_ns());
    let (st, _, answer) = call(
        "POST",
        &format!("{base}/v1/metrics"),
        None,
        None,
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(st, 200, "{answer}");

    // The exposition: one sample per instance, labelled with it.
    let (_, _, text) = call("GET", &format!("{base}/metrics"), None, None, None);
    for line in [
        "jvm_thread_count{service=\"shop\",instance=\"shop-a\",host_name=\"web-1\",jvm_thread_daemon=\"true\"} 11",
        "jvm_thread_count{service=\"shop\",instance=\"shop-b\",host_name=\"web-2\",jvm_thread_daemon=\"true\"} 22",
        "jvm_thread_count{service=\"shop\",jvm_thread_daemon=\"true\"} 33",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    // The query API answers per instance too.
    let (_, _, one) = call(
        "GET",
        &format!("{base}/api/metrics?name=jvm.thread.count&instance=shop-b"),
        None,
        None,
        None,
    );
    let one: Value = serde_json::from_str(&one).unwrap();
    let series = one["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{one}");
    assert_eq!(
        (
            &series[0]["instance"],
            &series[0]["host"],
            &series[0]["points"][0][1]
        ),
        (
            &Value::from("shop-b"),
            &Value::from("web-2"),
            &Value::from(22.0)
        )
    );

    // The real Prometheus, keeping our `instance` label (honor_labels).
    let port = free_port();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: osprey\n    honor_labels: true\n    static_configs:\n      - targets: ['{}']\n",
            running.addr
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let _prom = spawn(
        "prometheus",
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.0.join("tsdb").display()),
            &format!("--web.listen-address={listen}"),
        ],
        &dir.0,
    );
    let prom = format!("http://{listen}");
    let found = wait_for("Prometheus to scrape both instances", WAIT, || {
        let r = promql(
            &prom,
            "jvm_thread_count{service=\"shop\",instance=~\"shop-.*\"}",
        );
        (r.len() == 2).then_some(r)
    });
    let mut by_instance: Vec<(String, String, f64)> = found
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"].as_str().unwrap().to_owned(),
                r["metric"]["host_name"].as_str().unwrap().to_owned(),
                value(r),
            )
        })
        .collect();
    by_instance.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_instance,
        [
            ("shop-a".to_owned(), "web-1".to_owned(), 11.0),
            ("shop-b".to_owned(), "web-2".to_owned(), 22.0)
        ]
    );
    // The process without an id keeps the target's `instance`.
    let plain = promql(
        &prom,
        "jvm_thread_count{service=\"shop\",instance=~\"127.0.0.1:.*\"}",
    );
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert_eq!(value(&plain[0]), 33.0);
    assert_eq!(
        promql(&prom, "sum(jvm_thread_count{service=\"shop\"})")
            .first()
            .map(value),
        Some(66.0)
    );
    running.stop();
}
