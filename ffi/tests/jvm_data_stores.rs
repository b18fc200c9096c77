//! Data-store clients against real servers, end to end: `StoresApp`
//! (`jvm-agent/src/test-app/stores/demo/stores`) under the agent talks to a
//! PostgreSQL cluster, a MariaDB server and a Redis server, each started by
//! the test on 127.0.0.1 (own port, own directory), exporting to a loopback
//! OTLP receiver.
//!
//! Redis through Jedis: each synchronous command is one CLIENT step named
//! with the command alone, with `db.system=redis`, `db.operation.name` and
//! the server; keys and values appear nowhere; an error reply marks its
//! step. Through Lettuce (synchronous and asynchronous API) the same, each
//! step ending when its command completes on Lettuce's own thread, with the
//! connection's `server.address` and `server.port`.
//!
//! Kafka (a single-node KRaft broker run from the Kafka jars): each send
//! in a transaction is a step `<topic> publish` whose `traceparent` the
//! record carries in its headers (unless the application set its own), and
//! each consumed record is a transaction `<topic> process` continuing that
//! trace, with the consumer's own work as its step.
//!
//! Each statement is one CLIENT step named with its sanitised SQL and
//! carrying `db.system`, `db.namespace`, `server.address` and
//! `server.port`, never the password or a literal. Then 2 000 plain
//! statements whose literals all differ (behind a comment, so the text
//! does not start with a SQL verb) must share one step name, and the
//! recorder's name table must not grow with them. The output is the same
//! with and without the agent.

mod common;

use std::path::Path;
use std::time::Duration;

use common::java::{AppSpec, jdks, root_named, trace_steps};
use common::stores::{Kafka, MariaDb, Postgres, Redis};
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr, str_attr};

const ARTIFACTS: &[(&str, &str)] = &[
    (
        "org.postgresql:postgresql:42.7.14",
        "postgresql-42.7.14.jar",
    ),
    (
        "org.mariadb.jdbc:mariadb-java-client:3.5.7",
        "mariadb-java-client-3.5.7.jar",
    ),
    ("redis.clients:jedis:7.2.1", "jedis-7.2.1.jar"),
    (
        "org.apache.kafka:kafka-clients:4.1.1",
        "kafka-clients-4.1.1.jar",
    ),
    (
        "org.apache.commons:commons-pool2:2.12.1",
        "commons-pool2-2.12.1.jar",
    ),
    ("org.slf4j:slf4j-api:2.0.20", "slf4j-api-2.0.20.jar"),
    ("org.json:json:20250517", "json-20250517.jar"),
    ("com.google.code.gson:gson:2.13.2", "gson-2.13.2.jar"),
    (
        "redis.clients.authentication:redis-authx-core:0.1.1-beta2",
        "redis-authx-core-0.1.1-beta2.jar",
    ),
];

const QUERY: &str = "SELECT name, hits FROM item WHERE id = ?";
const UPDATE: &str = "UPDATE item SET hits = hits + ? WHERE name = ?";
/// Transactions of 50 distinct literal statements each.
const REPORT_ROUNDS: usize = 40;
const REPORT_STATEMENTS: usize = 50;

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-stores", &["-DskipTests"])
}

/// With Lettuce, Netty and Reactor (the `lettuce-client` pom's dependencies).
const APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/stores/demo/stores",
    files: &["StoresApp.java"],
    main_class: "demo.stores.StoresApp",
    artifacts: ARTIFACTS,
    pom: Some("ffi/tests/lettuce-client"),
    name: "jvm-stores",
};

/// Runs the application with `args`; its standard output and error.
fn run(jdk: &Path, jvm_args: &[String], args: &[&str], name: &str) -> (String, String) {
    let out = APP.app().run(jdk, jvm_args, args, name);
    (out.stdout, out.stderr)
}

/// Runs the application under the agent (transactions at its `request*`
/// methods, then the `extra` options) exporting to `receiver`.
fn run_traced(
    jdk: &Path,
    receiver: &Receiver,
    extra: &str,
    args: &[&str],
    name: &str,
) -> (String, String) {
    let agent = common::java::agent_option(
        agent_jar(),
        receiver,
        &format!("hook.transactions=demo.stores.StoresApp.request*,service.name=stores{extra}"),
    );
    run(jdk, &[agent], args, name)
}

/// Waits until the receiver holds at least `n` spans (or 20 s passed).
fn spans_at_least(receiver: &Receiver, n: usize) -> Vec<Span> {
    common::java::spans_at_least(receiver, n, Duration::from_secs(20))
}

/// The JDBC checks against one server: `reset` empties its database
/// between the runs (each run makes the table anew).
fn jdbc_through_agent(
    jdk: &Path,
    label: &str,
    system: &str,
    url: &str,
    user: &str,
    port: u16,
    reset: &dyn Fn(),
) {
    let rounds = REPORT_ROUNDS.to_string();
    let args = ["jdbc", url, user, "", &rounds];
    let (expected, _) = run(jdk, &[], &args, &format!("stores-{system}-plain-{label}"));
    assert_eq!(expected, "widget 0\nreport 0\n", "{label} {system}");
    reset();

    let receiver = Receiver::start();
    let (out, err) = run_traced(
        jdk,
        &receiver,
        "",
        &args,
        &format!("stores-{system}-agent-{label}"),
    );
    assert_eq!(
        out, expected,
        "{label} {system}: output changed under the agent"
    );
    reset();

    // The name table: 2 000 distinct statements add a few dozen names at
    // most (the one statement shape, attribute values, names other agent
    // threads intern meanwhile, as metric series), not one each.
    let added: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("names-added="))
        .unwrap_or_else(|| panic!("{label} {system}: no names-added line in {err}"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        added < 100,
        "{label} {system}: {added} names added by {} distinct statements",
        REPORT_ROUNDS * REPORT_STATEMENTS
    );

    let total = 4 + REPORT_ROUNDS * (1 + REPORT_STATEMENTS);
    let spans = spans_at_least(&receiver, total);
    let dump = format!("{spans:?}");
    assert!(!dump.contains("widget"), "{label} {system}: a literal left");
    assert!(!dump.contains("'w-"), "{label} {system}: a literal left");

    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    let steps_of = |root: &Span| -> Vec<&Span> { trace_steps(&spans, root) };
    let order = roots
        .iter()
        .find(|s| s.name.contains("requestOrder"))
        .unwrap_or_else(|| panic!("{label} {system}: no order transaction in {spans:#?}"));
    let steps = steps_of(order);
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [QUERY, QUERY, UPDATE], "{label} {system}");
    for s in &steps {
        assert_eq!(s.parent_span_id, order.span_id, "{label} {system}: {s:?}");
        assert_eq!(s.kind, span::SpanKind::Client as i32);
        let a = &s.attributes;
        assert_eq!(str_attr(a, "db.system"), Some(system), "{label}: {s:?}");
        assert_eq!(str_attr(a, "db.namespace"), Some("shop"), "{label}: {s:?}");
        assert_eq!(str_attr(a, "server.address"), Some("127.0.0.1"));
        assert_eq!(int_attr(a, "server.port"), Some(i64::from(port)));
        assert_eq!(str_attr(a, "db.statement"), Some(s.name.as_str()));
    }

    let reports: Vec<&&Span> = roots
        .iter()
        .filter(|s| s.name.contains("requestReport"))
        .collect();
    assert_eq!(reports.len(), REPORT_ROUNDS, "{label} {system}");
    let mut shapes: Vec<&str> = reports
        .iter()
        .flat_map(|r| steps_of(r))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        shapes.len(),
        REPORT_ROUNDS * REPORT_STATEMENTS,
        "{label} {system}"
    );
    shapes.dedup();
    assert_eq!(
        shapes.len(),
        1,
        "{label} {system}: distinct literal statements share one name: {:?}",
        &shapes[..shapes.len().min(5)]
    );
    assert!(
        shapes[0].starts_with("/* report */ SELECT hits FROM item WHERE name = ?"),
        "{label} {system}: {}",
        shapes[0]
    );
}

#[test]
fn jdbc_on_postgresql_and_mariadb() {
    let pg = Postgres::start("jdbc-pg");
    let maria = MariaDb::start("jdbc-maria");
    for (jdk, label) in jdks() {
        let pg_url = format!("jdbc:postgresql://127.0.0.1:{}/shop", pg.port);
        jdbc_through_agent(
            &jdk,
            label,
            "postgresql",
            &pg_url,
            "osprey",
            pg.port,
            &|| pg.sql("shop", "DROP TABLE item"),
        );
        let maria_url = format!("jdbc:mariadb://127.0.0.1:{}/shop", maria.port);
        jdbc_through_agent(
            &jdk,
            label,
            "mariadb",
            &maria_url,
            "root",
            maria.port,
            &|| maria.sql("shop", "DROP TABLE item"),
        );
    }
}

/// One Redis client against `redis`: the output with and without the agent
/// is `expected`; the transaction `txn` has one CLIENT step per command,
/// named `commands` in order, carrying no key or value, and only the `INCR`
/// of a string (an error reply) failed.
fn redis_through_agent(
    jdk: &Path,
    label: &str,
    redis: &Redis,
    client: &str,
    expected: &str,
    txn: &str,
    commands: &[&str],
) {
    let port = redis.port.to_string();
    let args = [client, "127.0.0.1", &port];
    let (plain, _) = run(jdk, &[], &args, &format!("stores-{client}-plain-{label}"));
    assert_eq!(plain, expected, "{label} {client}");

    let receiver = Receiver::start();
    let (out, _) = run_traced(
        jdk,
        &receiver,
        "",
        &args,
        &format!("stores-{client}-agent-{label}"),
    );
    assert_eq!(
        out, expected,
        "{label} {client}: output changed under the agent"
    );

    let spans = spans_at_least(&receiver, 1 + commands.len());
    let dump = format!("{spans:?}");
    assert!(
        !dump.contains("secret"),
        "{label} {client}: a key or value left: {dump}"
    );
    let root = root_named(&spans, txn, label);
    let steps = trace_steps(&spans, root);
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, commands, "{label} {client}: {spans:#?}");
    for s in &steps {
        let a = &s.attributes;
        assert_eq!(s.parent_span_id, root.span_id, "{label}: {s:?}");
        assert_eq!(s.kind, span::SpanKind::Client as i32, "{label}: {s:?}");
        assert_eq!(str_attr(a, "db.system"), Some("redis"), "{label}: {s:?}");
        assert_eq!(str_attr(a, "db.operation.name"), Some(s.name.as_str()));
        // Both clients name their server on every command (Lettuce reads it
        // once per connection from its channel).
        assert_eq!(
            str_attr(a, "server.address"),
            Some("127.0.0.1"),
            "{label} {client}: {s:?}"
        );
        assert_eq!(
            int_attr(a, "server.port"),
            Some(i64::from(redis.port)),
            "{label} {client}: {s:?}"
        );
        let failed = common::java::status_code(s) == 2;
        assert_eq!(
            failed,
            s.name == "INCR",
            "{label} {client}: only the error reply fails: {s:?}"
        );
    }
}

#[test]
fn jedis_on_redis() {
    let redis = Redis::start("jedis");
    for (jdk, label) in jdks() {
        redis_through_agent(
            &jdk,
            label,
            &redis,
            "jedis",
            "cart secret-value-1 1 refused secret-value-1 1\n",
            "requestCart",
            // Pipelined commands are sent without waiting for their replies: no steps.
            &["SET", "GET", "HSET", "INCR"],
        );
    }
}

#[test]
fn kafka_records_carry_the_trace_from_producer_to_consumer() {
    let kafka = Kafka::start("kafka");
    let bootstrap = format!("127.0.0.1:{}", kafka.port);
    for (jdk, label) in jdks() {
        let topic = format!("orders-{label}-plain");
        let args = ["kafka", bootstrap.as_str(), topic.as_str()];
        let (expected, _) = run(&jdk, &[], &args, &format!("stores-kafka-plain-{label}"));
        assert_eq!(
            expected,
            "published 4\nconsumed order-1\nconsumed order-2\nconsumed order-3\n\
             consumed order-4 own-parent\n",
            "{label}"
        );

        let receiver = Receiver::start();
        let topic = format!("orders-{label}-agent");
        let args = ["kafka", bootstrap.as_str(), topic.as_str()];
        let (out, _) = run_traced(
            &jdk,
            &receiver,
            ",hook.methods=demo.stores.StoresApp.handle*",
            &args,
            &format!("stores-kafka-agent-{label}"),
        );
        assert_eq!(out, expected, "{label}: output changed under the agent");

        // 1 + 4 publish steps, 4 process transactions with one step each.
        let spans = spans_at_least(&receiver, 13);
        let dump = format!("{spans:?}");
        assert!(!dump.contains("secret-card"), "{label}: a value left");
        let publish = root_named(&spans, "requestPublish", label);
        let mut sends: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == publish.trace_id && s.parent_span_id == publish.span_id)
            .collect();
        sends.sort_by_key(|s| s.start_time_unix_nano);
        let send_name = format!("{topic} publish");
        assert_eq!(sends.len(), 4, "{label}: {spans:#?}");
        for s in &sends {
            assert_eq!(s.name, send_name, "{label}");
            assert_eq!(str_attr(&s.attributes, "messaging.system"), Some("kafka"));
            assert_eq!(
                str_attr(&s.attributes, "messaging.destination.name"),
                Some(topic.as_str())
            );
        }
        let process_name = format!("{topic} process");
        let mut processed: Vec<&Span> = spans.iter().filter(|s| s.name == process_name).collect();
        processed.sort_by_key(|s| s.start_time_unix_nano);
        assert_eq!(
            processed.len(),
            4,
            "{label}: one transaction per record: {spans:#?}"
        );
        for (i, p) in processed.iter().enumerate() {
            assert_eq!(p.kind, span::SpanKind::Server as i32, "{label}: {p:?}");
            assert_eq!(str_attr(&p.attributes, "messaging.system"), Some("kafka"));
            assert_eq!(
                str_attr(&p.attributes, "messaging.operation.type"),
                Some("process")
            );
            assert_eq!(
                int_attr(&p.attributes, "messaging.kafka.offset"),
                Some(i as i64)
            );
            if i < 3 {
                // Continues the producer's trace, child of its send step.
                assert_eq!(p.trace_id, publish.trace_id, "{label}: record {i}");
                assert_eq!(p.parent_span_id, sends[i].span_id, "{label}: record {i}");
            } else {
                // The application's own traceparent was kept and continued.
                assert_eq!(hex(&p.trace_id), "0af7651916cd43dd8448eb211c80319c");
                assert_eq!(hex(&p.parent_span_id), "b7ad6b7169203331");
            }
            let work: Vec<&Span> = spans
                .iter()
                .filter(|s| s.trace_id == p.trace_id && s.parent_span_id == p.span_id)
                .collect();
            assert_eq!(work.len(), 1, "{label}: record {i}: {work:#?}");
            assert!(work[0].name.contains("handleRecord"), "{label}: {work:?}");
        }
    }
}

#[test]
fn lettuce_on_redis() {
    let redis = Redis::start("lettuce");
    for (jdk, label) in jdks() {
        redis_through_agent(
            &jdk,
            label,
            &redis,
            "lettuce",
            "lettuce secret-value-2 true refused secret-value-2\n",
            "requestLettuce",
            &["SET", "GET", "HSET", "INCR", "GET"],
        );
    }
}
