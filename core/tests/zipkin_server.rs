//! Exports a nested transaction to a real Zipkin server and reads it back
//! through Zipkin's query API.
//!
//! Needs the zipkin-server exec jar: `scripts/zipkin-server.sh fetch` puts it
//! in `target/zipkin/zipkin.jar`, or set `ZIPKIN_JAR`. The test starts the
//! server itself on a free loopback port and stops it at the end. Without a
//! jar it is skipped, except under CI (`CI` set), where it fails.
#![cfg(all(feature = "zipkin", feature = "enable"))]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use osprey::export::zipkin::ZipkinConfig;
use osprey::{Config, ErrorInfo, StepKind};
use serde_json::Value;

const REMOTE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_PARENT: &str = "00f067aa0ba902b7";

fn find_jar() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZIPKIN_JAR") {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/zipkin/zipkin.jar");
    default.is_file().then_some(default)
}

/// Kills and reaps the server however the test ends.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

fn start_server(jar: &PathBuf) -> Server {
    let port = free_port();
    let log = std::env::temp_dir().join(format!("osprey-zipkin-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("create server log");
    let child = Command::new("java")
        .arg("-Xmx256m")
        .arg("-jar")
        .arg(jar)
        .arg(format!("--armeria.ports[0].port={port}"))
        .arg("--armeria.ports[0].ip=127.0.0.1")
        .arg("--armeria.ports[0].protocols[0]=http")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file)
        .spawn()
        .expect("start java (is a JDK 17+ installed?)");
    let mut server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if get(&format!("http://127.0.0.1:{port}/health")).is_some() {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("zipkin exited with {status}; see {}", log.display());
        }
        sleep(Duration::from_millis(250));
    }
    panic!(
        "zipkin did not become healthy in 180 s; see {}",
        log.display()
    );
}

fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn poll_trace(port: u16, trace_id: &str, want: usize) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v2/trace/{trace_id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        if let Some(text) = get(&url) {
            last = serde_json::from_str::<Vec<Value>>(&text).expect("trace JSON");
            if last.len() >= want {
                return last;
            }
        }
        sleep(Duration::from_millis(200));
    }
    panic!(
        "trace {trace_id} has {} of {want} spans: {last:?}",
        last.len()
    );
}

#[test]
fn nested_transaction_reaches_zipkin() {
    let Some(jar) = find_jar() else {
        let why = "no zipkin jar: run scripts/zipkin-server.sh fetch or set ZIPKIN_JAR";
        if std::env::var_os("CI").is_some() {
            panic!("{why}");
        }
        eprintln!("skipping nested_transaction_reaches_zipkin: {why}");
        return;
    };
    let server = start_server(&jar);

    let guard = osprey::init(
        Config::default()
            .service_name("osprey-zipkin-it")
            .exporter_spec(ZipkinConfig {
                endpoint: format!("http://127.0.0.1:{}/api/v2/spans", server.port),
                timeout: Duration::from_secs(10),
            }),
    )
    .expect("osprey starts");

    let header = format!("00-{REMOTE_TRACE}-{REMOTE_PARENT}-01");
    let txn = osprey::transaction("GET /orders")
        .server()
        .traceparent(&header)
        .begin();
    txn.attr("http.request.method", "GET");
    txn.attr("http.response.status_code", 500i64);
    let txn_context = osprey::traceparent().expect("inside a transaction");
    let sql_context;
    {
        let _load = osprey::step("load_orders");
        spin(Duration::from_millis(3));
        let sql = osprey::step_of_kind(StepKind::Sql, "SELECT id FROM orders WHERE user = ?");
        sql.attr("db.system", "postgresql");
        sql.attr("db.statement", "SELECT id FROM orders WHERE user = ?");
        sql_context = osprey::traceparent().expect("inside a step");
        spin(Duration::from_millis(2));
    }
    txn.error(ErrorInfo {
        kind: "IllegalStateException".into(),
        message: "order service failed".into(),
        stack: String::new(),
    });
    txn.end();
    assert!(osprey::flush(Duration::from_secs(20)), "flush timed out");
    let stats = osprey::stats();
    let zipkin = stats.exporters.iter().find(|e| e.name == "zipkin").unwrap();
    assert_eq!(zipkin.delivered, 1, "zipkin exporter stats: {zipkin:?}");

    let spans = poll_trace(server.port, REMOTE_TRACE, 3);
    assert_eq!(spans.len(), 3, "{spans:?}");
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no span named {name}: {spans:?}"))
    };
    // Zipkin lower-cases span names.
    let root = by_name("get /orders");
    let load = by_name("load_orders");
    let sql = by_name("select id from orders where user = ?");

    let txn_span = &txn_context[36..52];
    let sql_span = &sql_context[36..52];
    assert_eq!(root["id"], txn_span);
    assert_eq!(root["parentId"], REMOTE_PARENT);
    assert_eq!(root["kind"], "SERVER");
    assert_eq!(root["localEndpoint"]["serviceName"], "osprey-zipkin-it");
    assert_eq!(root["tags"]["http.request.method"], "GET");
    assert_eq!(root["tags"]["http.response.status_code"], "500");
    assert_eq!(root["tags"]["error"], "order service failed");

    assert_eq!(load["parentId"], txn_span);
    assert!(
        load.get("kind").is_none(),
        "method step is internal: {load}"
    );
    assert_eq!(sql["id"], sql_span);
    assert_eq!(sql["parentId"], load["id"]);
    assert_eq!(sql["kind"], "CLIENT");
    assert_eq!(sql["remoteEndpoint"]["serviceName"], "postgresql");
    assert_eq!(
        sql["tags"]["db.statement"],
        "SELECT id FROM orders WHERE user = ?"
    );

    let micros = |s: &Value| s["duration"].as_u64().expect("duration");
    assert!(micros(sql) >= 2_000, "{sql}");
    assert!(
        micros(load) >= 5_000 && micros(load) >= micros(sql),
        "{load}"
    );
    assert!(micros(root) >= micros(load), "{root}");
    let ts = |s: &Value| s["timestamp"].as_u64().expect("timestamp");
    assert!(ts(root) <= ts(load) && ts(load) <= ts(sql));

    assert!(guard.shutdown(Duration::from_secs(10)));
    drop(server);
}
