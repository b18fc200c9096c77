//! The secrets scan through the C ABI: `ffi/tests/c/secrets.c` records
//! transactions carrying every planted secret of `osprey_testkit::secrets`
//! and exports them over OTLP and Zipkin, into the local store and on the
//! console; every byte received, stored or printed is scanned. (Log lines of
//! a failing exporter are scanned by the core's `tests/secrets_scan.rs`.)

mod common;

use std::time::Duration;

use osprey_testkit::spans::all_spans;
use osprey_testkit::{Receiver, secrets};

#[test]
fn no_planted_secret_leaves_a_c_program() {
    let otlp = Receiver::start();
    let zipkin = Receiver::start();
    let cwd = common::scratch("secrets");
    let store = cwd.join("store");
    let config = format!(
        "exporter=otlp,zipkin,store,console;otlp.endpoint={};zipkin.endpoint={}/api/v2/spans;\
         store.dir={};console.tree=true;batch.delay_ms=50;service.name=c-secrets",
        otlp.endpoint(),
        zipkin.endpoint(),
        store.display()
    );
    let exe = common::compile(
        &common::repo_root().join("ffi/tests/c/secrets.c"),
        "secrets",
    );
    let out = common::run_ok(
        &exe,
        &[
            &config,
            secrets::QUERY,
            secrets::AUTHORIZATION,
            secrets::COOKIE,
            secrets::JDBC_URL,
            secrets::SQL,
            secrets::BIND_VALUE,
            secrets::URL_WITH_TOKEN,
            secrets::URL_WITH_USERINFO,
        ],
        &cwd,
        Duration::from_secs(60),
    );
    assert!(
        out.stdout.contains("flush 0 shutdown 0"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let spans = all_spans(&otlp.traces());
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.name.starts_with("GET /c/login"))
            .count(),
        3
    );
    assert!(spans.iter().any(|s| s.name.contains("api_key = ?")));
    for (place, receiver) in [("OTLP", &otlp), ("Zipkin", &zipkin)] {
        let requests = receiver.requests();
        assert!(!requests.is_empty(), "{place}");
        for r in &requests {
            secrets::assert_none(
                &format!("{place} head"),
                format!("{:?}", r.headers).as_bytes(),
            );
            secrets::assert_none(&format!("{place} body"), &r.body);
        }
    }
    assert!(secrets::assert_none_in_dir(&store) > 0);
    assert!(out.stderr.contains("GET /c/login"), "{}", out.stderr);
    for (place, text) in [("stdout", &out.stdout), ("stderr (console)", &out.stderr)] {
        secrets::assert_none(place, text.as_bytes());
    }
}
