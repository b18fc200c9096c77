//! The Java agent on real application servers: the Apache Tomcat 9 (javax),
//! 10.1 and 11 (jakarta) distributions and WildFly 39 (jakarta) and 26
//! (javax, the JBoss EAP 7 generation), each running the demo WAR
//! (`jvm-agent/src/test-app/war`: servlets, user methods, JDBC on H2 in
//! WEB-INF/lib, an async servlet) with the agent added the way a user adds
//! it, exporting to a loopback OTLP/HTTP receiver that decodes the bytes.
//!
//! Proves, per server and JDK: one SERVER span per request named
//! `GET /app/path`, continuing an inbound `traceparent`; the user methods
//! and the sanitised SQL steps nested under it in order (classes of the
//! web application's own loader, and on WildFly of JBoss Modules, which is
//! made to delegate the bridge package to the boot loader); a failing
//! servlet gives ERROR, its exception and 500; an async request's span
//! ends when the async work completes, not when the servlet returns; the
//! responses are identical with and without the agent.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::java::{jdks, mentions, received, status_code};
use common::servers::{Kind, Server};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr, str_attr};

const OUTER: &str = "demo.war.Work.outer(java.lang.String)";
const INNER: &str = "demo.war.Work.inner(int)";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const ASYNC_MS: u64 = 400;

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-servers", &["-DskipTests"])
}

type Responses = Vec<(String, String)>;

/// The responses to compare with and without the agent. An error page's
/// stack trace (WildFly shows one) is cut off: its frames vary from run to
/// run with the worker thread's path.
fn exercise(server: &Server) -> Responses {
    let traceparent = format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-01\r\n");
    [
        server.get("/app/hello?id=42&token=abc", &traceparent),
        server.get("/app/fail", ""),
        server.get(&format!("/app/async?ms={ASYNC_MS}"), ""),
        server.get("/app/batch", ""),
        server.get("/app/items/17", ""),
        server.get(&format!("/app/async-start?ms={ASYNC_MS}"), ""),
        server.get(&format!("/app/async-dispatch?ms={ASYNC_MS}&to=servlet"), ""),
        server.get(&format!("/app/async-dispatch?ms={ASYNC_MS}&to=jsp"), ""),
        server.get(&format!("/app/async-timeout?ms={ASYNC_MS}"), ""),
        server.get(&format!("/app/async-handled?ms={ASYNC_MS}"), ""),
        server.get(&format!("/app/async-error?ms={ASYNC_MS}"), ""),
    ]
    .into_iter()
    .map(|(status, body)| match body.split_once("<pre>") {
        Some((page, _)) => (status, page.to_owned()),
        None => (status, body),
    })
    .collect()
}

/// Waits (bounded) until the receiver holds spans with all these names.
fn spans_named(receiver: &Receiver, wanted: &[&str]) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = received(receiver);
        if wanted.iter().all(|w| spans.iter().any(|s| s.name == *w)) || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn server_through_agent(kind: Kind, jdk: &Path, label: &str) {
    let name = format!("{}-plain-{label}", kind.label());
    let plain = Server::start(kind, jdk, "", &[], &name);
    let expected = exercise(&plain);
    plain.stop();
    assert!(expected[0].0.contains(" 200"), "{expected:?}");
    assert_eq!(expected[0].1, "hello widget widget", "{expected:?}");
    assert!(expected[1].0.contains(" 500"), "{expected:?}");
    assert_eq!(expected[2].1, format!("async after {ASYNC_MS} ms"));
    assert_eq!(expected[3].1, "batched 3 + 2", "{expected:?}");
    assert_eq!(expected[4].1, "item 17", "{expected:?}");
    assert_eq!(expected[5].1, "started hello widget widget", "{expected:?}");
    assert_eq!(expected[6].1, "hello widget widget", "{expected:?}");
    assert_eq!(expected[7].1, "jsp ASYNC", "{expected:?}");
    assert!(expected[8].0.contains(" 500"), "{expected:?}");
    assert_eq!(expected[9].1, "no news", "{expected:?}");
    assert!(expected[10].0.contains(" 503"), "{expected:?}");

    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=hook.methods=demo.war.Work.*,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=war-demo",
        agent_jar().display(),
        receiver.port()
    );
    let name = format!("{}-agent-{label}", kind.label());
    let server = Server::start(kind, jdk, &agent, &[], &name);
    let got = exercise(&server);
    let output = server.stop();
    assert_eq!(got, expected, "{name}: responses changed by the agent");
    let agent_lines: Vec<&str> = output.lines().filter(|l| l.contains("osprey:")).collect();
    assert!(agent_lines.is_empty(), "{name}: {agent_lines:?}");

    let spans = spans_named(
        &receiver,
        &[
            "GET /app/hello",
            "GET /app/fail",
            "GET /app/async",
            "GET /app/batch",
            "GET /app/items/*",
            "GET /app/async-start",
            "GET /app/async-dispatch",
            "GET /app/async-timeout",
            "GET /app/async-handled",
            "GET /app/async-error",
        ],
    );
    let servers: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == span::SpanKind::Server as i32)
        .collect();
    let server_names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    for s in &spans {
        let text = format!("{s:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("token=abc"),
            "{name}: secret leaked: {text}"
        );
    }

    // The readiness probes and the traced request: each a full tree.
    let hellos: Vec<&&Span> = servers
        .iter()
        .filter(|s| s.name == "GET /app/hello")
        .collect();
    assert!(hellos.len() >= 2, "{name}: {server_names:?}");
    let traced: Vec<&&&Span> = hellos
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    assert_eq!(
        traced.len(),
        1,
        "{name}: inbound traceparent continued once"
    );
    let root = **traced[0];
    assert_eq!(hex(&root.parent_span_id), PARENT_ID);
    assert_ne!(status_code(root), status::StatusCode::Error as i32);
    let attrs = &root.attributes;
    assert_eq!(str_attr(attrs, "http.request.method"), Some("GET"));
    assert_eq!(str_attr(attrs, "url.path"), Some("/app/hello"));
    assert_eq!(int_attr(attrs, "http.response.status_code"), Some(200));
    assert_eq!(str_attr(attrs, "client.address"), Some("127.0.0.1"));
    assert_eq!(
        str_attr(attrs, "user_agent.original"),
        Some("osprey-test/1.0")
    );
    common::java::assert_demo_tree(&spans, root, OUTER, INNER, &name);

    let fail = servers
        .iter()
        .find(|s| s.name == "GET /app/fail")
        .unwrap_or_else(|| panic!("{name}: {server_names:?}"));
    assert_eq!(
        status_code(fail),
        status::StatusCode::Error as i32,
        "{name}: {fail:#?}"
    );
    assert_eq!(
        int_attr(&fail.attributes, "http.response.status_code"),
        Some(500)
    );
    assert!(
        mentions(fail, "IllegalStateException") && mentions(fail, "kaboom"),
        "{name}: {fail:#?}"
    );
    let exceptions = fail.events.iter().filter(|e| e.name == "exception").count();
    assert_eq!(exceptions, 1, "{name}: recorded once: {fail:#?}");

    let async_span = servers
        .iter()
        .find(|s| s.name == "GET /app/async")
        .unwrap_or_else(|| panic!("{name}: {server_names:?}"));
    let elapsed_ms = (async_span.end_time_unix_nano - async_span.start_time_unix_nano) / 1_000_000;
    assert!(
        elapsed_ms >= ASYNC_MS,
        "{name}: the async request ends on completion, after {ASYNC_MS} ms, not {elapsed_ms} ms"
    );
    assert_eq!(
        int_attr(&async_span.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_ne!(status_code(async_span), status::StatusCode::Error as i32);

    async_patterns(&spans, &servers, &name);

    // A servlet mapped by prefix names the transaction after its route.
    assert!(
        server_names.contains(&"GET /app/items/*") && !server_names.contains(&"GET /app/items/17"),
        "{name}: {server_names:?}"
    );
    let items = servers
        .iter()
        .find(|s| s.name == "GET /app/items/*")
        .unwrap();
    assert_eq!(
        str_attr(&items.attributes, "http.route"),
        Some("/app/items/*"),
        "{name}"
    );
    assert_eq!(
        str_attr(&items.attributes, "url.path"),
        Some("/app/items/17"),
        "{name}"
    );
    // An exactly mapped servlet says no route: none is made up.
    let hello = servers.iter().find(|s| s.name == "GET /app/hello").unwrap();
    assert_eq!(str_attr(&hello.attributes, "http.route"), None, "{name}");

    // JDBC batches over TCP: one step each, the server from the URL, the
    // password in the URL nowhere.
    let batch = servers
        .iter()
        .find(|s| s.name == "GET /app/batch")
        .unwrap_or_else(|| panic!("{name}: {server_names:?}"));
    let mut batch_steps: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == batch.trace_id && s.kind == span::SpanKind::Client as i32)
        .collect();
    batch_steps.sort_by_key(|s| s.start_time_unix_nano);
    let batch_names: Vec<&str> = batch_steps.iter().map(|s| s.name.as_str()).collect();
    assert!(
        batch_names.ends_with(&["INSERT INTO audit VALUES (?, ?)", "BATCH"]),
        "{name}: {batch_names:?}"
    );
    for s in &batch_steps[batch_steps.len() - 2..] {
        assert_eq!(str_attr(&s.attributes, "db.system"), Some("h2"));
        assert_eq!(str_attr(&s.attributes, "server.address"), Some("127.0.0.1"));
        assert!(int_attr(&s.attributes, "server.port").is_some_and(|p| p > 0));
    }
    let [prepared, plain] = &batch_steps[batch_steps.len() - 2..] else {
        unreachable!("two batch steps checked above")
    };
    assert_eq!(
        str_attr(&prepared.attributes, "db.statement"),
        Some("INSERT INTO audit VALUES (?, ?)"),
        "{name}: a prepared batch's statement is its SQL"
    );
    assert_eq!(
        str_attr(&plain.attributes, "db.operation.name"),
        Some("BATCH")
    );
    assert_eq!(
        str_attr(&plain.attributes, "db.statement"),
        None,
        "{name}: a plain statements' batch has no single statement"
    );
    assert!(
        !format!("{batch_steps:?}").contains("secret-literal"),
        "{name}: plain batch SQL is not exported"
    );
}

/// The asynchronous patterns of `AsyncPatterns`: one SERVER span each,
/// ending at the real completion with the final status; the work done in
/// `AsyncContext.start` and in a dispatched servlet is in the trace.
fn async_patterns(spans: &[Span], servers: &[&Span], name: &str) {
    let named =
        |n: &str| -> Vec<&Span> { servers.iter().copied().filter(|s| s.name == n).collect() };
    let in_trace = |root: &Span, step: &str| {
        spans
            .iter()
            .any(|s| s.trace_id == root.trace_id && s.name == step)
    };
    let elapsed_ms = |s: &Span| (s.end_time_unix_nano - s.start_time_unix_nano) / 1_000_000;
    let status = |s: &Span| int_attr(&s.attributes, "http.response.status_code");
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();

    let start = named("GET /app/async-start");
    assert_eq!(start.len(), 1, "{name}: one transaction: {names:?}");
    let start = start[0];
    assert_eq!(status(start), Some(200), "{name}");
    assert_ne!(
        status_code(start),
        status::StatusCode::Error as i32,
        "{name}"
    );
    assert!(elapsed_ms(start) >= ASYNC_MS, "{name}: ends at completion");
    assert!(
        in_trace(start, OUTER),
        "{name}: the started work is in the trace"
    );

    let dispatched = named("GET /app/async-dispatch");
    assert_eq!(
        dispatched.len(),
        2,
        "{name}: one transaction each: {names:?}"
    );
    for d in &dispatched {
        assert_eq!(status(d), Some(200), "{name}");
        assert!(elapsed_ms(d) >= ASYNC_MS, "{name}: ends after the dispatch");
        assert_eq!(
            str_attr(&d.attributes, "url.path"),
            Some("/app/async-dispatch"),
            "{name}: keeps its own path"
        );
    }
    assert_eq!(
        dispatched.iter().filter(|d| in_trace(d, OUTER)).count(),
        1,
        "{name}: the servlet dispatched to records into the transaction"
    );

    let timeout = named("GET /app/async-timeout");
    assert_eq!(timeout.len(), 1, "{name}: {names:?}");
    assert_eq!(status(timeout[0]), Some(500), "{name}");
    assert_eq!(
        status_code(timeout[0]),
        status::StatusCode::Error as i32,
        "{name}"
    );
    assert!(
        mentions(timeout[0], "AsyncTimeout"),
        "{name}: {:?}",
        timeout[0]
    );

    let handled = named("GET /app/async-handled");
    assert_eq!(handled.len(), 1, "{name}: {names:?}");
    assert_eq!(status(handled[0]), Some(200), "{name}");
    assert_ne!(
        status_code(handled[0]),
        status::StatusCode::Error as i32,
        "{name}: a timeout the application answered is no error"
    );
    assert!(elapsed_ms(handled[0]) >= ASYNC_MS, "{name}");

    let failed = named("GET /app/async-error");
    assert_eq!(failed.len(), 1, "{name}: {names:?}");
    assert_eq!(status(failed[0]), Some(503), "{name}");
    assert_eq!(
        status_code(failed[0]),
        status::StatusCode::Error as i32,
        "{name}"
    );
    assert!(elapsed_ms(failed[0]) >= ASYNC_MS, "{name}");
}

#[test]
fn tomcat_11_distribution_with_a_war() {
    for (jdk, label) in jdks() {
        server_through_agent(Kind::Tomcat11, &jdk, label);
    }
}

#[test]
fn tomcat_10_distribution_with_a_war() {
    for (jdk, label) in jdks() {
        server_through_agent(Kind::Tomcat10, &jdk, label);
    }
}

#[test]
fn tomcat_9_distribution_with_a_javax_war() {
    for (jdk, label) in jdks() {
        server_through_agent(Kind::Tomcat9, &jdk, label);
    }
}

#[test]
fn wildfly_distribution_with_the_war() {
    for (jdk, label) in jdks() {
        server_through_agent(Kind::WildFly, &jdk, label);
    }
}

/// WildFly 26 with the javax WAR: the Undertow and JBoss Modules generation
/// of JBoss EAP 7 (not on Maven Central itself). JDK 17 only: WildFly 26
/// supports JDK 11 and 17.
#[test]
fn wildfly_26_javax_distribution_with_the_war() {
    server_through_agent(Kind::WildFly26, &common::java::java_home(), "jdk17");
}

/// Two instrumented applications on two servers and two JDKs — Tomcat 11
/// on the newest JDK calling WildFly on JDK 17 over HTTP — form one trace:
/// the caller's CLIENT step is the parent of the callee's SERVER span.
#[test]
fn two_servers_form_one_trace() {
    let all = jdks();
    let (caller_jdk, caller_label) = all.last().unwrap();
    let (callee_jdk, _) = &all[0];
    let receiver = Receiver::start();
    let agent = |service: &str| {
        format!(
            "-javaagent:{}=hook.methods=demo.war.Work.*,exporter=otlp,\
             otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name={service}",
            agent_jar().display(),
            receiver.port()
        )
    };
    let callee = Server::start(
        Kind::WildFly,
        callee_jdk,
        &agent("inventory"),
        &[],
        "two-apps-callee",
    );
    let caller = Server::start(
        Kind::Tomcat11,
        caller_jdk,
        &agent("storefront"),
        &[],
        &format!("two-apps-caller-{caller_label}"),
    );
    let callee_port = callee.port;
    let (status, body) = caller.get(&format!("/app/call?port={callee_port}"), "");
    caller.stop();
    callee.stop();
    assert!(status.contains(" 200"), "{status} {body}");
    assert_eq!(body, "called 200: hello widget widget");

    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans = received(&receiver);
        if spans.iter().any(|s| s.name == "GET /app/call") || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let call = spans
        .iter()
        .find(|s| s.name == "GET /app/call")
        .expect("the caller's server span");
    let trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == call.trace_id)
        .collect();
    let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
    let client = trace
        .iter()
        .find(|s| s.kind == span::SpanKind::Client as i32 && s.parent_span_id == call.span_id)
        .unwrap_or_else(|| panic!("a CLIENT step under the caller's server span: {names:?}"));
    assert_eq!(client.name, format!("GET 127.0.0.1:{callee_port}"));
    let served = trace
        .iter()
        .find(|s| s.name == "GET /app/hello" && s.kind == span::SpanKind::Server as i32)
        .unwrap_or_else(|| panic!("the callee's server span in the same trace: {names:?}"));
    assert_eq!(
        served.parent_span_id, client.span_id,
        "callee's parent is the client step"
    );
    assert!(
        trace
            .iter()
            .any(|s| s.name == OUTER && s.parent_span_id == served.span_id),
        "the callee's own steps join the trace: {names:?}"
    );
    assert!(served.start_time_unix_nano >= client.start_time_unix_nano);
    assert!(served.end_time_unix_nano <= client.end_time_unix_nano + 5_000_000);
}
