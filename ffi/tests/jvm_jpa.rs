//! JPA framework steps with no configuration: `JpaApp`
//! (`jvm-agent/src/test-app/jpa/demo/jpa`: Hibernate ORM 6 as the
//! `EntityManager`, a Spring Data JPA repository) under the agent against a
//! PostgreSQL server the test started on 127.0.0.1, exporting to a loopback
//! OTLP receiver; only `hook.transactions` names the request method.
//!
//! Proves: each repository method is a step `OwnerRepository.method`
//! (`instrument.spring_data`); inside them Hibernate's operations are steps
//! (`Session.persist` under `save`, `Query.list` under the derived query),
//! with the SQL they run as SQL steps under those; the application's own
//! `flush` and `commit` are `Session.flush` and `Transaction.commit` steps
//! (`instrument.hibernate`); switching both off leaves the SQL steps
//! directly under the transaction; output is the same with and without the
//! agent. On JDK 17 and Temurin 25.

mod common;

use std::path::Path;

use common::java::{AppSpec, jdks};
use common::stores::Postgres;
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-jpa", &["-DskipTests"])
}

const APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/jpa/demo/jpa",
    files: &["JpaApp.java"],
    main_class: "demo.jpa.JpaApp",
    artifacts: &[],
    pom: Some("ffi/tests/jpa-app"),
    name: "jvm-jpa",
};

fn run(jdk: &Path, jvm_args: &[String], url: &str, name: &str) -> String {
    APP.app().run(jdk, jvm_args, &[url, "osprey"], name).stdout
}

/// The tree under the transaction as `(depth, name)` in start order.
fn tree(spans: &[Span], root: &Span) -> Vec<(usize, String)> {
    fn walk(spans: &[Span], parent: &Span, depth: usize, out: &mut Vec<(usize, String)>) {
        let mut children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
            .collect();
        children.sort_by_key(|s| s.start_time_unix_nano);
        for c in children {
            let name = if c.kind == span::SpanKind::Client as i32 {
                // SQL: its verb is enough here.
                format!("SQL {}", c.name.split_whitespace().next().unwrap_or(""))
            } else {
                c.name.clone()
            };
            out.push((depth, name));
            walk(spans, c, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(spans, root, 0, &mut out);
    out
}

fn traced(jdk: &Path, label: &str, url: &str, extra: &str, expected: &str) -> Vec<(usize, String)> {
    let receiver = Receiver::start();
    let agent = common::java::agent_option(
        agent_jar(),
        &receiver,
        &format!("hook.transactions=demo.jpa.JpaApp.request*,service.name=jpa{extra}"),
    );
    let out = run(jdk, &[agent], url, &format!("jpa-agent-{label}"));
    assert_eq!(out, expected, "{label}: output changed under the agent");
    let spans = common::java::received(&receiver);
    let root = common::java::root_named(&spans, "requestRegister", label);
    tree(&spans, root)
}

fn names(items: &[(usize, &str)]) -> Vec<(usize, String)> {
    items.iter().map(|(d, n)| (*d, n.to_string())).collect()
}

#[test]
fn repository_and_hibernate_operations_are_steps() {
    let pg = Postgres::start("jpa-pg");
    let url = format!("jdbc:postgresql://127.0.0.1:{}/shop", pg.port);
    for (jdk, label) in jdks() {
        let expected = run(&jdk, &[], &url, &format!("jpa-plain-{label}"));
        assert_eq!(expected, "registered ann found 1\n", "{label}");

        let got = traced(&jdk, label, &url, "", &expected);
        assert_eq!(
            got,
            names(&[
                (0, "OwnerRepository.save"),
                (1, "Session.persist"),
                (2, "SQL insert"),
                (0, "OwnerRepository.findByName"),
                (1, "Query.list"),
                (2, "SQL select"),
                (0, "Session.flush"),
                (0, "Transaction.commit"),
            ]),
            "{label}"
        );

        let off = traced(
            &jdk,
            &format!("{label}-off"),
            &url,
            ",instrument.spring_data=false,instrument.hibernate=false",
            &expected,
        );
        assert_eq!(
            off,
            names(&[(0, "SQL insert"), (0, "SQL select")]),
            "{label}: switched off"
        );
    }
}
