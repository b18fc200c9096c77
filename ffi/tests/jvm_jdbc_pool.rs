//! JDBC through connection pools, end to end: `PoolApp`
//! (`jvm-agent/src/test-app/pool/demo/pool`) under the agent borrows
//! connections from HikariCP and from the Tomcat JDBC pool over one H2
//! database, one transaction per pool (`hook.transactions`), exporting to a
//! loopback OTLP receiver.
//!
//! Pools hand out their own connection and statement classes (HikariCP's
//! generated proxies, Tomcat's `java.lang.reflect.Proxy` connections) that
//! delegate to the driver's: both layers are instrumented, and each
//! statement execution must still be exactly one SQL step, named with the
//! sanitised SQL the application prepared (also when a prepared statement
//! runs twice), carrying `db.system` and the statement, with the pool's
//! password and the literals nowhere. The schema set-up outside any
//! transaction records nothing; the output is the same with and without the
//! agent. On JDK 17 and Temurin 25.

mod common;

use std::path::Path;
use std::time::Duration;

use common::java::{AppSpec, jdks};
use opentelemetry_proto::tonic::trace::v1::span;
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

const ARTIFACTS: &[(&str, &str)] = &[
    ("com.h2database:h2:2.5.252", "h2-2.5.252.jar"),
    ("com.zaxxer:HikariCP:7.1.0", "HikariCP-7.1.0.jar"),
    ("org.slf4j:slf4j-api:2.0.20", "slf4j-api-2.0.20.jar"),
    (
        "org.apache.tomcat:tomcat-jdbc:11.0.27",
        "tomcat-jdbc-11.0.27.jar",
    ),
    (
        "org.apache.tomcat:tomcat-juli:11.0.27",
        "tomcat-juli-11.0.27.jar",
    ),
];

const QUERY: &str = "SELECT name, hits FROM item WHERE id = ?";
const UPDATE: &str = "UPDATE item SET hits = hits + ? WHERE name = ?";

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-pool", &["-DskipTests"])
}

const APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/pool/demo/pool",
    files: &["PoolApp.java"],
    main_class: "demo.pool.PoolApp",
    artifacts: ARTIFACTS,
    pom: None,
    name: "jvm-pool",
};

/// Runs the application; its standard output.
fn run(jdk: &Path, jvm_args: &[String], name: &str) -> String {
    APP.app().run(jdk, jvm_args, &[], name).stdout
}

fn pools_through_agent(jdk: &Path, label: &str) {
    let expected = run(jdk, &[], &format!("pool-plain-{label}"));
    assert_eq!(expected, "hikari widget 0\ntomcat widget 1\n");

    let receiver = Receiver::start();
    let agent = common::java::agent_option(
        agent_jar(),
        &receiver,
        "hook.methods=demo.pool.PoolApp.request*,hook.transactions=demo.pool.PoolApp.request*,service.name=pool",
    );
    let out = run(jdk, &[agent], &format!("pool-agent-{label}"));
    assert_eq!(out, expected, "{label}: output changed under the agent");

    // Two transactions of 1 + 3 spans each, exported at shutdown.
    let spans = common::java::spans_at_least(&receiver, 8, Duration::from_secs(10));
    let dump = format!("{spans:?}");
    assert!(!dump.contains("pool-secret"), "{label}: the password left");
    assert!(!dump.contains("widget"), "{label}: a literal left");

    for (method, pool) in [("requestHikari", "hikari"), ("requestTomcat", "tomcat")] {
        let root = common::java::root_named(&spans, method, label);
        let steps = common::java::trace_steps(&spans, root);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [QUERY, QUERY, UPDATE],
            "{label} {pool}: one step per execution, through the pool's classes"
        );
        for s in &steps {
            assert_eq!(s.parent_span_id, root.span_id, "{label} {pool}: {s:?}");
            assert_eq!(s.kind, span::SpanKind::Client as i32);
            assert_eq!(str_attr(&s.attributes, "db.system"), Some("h2"));
            assert_eq!(
                str_attr(&s.attributes, "db.statement"),
                Some(s.name.as_str()),
                "{label} {pool}"
            );
        }
    }
    assert_eq!(
        spans.len(),
        8,
        "{label}: the schema set-up outside transactions recorded nothing: {spans:#?}"
    );
}

#[test]
fn hikari_and_tomcat_pools_give_one_step_per_statement() {
    for (jdk, label) in jdks() {
        pools_through_agent(&jdk, label);
    }
}
