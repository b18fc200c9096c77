//! The secrets scan through the server: the core's OTLP exporter sends
//! transactions carrying every planted secret of `osprey_testkit::secrets`
//! to a real `osprey serve` process, and API requests carry planted
//! credentials (`Authorization`, `Cookie`, a query token); then every API
//! response, the server's data directory and its logs are scanned. One
//! test per file: `osprey::init` is process-global.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use osprey::export::otlp::OtlpConfig;
use osprey::{Config, ErrorInfo, StepKind};
use osprey_testkit::secrets;
use support::*;

fn record_planted() {
    let txn = osprey::transaction(format!("POST /login?{}", secrets::QUERY))
        .server()
        .begin();
    txn.attr("http.request.header.authorization", secrets::AUTHORIZATION)
        .attr("http.request.header.cookie", secrets::COOKIE)
        .attr("url.query", secrets::QUERY)
        .attr("db.connection_string", secrets::JDBC_URL)
        .attr("enduser.id", "dave");
    {
        let sql = osprey::step_of_kind(StepKind::Sql, secrets::SQL);
        sql.attr("db.system", "postgresql")
            .attr("server.address", "db1")
            .attr("db.query.parameter.0", secrets::BIND_VALUE);
        sql.error(ErrorInfo {
            kind: "java.sql.SQLException".into(),
            message: format!("failed: {}", secrets::SQL),
            stack: String::new(),
        });
    }
    {
        let call = osprey::step_of_kind(StepKind::HttpCall, secrets::URL_WITH_TOKEN);
        call.attr("url.full", secrets::URL_WITH_USERINFO);
    }
    txn.end();
}

/// GET with the planted credentials; status and body.
fn get_planted(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .header("authorization", secrets::AUTHORIZATION)
        .header("cookie", secrets::COOKIE)
        .call()
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn no_planted_secret_reaches_the_api_the_data_or_the_logs() {
    let dir = TempDir::new("secrets");
    let data = dir.0.join("data");
    let log = dir.0.join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args([
            "serve",
            "--grpc-listen",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("osprey starts");
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    let _server = ServerProcess(child);
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();

    let guard = osprey::init(
        Config::default()
            .service_name("secrets-svc")
            .batch_delay(Duration::from_millis(50))
            .exporter_spec(OtlpConfig::default().endpoint(&url)),
    )
    .expect("osprey starts");
    for _ in 0..3 {
        record_planted();
    }
    assert!(guard.shutdown(Duration::from_secs(5)));

    let list = get(&format!("{url}/api/transactions?service=secrets-svc"));
    let ids: Vec<String> = list["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    let mut paths = vec![
        "/api/status".to_owned(),
        "/api/transactions?service=secrets-svc".to_owned(),
        "/api/xlog?from=0".to_owned(),
        "/api/aggregates?from=0".to_owned(),
        "/api/servermap?from=0".to_owned(),
        "/api/instances".to_owned(),
        "/api/active".to_owned(),
        "/api/metrics?service=secrets-svc&name=osprey.transactions".to_owned(),
        format!("/api/transactions?service=secrets-svc&{}", secrets::QUERY),
    ];
    paths.extend(ids.iter().map(|id| format!("/api/tree/{id}")));
    let mut scanned = 0;
    for path in &paths {
        let (status, body) = get_planted(&format!("{url}{path}"));
        secrets::assert_none(&format!("GET {path} ({status})"), body.as_bytes());
        scanned += body.len();
    }
    // The tree holds the sanitised statement: the scan saw the data.
    let (_, tree) = get_status(&format!("{url}/api/tree/{}", ids[0]));
    assert!(tree.contains("api_key = ?"), "{tree}");
    assert!(scanned > 1000);

    drop(_server);
    assert!(secrets::assert_none_in_dir(&data) > 0);
    let logged = std::fs::read(&log).unwrap();
    secrets::assert_none("the server's log", &logged);
}
