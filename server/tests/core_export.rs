//! The core crate's real OTLP exporter (`osprey::init` with exporter=otlp)
//! pointed at the server: transactions, call trees, server-map edges and
//! the core's own per-second metrics arrive and are queryable. One test per
//! file: `osprey::init` is process-global.

mod support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use osprey::export::otlp::OtlpConfig;
use osprey::{Config, ErrorInfo, StepKind};
use osprey_server::api;
use osprey_server::app::ServerConfig;
use support::*;

fn record_order() {
    let txn = osprey::transaction("GET /orders").server().begin();
    txn.attr("client.address", "192.168.1.9")
        .attr("enduser.id", "carol")
        .attr("http.response.status_code", 200i64);
    {
        let _load = osprey::step("load");
        sleep(Duration::from_millis(2));
        {
            let sql = osprey::step_of_kind(StepKind::Sql, "SELECT * FROM orders WHERE id = ?");
            sql.attr("db.system", "mysql").attr("server.address", "db1");
            sql.error(ErrorInfo {
                kind: "java.sql.SQLException".into(),
                message: "lock wait timeout".into(),
                stack: String::new(),
            });
            sleep(Duration::from_millis(3));
        }
    }
    {
        let call = osprey::step_of_kind(StepKind::HttpCall, "GET /items");
        call.attr("url.full", "http://inventory:8080/items");
        sleep(Duration::from_millis(1));
    }
    txn.end();
}

#[test]
fn transactions_from_the_core_otlp_exporter_are_queryable() {
    let dir = TempDir::new("core");
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.base_url();
    let guard = osprey::init(
        Config::default()
            .service_name("core-svc")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(OtlpConfig::default().endpoint(&url)),
    )
    .expect("osprey starts");
    record_order();
    assert!(osprey::flush(Duration::from_secs(5)));

    let list = get(&format!("{url}/api/transactions?service=core-svc"));
    let t = &list["transactions"][0];
    assert_eq!(t["endpoint"], "GET /orders");
    assert_eq!(t["user"], "carol");
    assert_eq!(t["client_ip"], "192.168.1.9");
    assert_eq!(t["http_status"], 200);
    assert_eq!(t["error"], false);
    assert!(t["elapsed_ms"].as_f64().unwrap() >= 6.0);
    assert!(t["thread"].as_u64().unwrap() > 0);

    let tree = get(&format!("{url}/api/tree/{}", t["id"].as_str().unwrap()));
    let steps = tree["transactions"][0]["steps"].as_array().unwrap();
    let shape: Vec<(&str, u64, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["depth"].as_u64().unwrap(),
                s["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("load", 1, "method"),
            ("SELECT * FROM orders WHERE id = ?", 2, "sql"),
            ("GET /items", 1, "http"),
        ]
    );
    assert_eq!(steps[1]["sql"], "SELECT * FROM orders WHERE id = ?");
    assert_eq!(steps[1]["exception_type"], "java.sql.SQLException");
    assert_eq!(steps[1]["exception_message"], "lock wait timeout");
    assert!(steps[1]["duration_ms"].as_f64().unwrap() >= 3.0);
    assert!(steps[1]["offset_ms"].as_f64().unwrap() >= steps[0]["offset_ms"].as_f64().unwrap());
    assert!(steps[2]["offset_ms"].as_f64().unwrap() >= 5.0);

    let map = get(&format!("{url}/api/servermap?from=0"));
    let mut edges: Vec<(String, String, u64)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["callee"].as_str().unwrap().into(),
                e["callee_kind"].as_str().unwrap().into(),
                e["errors"].as_u64().unwrap(),
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            ("inventory:8080".to_owned(), "external".to_owned(), 0),
            ("mysql:db1".to_owned(), "database".to_owned(), 1),
        ]
    );

    // The core's per-second aggregates arrive as ordinary OTLP metrics.
    assert!(guard.shutdown(Duration::from_secs(5)));
    let deadline = Instant::now() + Duration::from_secs(5);
    let counted = loop {
        let series = get(&format!(
            "{url}/api/metrics?service=core-svc&name=osprey.transactions"
        ));
        let total: f64 = series["series"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p[1].as_f64().unwrap())
            })
            .sum();
        if total >= 1.0 || Instant::now() > deadline {
            break total;
        }
        sleep(Duration::from_millis(50));
    };
    assert_eq!(counted, 1.0);
    server.stop();
}
