//! C program → header → libosprey → OTLP/HTTP → the real Osprey server:
//! with a call-tree budget of 2 per second, 200 requests recorded by a C
//! program all reach the server (the budget's trees and every failing one
//! in full, the rest as summary spans, which the server's `osprey-server`
//! answer header turned on), with their user, status and SQL counts, under
//! the program's own instance (host, pid).

mod common;

use std::time::Duration;

use osprey_server::api;
use osprey_server::app::ServerConfig;
use serde_json::Value;

fn get(url: &str) -> Value {
    let mut resp = ureq::get(url).call().expect("the server answers");
    serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn every_request_of_a_c_program_reaches_the_server() {
    let dir = common::scratch("c-to-server");
    let server = api::start(
        ServerConfig::new(dir.join("data")),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let url = server.base_url();
    let exe = common::compile(
        &common::repo_root().join("ffi/tests/c/requests.c"),
        "requests",
    );
    let config = format!(
        "exporter=otlp;otlp.endpoint={url};sample.trees_per_second=2;batch.delay_ms=50;\
         service.name=c-load"
    );
    let out = common::run_ok(&exe, &[&config, "200"], &dir, Duration::from_secs(60));
    let pid: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the program prints its pid: {}", out.stdout));

    let list = get(&format!(
        "{url}/api/transactions?from=0&limit=1000&service=c-load"
    ))["transactions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 200, "every request: {:?}", out.stderr);
    let errors: Vec<&Value> = list.iter().filter(|t| t["error"] == true).collect();
    assert_eq!(errors.len(), 20, "every tenth answered 500");
    assert!(
        errors.iter().all(|t| t["tree_omitted"] == false),
        "failures keep their call tree"
    );
    let summaries = list.iter().filter(|t| t["tree_omitted"] == true).count();
    assert!(
        (170..=178).contains(&summaries),
        "the budget kept 2 to 10 ordinary trees, the rest are summaries: {summaries}"
    );
    let mut users: Vec<&str> = list.iter().map(|t| t["user"].as_str().unwrap()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 200, "each summary carries its user");
    let summary = list.iter().find(|t| t["tree_omitted"] == true).unwrap();
    let tree = get(&format!(
        "{url}/api/tree/{}",
        summary["id"].as_str().unwrap()
    ));
    let attributes = &tree["transactions"][0]["attributes"];
    assert_eq!(
        attributes["osprey.sql.count"], "1",
        "the SQL count travels in the summary: {tree:#}"
    );

    let instances = get(&format!("{url}/api/instances?service=c-load"));
    let instances = instances["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{instances:#?}");
    assert_eq!(instances[0]["pid"], pid, "{instances:#?}");
    assert!(
        !instances[0]["host"].as_str().unwrap_or_default().is_empty(),
        "{instances:#?}"
    );
}
