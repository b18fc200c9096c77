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

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::jdks;
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

fn libs() -> &'static [PathBuf] {
    static LIBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    LIBS.get_or_init(|| {
        let mut libs = common::java::maven_artifacts(ARTIFACTS, "jvm-stores-libs");
        // Lettuce with Netty and Reactor.
        let lettuce =
            common::stores::maven_dependencies("ffi/tests/lettuce-client", "jvm-lettuce-libs");
        let mut jars: Vec<PathBuf> = std::fs::read_dir(lettuce)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jar"))
            .collect();
        jars.sort();
        libs.extend(jars);
        libs
    })
}

fn app_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        common::java::compile_app(
            "jvm-agent/src/test-app/stores/demo/stores",
            &["StoresApp.java"],
            libs(),
            "jvm-stores-classes",
        )
    })
}

/// Runs the application with `args`; its standard output and error.
fn run(jdk: &Path, jvm_args: &[String], args: &[&str], name: &str) -> (String, String) {
    let mut cmd = common::java::java(
        jdk,
        jvm_args,
        common::java::class_path(app_classes(), libs()),
        "demo.stores.StoresApp",
        &[],
    );
    cmd.args(args);
    let out = common::java::run_java(cmd, name);
    assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
    (out.stdout, out.stderr)
}

/// Waits until the receiver holds at least `n` spans (or 20 s passed).
fn spans_at_least(receiver: &Receiver, n: usize) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = common::java::received(receiver);
        if spans.len() >= n || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let agent = format!(
        "-javaagent:{}=hook.transactions=demo.stores.StoresApp.request*,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=stores",
        agent_jar().display(),
        receiver.port()
    );
    let (out, err) = run(
        jdk,
        &[agent],
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
    let steps_of = |root: &Span| -> Vec<&Span> {
        let mut steps: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
            .collect();
        steps.sort_by_key(|s| s.start_time_unix_nano);
        steps
    };
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

#[test]
fn jedis_on_redis() {
    let redis = Redis::start("jedis");
    let port = redis.port.to_string();
    for (jdk, label) in jdks() {
        let args = ["jedis", "127.0.0.1", &port];
        let (expected, _) = run(&jdk, &[], &args, &format!("stores-jedis-plain-{label}"));
        assert_eq!(
            expected, "cart secret-value-1 1 refused secret-value-1 1\n",
            "{label}"
        );

        let receiver = Receiver::start();
        let agent = format!(
            "-javaagent:{}=hook.transactions=demo.stores.StoresApp.request*,exporter=otlp,\
             otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=stores",
            agent_jar().display(),
            receiver.port()
        );
        let (out, _) = run(
            &jdk,
            &[agent],
            &args,
            &format!("stores-jedis-agent-{label}"),
        );
        assert_eq!(out, expected, "{label}: output changed under the agent");

        let spans = spans_at_least(&receiver, 5);
        let dump = format!("{spans:?}");
        assert!(
            !dump.contains("secret"),
            "{label}: a key or value left: {dump}"
        );
        let root = spans
            .iter()
            .find(|s| s.parent_span_id.is_empty() && s.name.contains("requestCart"))
            .unwrap_or_else(|| panic!("{label}: no cart transaction in {spans:#?}"));
        let mut steps: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
            .collect();
        steps.sort_by_key(|s| s.start_time_unix_nano);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        // Pipelined commands are sent without waiting for their replies: no steps.
        assert_eq!(names, ["SET", "GET", "HSET", "INCR"], "{label}: {spans:#?}");
        for s in &steps {
            let a = &s.attributes;
            assert_eq!(s.parent_span_id, root.span_id, "{label}: {s:?}");
            assert_eq!(s.kind, span::SpanKind::Client as i32, "{label}: {s:?}");
            assert_eq!(str_attr(a, "db.system"), Some("redis"), "{label}: {s:?}");
            assert_eq!(str_attr(a, "db.operation.name"), Some(s.name.as_str()));
            assert_eq!(str_attr(a, "server.address"), Some("127.0.0.1"));
            assert_eq!(int_attr(a, "server.port"), Some(i64::from(redis.port)));
            let failed = common::java::status_code(s) == 2;
            assert_eq!(
                failed,
                s.name == "INCR",
                "{label}: only the error reply fails: {s:?}"
            );
        }
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
        let agent = format!(
            "-javaagent:{}=hook.transactions=demo.stores.StoresApp.request*,\
             hook.methods=demo.stores.StoresApp.handle*,exporter=otlp,\
             otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=stores",
            agent_jar().display(),
            receiver.port()
        );
        let topic = format!("orders-{label}-agent");
        let args = ["kafka", bootstrap.as_str(), topic.as_str()];
        let (out, _) = run(
            &jdk,
            &[agent],
            &args,
            &format!("stores-kafka-agent-{label}"),
        );
        assert_eq!(out, expected, "{label}: output changed under the agent");

        // 1 + 4 publish steps, 4 process transactions with one step each.
        let spans = spans_at_least(&receiver, 13);
        let dump = format!("{spans:?}");
        assert!(!dump.contains("secret-card"), "{label}: a value left");
        let publish = spans
            .iter()
            .find(|s| s.parent_span_id.is_empty() && s.name.contains("requestPublish"))
            .unwrap_or_else(|| panic!("{label}: no publish transaction in {spans:#?}"));
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
    let port = redis.port.to_string();
    for (jdk, label) in jdks() {
        let args = ["lettuce", "127.0.0.1", &port];
        let (expected, _) = run(&jdk, &[], &args, &format!("stores-lettuce-plain-{label}"));
        assert_eq!(
            expected, "lettuce secret-value-2 true refused secret-value-2\n",
            "{label}"
        );
        let receiver = Receiver::start();
        let agent = format!(
            "-javaagent:{}=hook.transactions=demo.stores.StoresApp.request*,exporter=otlp,\
             otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=stores",
            agent_jar().display(),
            receiver.port()
        );
        let (out, _) = run(
            &jdk,
            &[agent],
            &args,
            &format!("stores-lettuce-agent-{label}"),
        );
        assert_eq!(out, expected, "{label}: output changed under the agent");

        let spans = spans_at_least(&receiver, 6);
        assert!(
            !format!("{spans:?}").contains("secret"),
            "{label}: a key or value left"
        );
        let root = spans
            .iter()
            .find(|s| s.parent_span_id.is_empty() && s.name.contains("requestLettuce"))
            .unwrap_or_else(|| panic!("{label}: no transaction in {spans:#?}"));
        let mut steps: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
            .collect();
        steps.sort_by_key(|s| s.start_time_unix_nano);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["SET", "GET", "HSET", "INCR", "GET"],
            "{label}: {spans:#?}"
        );
        for s in &steps {
            assert_eq!(s.parent_span_id, root.span_id, "{label}: {s:?}");
            assert_eq!(s.kind, span::SpanKind::Client as i32, "{label}: {s:?}");
            assert_eq!(str_attr(&s.attributes, "db.system"), Some("redis"));
            assert_eq!(
                str_attr(&s.attributes, "db.operation.name"),
                Some(s.name.as_str())
            );
            assert_eq!(
                str_attr(&s.attributes, "server.address"),
                Some("127.0.0.1"),
                "{label}: {s:?}"
            );
            assert_eq!(
                int_attr(&s.attributes, "server.port"),
                Some(i64::from(redis.port)),
                "{label}: {s:?}"
            );
            let failed = common::java::status_code(s) == 2;
            assert_eq!(
                failed,
                s.name == "INCR",
                "{label}: only the error reply fails: {s:?}"
            );
        }
    }
}
