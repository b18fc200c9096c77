//! The secrets scan of the Rust core: a child process (this test binary
//! again) records transactions carrying every planted secret of
//! `osprey_testkit::secrets` — a JDBC URL with its password, the
//! `Authorization` and `Cookie` headers, a bind value, a query-string token
//! in the transaction name, `url.full` and an outgoing call, a SQL literal
//! in a statement, its `db.statement` and a database error — and exports
//! them over OTLP, Zipkin, the local store and the console, with one more
//! OTLP exporter whose collector (its password in the URL) is down so its
//! failures are logged. The parent scans every byte that left the child:
//! the request heads and bodies both collectors received, the store's
//! files, standard output and standard error.
#![cfg(all(
    feature = "otlp",
    feature = "zipkin",
    feature = "store",
    feature = "console",
    feature = "enable"
))]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use osprey::export::console::ConsoleConfig;
use osprey::export::otlp::OtlpConfig;
use osprey::export::store::{StoreConfig, StoreReader};
use osprey::export::zipkin::ZipkinConfig;
use osprey::{Config, ErrorInfo, StepKind};
use osprey_testkit::secrets;
use osprey_testkit::{Receiver, Request};

const CHILD: &str = "OSPREY_SECRETS_CHILD";

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Runs in the child: records the planted secrets and exports them.
#[test]
fn child_records_planted_secrets() {
    let Ok(setup) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = setup.split('|');
    let (otlp, zipkin, store, down) = (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
        PathBuf::from(parts.next().unwrap()),
        parts.next().unwrap().to_owned(),
    );
    let guard = osprey::init(
        Config::default()
            .service_name("secrets")
            .batch_delay(Duration::from_millis(50))
            .shutdown_timeout(Duration::from_secs(3))
            .exporter_spec(OtlpConfig::default().endpoint(&otlp))
            .exporter_spec(ZipkinConfig {
                endpoint: zipkin,
                timeout: Duration::from_secs(5),
            })
            .exporter_spec(StoreConfig {
                dir: store,
                ..StoreConfig::default()
            })
            .exporter_spec(ConsoleConfig { tree: true })
            .exporter_spec(
                OtlpConfig::default()
                    .endpoint(&down)
                    .timeout(Duration::from_millis(200))
                    .max_retry_time(Duration::from_millis(400)),
            ),
    )
    .expect("osprey starts");
    for _ in 0..3 {
        let name = format!("GET /login?{}", secrets::QUERY);
        let txn = osprey::transaction(name).server().begin();
        txn.attr("http.request.header.authorization", secrets::AUTHORIZATION)
            .attr("http.request.header.cookie", secrets::COOKIE)
            .attr(
                "url.full",
                format!("http://shop.internal/login?{}", secrets::QUERY),
            )
            .attr("url.query", secrets::QUERY)
            .attr("db.connection_string", secrets::JDBC_URL)
            .attr("http.response.status_code", 200i64);
        {
            let sql = osprey::step_of_kind(StepKind::Sql, secrets::SQL);
            sql.attr("db.system", "postgresql")
                .attr("db.statement", secrets::SQL)
                .attr("db.connection_string", secrets::JDBC_URL_SEMICOLONS)
                .attr("db.query.parameter.0", secrets::BIND_VALUE)
                .attr("db.operation.parameter.api_key", secrets::BIND_VALUE);
            sql.error(ErrorInfo {
                kind: "org.postgresql.util.PSQLException".into(),
                message: format!("no row for {}", secrets::SQL),
                stack: String::new(),
            });
        }
        {
            let call = osprey::step_of_kind(StepKind::HttpCall, secrets::URL_WITH_TOKEN);
            call.attr("url.full", secrets::URL_WITH_USERINFO);
        }
        let named = osprey::raw::enter_named(secrets::URL_WITH_USERINFO, StepKind::HttpCall);
        osprey::raw::exit_step(named);
        txn.end();
    }
    assert!(osprey::flush(Duration::from_secs(10)));
    assert!(guard.shutdown(Duration::from_secs(5)));
}

fn scan_requests(place: &str, requests: &[Request]) -> usize {
    for r in requests {
        let head = format!("{} {:?}", r.path, r.headers);
        secrets::assert_none(&format!("{place} request head"), head.as_bytes());
        secrets::assert_none(&format!("{place} request body"), &r.body);
    }
    requests.iter().map(|r| r.body.len()).sum()
}

#[test]
fn no_planted_secret_leaves_the_process() {
    let otlp = Receiver::start();
    let zipkin = Receiver::start();
    let store = tempfile::tempdir().expect("temp dir");
    let down = format!(
        "http://app:{}@127.0.0.1:{}",
        secrets::JDBC_PASSWORD,
        closed_port()
    );
    let setup = format!(
        "{}|{}/api/v2/spans|{}|{down}",
        otlp.endpoint(),
        zipkin.endpoint(),
        store.path().display()
    );
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["child_records_planted_secrets", "--exact", "--nocapture"])
        .env(CHILD, setup)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // Everything was exported somewhere, so the scans below looked at it.
    let spans = osprey_testkit::spans::all_spans(&otlp.traces());
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let logins = names.iter().filter(|n| n.starts_with("GET /login")).count();
    assert_eq!(logins, 3, "{names:?}\n{stderr}");
    assert!(
        spans
            .iter()
            .any(|s| s.name.starts_with("SELECT id FROM accounts"))
    );
    assert!(scan_requests("OTLP", &otlp.requests()) > 0);
    assert!(scan_requests("Zipkin", &zipkin.requests()) > 0);
    let (stored, issues) = StoreReader::open(store.path())
        .expect("store")
        .transactions();
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(stored.len(), 3);
    for t in &stored {
        let names: Vec<&str> = (0..t.record.steps.len())
            .map(|i| t.name(t.record.steps[i].name))
            .chain([t.endpoint()])
            .collect();
        secrets::assert_none("the store's names", format!("{names:?}").as_bytes());
    }
    assert!(secrets::assert_none_in_dir(store.path()) > 0);
    // The console printed the transactions and their trees; the failing
    // exporter logged its errors.
    assert!(stderr.contains("GET /login"), "{stderr}");
    assert!(stderr.contains("accounts"), "{stderr}");
    secrets::assert_none("standard output", stdout.as_bytes());
    secrets::assert_none("standard error (console and logs)", stderr.as_bytes());
}
