//! Every transaction reaches the server: the core's real OTLP exporter
//! (default `otlp.summaries=auto`) with a tree budget of 3 per second,
//! pointed at the real server, finds it is an Osprey server and sends the
//! transactions whose tree was left out as summaries. Two processes of one
//! service (two `osprey::init` runs with their own `service.instance.id`
//! and `host.name`) are told apart. One test per file: `osprey::init` is
//! process-global.

mod support;

use std::time::Duration;

use osprey::export::otlp::OtlpConfig;
use osprey::{Config, StepKind};
use osprey_server::api;
use osprey_server::app::ServerConfig;
use serde_json::Value;
use support::*;

/// Runs `n` transactions of service `shop` as instance `instance` on host
/// `host`; returns the collector's `counted_only`.
fn run_instance(url: &str, instance: &str, host: &str, n: usize) -> u64 {
    let guard = osprey::init(
        Config::default()
            .service_name("shop")
            .resource_attribute("service.instance.id", instance)
            .resource_attribute("host.name", host)
            .batch_delay(Duration::from_millis(20))
            .trees_per_second(Some(3))
            .exporter_spec(OtlpConfig::default().endpoint(url)),
    )
    .expect("osprey starts");
    for i in 0..n {
        let txn = osprey::transaction(format!("GET /item/{}", i % 3))
            .server()
            .begin();
        txn.attr("http.response.status_code", 200i64)
            .attr("client.address", "10.1.1.1")
            .attr("enduser.id", format!("{instance}-{i}"));
        for _ in 0..2 {
            let _sql = osprey::step_of_kind(StepKind::Sql, "SELECT 1");
        }
        txn.end();
    }
    assert!(guard.shutdown(Duration::from_secs(10)), "shutdown in time");
    osprey::stats().counted_only
}

fn transactions(url: &str, query: &str) -> Vec<Value> {
    let list = get(&format!("{url}/api/transactions?limit=10000&{query}"));
    list["transactions"].as_array().unwrap().clone()
}

#[test]
fn every_transaction_arrives_counted_and_filtered_by_instance() {
    let dir = TempDir::new("summaries");
    let server = api::start(ServerConfig::new(&dir.0), "127.0.0.1:0".parse().unwrap()).unwrap();
    let url = server.base_url();
    let (a, b) = (60, 25);
    assert_eq!(
        run_instance(&url, "shop-a", "host-a", a),
        0,
        "auto turned on"
    );
    assert_eq!(run_instance(&url, "shop-b", "host-b", b), 0);

    // Every transaction is in the index, once.
    let all = transactions(&url, "service=shop");
    assert_eq!(all.len(), a + b);
    let mut users: Vec<&str> = all.iter().map(|t| t["user"].as_str().unwrap()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), a + b);
    let summaries: Vec<&Value> = all.iter().filter(|t| t["tree_omitted"] == true).collect();
    assert!(!summaries.is_empty(), "the budget left trees out");
    assert!(summaries.len() < a + b, "the budget kept some trees");

    // The per-second aggregates (TPS) count every one.
    let from = all
        .iter()
        .map(|t| t["end_ms"].as_u64().unwrap())
        .min()
        .unwrap()
        - 1_000;
    let to = all
        .iter()
        .map(|t| t["end_ms"].as_u64().unwrap())
        .max()
        .unwrap()
        + 1_000;
    let counted = transactions_counted(&url, from, to);
    assert_eq!(counted, (a + b) as u64);

    // A summary: listed like any transaction, its tree says it was not kept
    // and carries the SQL count and time.
    let s = summaries[0];
    assert_eq!(s["http_status"], 200);
    assert_eq!(s["client_ip"], "10.1.1.1");
    assert!(s["thread"].as_u64().unwrap() > 0);
    let tree = get(&format!("{url}/api/tree/{}", s["id"].as_str().unwrap()));
    let t = &tree["transactions"][0];
    assert_eq!(t["transaction"]["tree_omitted"], true);
    assert_eq!(t["attributes"]["osprey.tree"], "omitted");
    assert_eq!(t["attributes"]["osprey.sql.count"], "2");
    assert!(t["attributes"]["osprey.sql.time_ms"].as_str().is_some());
    assert_eq!(t["steps"].as_array().unwrap().len(), 0);
    // A kept tree has its SQL steps.
    let kept = all.iter().find(|t| t["tree_omitted"] == false).unwrap();
    let tree = get(&format!("{url}/api/tree/{}", kept["id"].as_str().unwrap()));
    assert_eq!(
        tree["transactions"][0]["steps"].as_array().unwrap().len(),
        2
    );

    // The instance filter, on the list and the XLog.
    let of_a = transactions(&url, "service=shop&instance=shop-a");
    assert_eq!(of_a.len(), a);
    assert!(of_a.iter().all(|t| t["instance"] == "shop-a"));
    assert_eq!(transactions(&url, "instance=shop-b").len(), b);
    assert!(transactions(&url, "instance=nope").is_empty());
    let xlog = get(&format!(
        "{url}/api/xlog?instance=shop-b&from={from}&to={to}"
    ));
    assert_eq!(xlog["id"].as_array().unwrap().len(), b);
    assert!(
        xlog["instance"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i == "shop-b")
    );

    // The instances of the service, latest seen first.
    let instances = get(&format!("{url}/api/instances?service=shop"));
    let list = instances["instances"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{instances}");
    let pid = u64::from(std::process::id());
    for (entry, (id, host, n)) in list
        .iter()
        .zip([("shop-b", "host-b", b), ("shop-a", "host-a", a)])
    {
        assert_eq!(entry["service"], "shop");
        assert_eq!(entry["instance"], id);
        assert_eq!(entry["host"], host);
        assert_eq!(entry["pid"].as_u64(), Some(pid));
        assert_eq!(entry["transactions"].as_u64(), Some(n as u64));
        assert!(entry["summaries"].as_u64().unwrap() > 0);
        assert!(entry["first_seen_ms"].as_u64() <= entry["last_seen_ms"].as_u64());
    }
    assert!(
        get(&format!("{url}/api/instances?service=other"))["instances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    server.stop();
}
