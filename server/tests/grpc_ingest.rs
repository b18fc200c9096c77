//! OTLP/gRPC ingest on the server's port (HTTP/2 without TLS beside
//! HTTP/1.1): the core's own exporter with `otlp.protocol=grpc` and gzip,
//! the official OpenTelemetry Python SDK's gRPC exporter, and hostile
//! messages from grpcio (not protobuf; a gzip bomb), after which the server
//! still answers. The Python clients are `tests/python/otlp_grpc_client.py`
//! (versions pinned in `tests/python/requirements.txt`, installed by
//! `.ci/run`); without them the Python tests fail in CI and are skipped with
//! a message elsewhere. The Java agent (Java → JNI → libosprey → gRPC) runs
//! the Tomcat demo with `otlp.protocol=grpc`. `osprey::init` is process-global, so the core
//! exporter's test is the only one here that starts it.

mod support;
mod viewer_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use osprey::export::otlp::{Compression, OtlpConfig, Protocol};
use osprey::{Config, StepKind};
use osprey_server::app::ServerConfig;
use osprey_server::{api, auth};
use serde_json::Value;
use support::*;

fn transactions(url: &str, service: &str) -> Vec<Value> {
    get(&format!(
        "{url}/api/transactions?from=0&limit=100&service={service}"
    ))["transactions"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_core_exporter_sends_over_grpc() {
    let dir = TempDir::new("grpc-core");
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.base_url();
    let guard = osprey::init(
        Config::default()
            .service_name("grpc-svc")
            .batch_delay(Duration::from_millis(50))
            .trees_per_second(Some(2))
            .exporter_spec(
                OtlpConfig::default()
                    .endpoint(&url)
                    .protocol(Protocol::Grpc)
                    .compression(Compression::Gzip),
            ),
    )
    .expect("osprey starts");
    for i in 0..20 {
        let txn = osprey::transaction("GET /grpc").server().begin();
        txn.attr("http.response.status_code", 200i64)
            .attr("enduser.id", format!("user-{i:02}"));
        {
            let sql = osprey::step_of_kind(StepKind::Sql, "SELECT 1");
            sql.attr("db.system", "h2");
        }
        txn.end();
    }
    assert!(osprey::flush(Duration::from_secs(10)));
    let stats = osprey::stats();
    drop(guard);

    // Every transaction arrives: the budget's trees in full, the rest as
    // summaries, turned on by the server's `osprey-server` gRPC metadata.
    let list = transactions(&url, "grpc-svc");
    assert_eq!(list.len(), 20, "{list:#?} {stats:?}");
    let mut users: Vec<&str> = list.iter().map(|t| t["user"].as_str().unwrap()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 20);
    let (summaries, trees): (Vec<&Value>, Vec<&Value>) =
        list.iter().partition(|t| t["tree_omitted"] == true);
    assert!(
        (1..=4).contains(&trees.len()) && summaries.len() == 20 - trees.len(),
        "{} trees, {} summaries",
        trees.len(),
        summaries.len()
    );
    let tree = get(&format!(
        "{url}/api/tree/{}",
        trees[0]["id"].as_str().unwrap()
    ));
    let steps = tree["transactions"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{tree:#}");
    assert_eq!(steps[0]["sql"], "SELECT ?", "literals sanitized by default");
    // The core's per-second aggregates came over the metrics service.
    let metrics = get(&format!("{url}/api/metrics?service=grpc-svc&from=0"));
    assert!(
        metrics["series"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "osprey.transactions"),
        "{metrics:#}"
    );
}

/// Runs the Python client in `mode`; `None` when Python or its packages are
/// missing outside CI.
fn python_client(mode: &str, target: &str) -> Option<String> {
    python_client_with_key(mode, target, None)
}

/// [`python_client`], sending `key` as a bearer token.
fn python_client_with_key(mode: &str, target: &str, key: Option<&str>) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_grpc_client.py");
    let python = std::env::var("OSPREY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args([
            "-c",
            "import grpc, opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tests/python/requirements.txt"
        );
        eprintln!(
            "skipped: {python} lacks grpcio / opentelemetry-exporter-otlp-proto-grpc \
             (pip install -r server/tests/python/requirements.txt)"
        );
        return None;
    }
    let mut command = Command::new(&python);
    command.arg(&script).args([mode, target]);
    match key {
        Some(k) => command.env("OSPREY_TEST_KEY", k),
        None => command.env_remove("OSPREY_TEST_KEY"),
    };
    let out = command.output().expect("python runs");
    assert!(
        out.status.success(),
        "{mode}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn the_opentelemetry_python_sdk_exports_over_grpc() {
    let dir = TempDir::new("grpc-python");
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let Some(answer) = python_client("sdk", &server.addr.to_string()) else {
        return;
    };
    assert_eq!(answer, "ok");
    let url = server.base_url();
    let list = transactions(&url, "py-grpc");
    let mut endpoints: Vec<&str> = list
        .iter()
        .map(|t| t["endpoint"].as_str().unwrap())
        .collect();
    endpoints.sort();
    assert_eq!(endpoints, ["GET /py", "POST /py/fail"], "{list:#?}");
    let get_py = list.iter().find(|t| t["endpoint"] == "GET /py").unwrap();
    assert_eq!(get_py["client_ip"], "10.1.2.3");
    assert_eq!(get_py["error"], false);
    let fail = list.iter().find(|t| t["endpoint"] != "GET /py").unwrap();
    assert_eq!(fail["error"], true);
    let tree = get(&format!(
        "{url}/api/tree/{}",
        get_py["id"].as_str().unwrap()
    ));
    assert_eq!(
        tree["transactions"][0]["steps"][0]["sql"], "SELECT 1",
        "{tree:#}"
    );
}

#[test]
fn hostile_grpc_messages_get_error_statuses_and_the_server_runs_on() {
    let dir = TempDir::new("grpc-hostile");
    let mut config = ServerConfig::new(&dir.0);
    config.max_decompressed_bytes = 1 << 20;
    let server = api::start(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let target = server.addr.to_string();
    let Some(garbage) = python_client("raw", &target) else {
        return;
    };
    assert_ne!(garbage, "ok", "bytes that are not protobuf are refused");
    let bomb = python_client("bomb", &target).unwrap();
    assert_eq!(
        bomb, "RESOURCE_EXHAUSTED",
        "8 MiB once decompressed, over the 1 MiB limit"
    );
    let status = get(&format!("{}/api/status", server.base_url()));
    assert_eq!(status["records_written"], 0, "{status:#}");
    // Still serving gRPC after both.
    assert_eq!(python_client("sdk", &target).unwrap(), "ok");
    assert_eq!(transactions(&server.base_url(), "py-grpc").len(), 2);
}

#[test]
fn the_java_agent_sends_over_grpc() {
    let dir = TempDir::new("grpc-agent");
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.base_url();
    let demo = viewer_support::Demo::start(
        &format!(
            "exporter=otlp,otlp.protocol=grpc,otlp.endpoint={url},\
             batch.delay_ms=50,service.name=grpc-agent"
        ),
        &dir.0.join("demo"),
    );
    for _ in 0..2 {
        assert_eq!(demo.get("/hello?id=7", &[]).0, 200);
    }
    assert_eq!(demo.get("/fail", &[]).0, 500);
    demo.stop();
    let list = transactions(&url, "grpc-agent");
    let named = |e: &str| list.iter().filter(|t| t["endpoint"] == e).count();
    assert_eq!(named("GET /hello"), 2, "{list:#?}");
    let fail: Vec<&Value> = list.iter().filter(|t| t["error"] == true).collect();
    assert_eq!(fail.len(), 1, "{list:#?}");
    assert_eq!(fail[0]["http_status"], 500);
}

/// With auth on (keys in the data directory), a gRPC call needs a key as
/// an HTTP request does; a key restricted to other services stores nothing;
/// the second listener (`--grpc-listen`, here an ephemeral port) serves the
/// same, behind the same keys.
#[test]
fn grpc_calls_need_a_key_on_both_listeners_when_auth_is_on() {
    let dir = TempDir::new("grpc-keys");
    let (_, key) = auth::keys::add(&dir.0, Some("py".into()), vec!["py-grpc".into()]).unwrap();
    let (_, other) = auth::keys::add(&dir.0, Some("other".into()), vec!["other".into()]).unwrap();
    let mut config = ServerConfig::new(&dir.0);
    config.net.grpc_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = api::start(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let second = server.grpc_addr.expect("a second listener").to_string();
    let written = || server.app.status().records_written;
    for target in [server.addr.to_string(), second.clone()] {
        let Some(answer) = python_client("raw", &target) else {
            return;
        };
        assert_eq!(answer, "UNAUTHENTICATED", "no key, {target}");
        let wrong = python_client_with_key("raw", &target, Some("osk_wrong")).unwrap();
        assert_eq!(wrong, "UNAUTHENTICATED", "a wrong key, {target}");
        let past_the_key = python_client_with_key("raw", &target, Some(&key)).unwrap();
        assert!(
            !["ok", "UNAUTHENTICATED"].contains(&past_the_key.as_str()),
            "a good key reaches the decoder, which refuses the bytes: {past_the_key}"
        );
        let sdk = python_client_with_key("sdk", &target, Some(&other)).unwrap();
        assert_eq!(sdk, "FAILURE", "a key for other services, {target}");
    }
    assert_eq!(written(), 0, "nothing stored without a fitting key");
    let sdk = python_client_with_key("sdk", &second, Some(&key)).unwrap();
    assert_eq!(sdk, "ok");
    assert!(
        written() > 0,
        "stored through the second listener with the key"
    );
}
