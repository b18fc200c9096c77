//! Spring WebFlux on Reactor Netty under the agent: a Spring Boot 3
//! application built here (`ffi/tests/webflux-app`: its libraries copied
//! from Maven Central by `mvn dependency:copy-dependencies`, its classes
//! compiled with `javac`), run with `-javaagent:` against the loopback
//! OTLP/HTTP receiver.
//!
//! Proves: each request is one SERVER transaction named `METHOD <pattern
//! WebFlux matched>` (annotated controllers and a functional route) with
//! `http.route`, the raw path in `url.path` and the status, ending after
//! the reactive response (a handler's exception: status 500, an error);
//! an inbound `traceparent` (and `tracestate`) or B3 header is continued;
//! the handler method is a step `Controller.method` inside it
//! (`instrument.spring_webflux=false` switches the steps off, not the
//! transactions); a `WebClient` call is a CLIENT step (method, address,
//! port, status, no header or query value recorded) whose `traceparent`
//! the callee sees, the callee's transaction being its child in the same
//! trace, also when the call is subscribed on Reactor's bounded elastic
//! scheduler; work moved to that scheduler (`subscribeOn`, `publishOn`)
//! stays in its transaction, on the scheduler's thread, while the same
//! threads' work of no request is never recorded; code that a signal runs
//! later on another thread (a `map`/`flatMap` after a WebClient response, on
//! the Reactor Netty thread it arrives on; work after a `Mono.delay`, on the
//! parallel scheduler) runs inside its request's transaction: its hooked
//! step there in order, its second WebClient call a CLIENT step of the same
//! trace, its log line carrying the trace id; 200 such requests 16 at a time
//! each keep exactly their own steps, and every request is a transaction of
//! its own (no event-loop thread is left inside one); responses are
//! identical with and without the agent. On JDK 17 and Temurin 25.
//!
//! Set `OSPREY_AGENT_JAR` to test a prebuilt agent jar.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::{PortApp, jdks, mentions, received, status_code};
use common::traces::names_and_threads;
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr, str_attr, within};

const WORK: &str = "demo.webflux.Work.slow(java.lang.String)";
const UNTRACED: &str = "demo.webflux.Work.untraced()";
const AFTER: &str = "demo.webflux.Work.after(java.lang.String)";
/// The `/echo` transactions the requests of [`requests`] cause.
const CALLEES: usize = 5;
const INBOUND_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN: &str = "00f067aa0ba902b7";
const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-webflux", &["-DskipTests"])
}

/// The application's libraries and classes, as a class path.
fn class_path() -> &'static str {
    static CP: OnceLock<String> = OnceLock::new();
    CP.get_or_init(|| {
        let libs_dir =
            common::stores::maven_dependencies("ffi/tests/webflux-app", "webflux-app-libs");
        let mut libs: Vec<PathBuf> = std::fs::read_dir(&libs_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jar"))
            .collect();
        libs.sort();
        let classes = common::java::compile_app(
            "ffi/tests/webflux-app/src/demo/webflux",
            &["WebFluxApp.java", "Owners.java", "Work.java"],
            &libs,
            "webflux-app-classes",
        );
        common::java::class_path(&classes, &libs)
    })
}

fn start(jdk: &Path, jvm_args: &[String], name: &str) -> PortApp {
    let cmd = common::java::java(jdk, jvm_args, class_path(), "demo.webflux.WebFluxApp", &[]);
    PortApp::start(cmd, name)
}

fn agent_arg(receiver: &Receiver, items: &str) -> String {
    format!(
        "-javaagent:{}=service.name=webflux-demo,exporter=otlp,otlp.endpoint=http://127.0.0.1:{},\
         batch.delay_ms=50,hook.methods=demo.webflux.Work.*{items}",
        agent_jar().display(),
        receiver.port()
    )
}

/// The requests, in order: (path, extra header lines).
fn requests() -> Vec<(&'static str, String)> {
    vec![
        ("/owners/17", String::new()),
        ("/owners/18", String::new()),
        ("/owners/17/pets/rex", String::new()),
        ("/fn/leaf", String::new()),
        ("/fail/9", String::new()),
        ("/hop/3", String::new()),
        ("/publish/4", String::new()),
        ("/call/5", String::new()),
        ("/hop-call/6", String::new()),
        (
            "/call/77",
            format!(
                "traceparent: 00-{INBOUND_TRACE}-{INBOUND_SPAN}-01\r\ntracestate: vendor=abc\r\n"
            ),
        ),
        ("/fn/b3", format!("b3: {B3_TRACE}-e457b5a2e4d86bd1-1\r\n")),
        ("/chain/12", String::new()),
        ("/delay/13", String::new()),
    ]
}

/// Status line and body of each request.
fn exercise(app: &PortApp) -> Vec<(String, String)> {
    requests()
        .iter()
        .map(|(path, headers)| app.get(path, headers))
        .collect()
}

/// What must not differ with the agent: the body, except where the callee
/// echoes the trace headers (then the rest of it) and the error page (its
/// time stamp and request id change on every run: the status only).
fn comparable(path: &str, body: &str) -> String {
    if path.starts_with("/fail") {
        return String::new();
    }
    body.split(' ')
        .map(|w| {
            if w.starts_with("traceparent=") || w.starts_with("tracestate=") {
                "<trace header>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits (bounded) until `n` SERVER spans arrived; all spans then.
fn spans_with_servers(receiver: &Receiver, n: usize) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = received(receiver);
        let servers = spans
            .iter()
            .filter(|s| s.kind == span::SpanKind::Server as i32)
            .count();
        if servers >= n || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn server<'a>(spans: &'a [Span], path: &str, label: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| {
            s.kind == span::SpanKind::Server as i32
                && str_attr(&s.attributes, "url.path") == Some(path)
        })
        .unwrap_or_else(|| {
            panic!(
                "{label}: no transaction of {path}: {:?}",
                names_and_threads(spans)
            )
        })
}

/// The spans below `root` in its trace, at any depth.
fn descendants<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    let mut out: Vec<&Span> = Vec::new();
    let mut frontier = vec![root.span_id.clone()];
    while let Some(id) = frontier.pop() {
        for s in spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id && s.parent_span_id == id)
        {
            frontier.push(s.span_id.clone());
            out.push(s);
        }
    }
    out
}

/// Asserts the route naming and outcome of one transaction.
fn assert_route(spans: &[Span], path: &str, route: &str, status: i64, label: &str) -> Span {
    let s = server(spans, path, label);
    assert_eq!(s.name, format!("GET {route}"), "{label}: {path}");
    assert_eq!(
        str_attr(&s.attributes, "http.route"),
        Some(route),
        "{label}"
    );
    assert_eq!(
        int_attr(&s.attributes, "http.response.status_code"),
        Some(status),
        "{label}: {path}"
    );
    assert_eq!(
        str_attr(&s.attributes, "http.request.method"),
        Some("GET"),
        "{label}"
    );
    s.clone()
}

/// The work moved to the bounded elastic scheduler: a task step of the
/// transaction on a `boundedElastic-` thread, with the hooked method inside.
fn assert_elastic_work(spans: &[Span], txn: &Span, label: &str) {
    let below = descendants(spans, txn);
    let task = below
        .iter()
        .find(|s| {
            s.name.starts_with("async ")
                && str_attr(&s.attributes, "thread.name")
                    .is_some_and(|t| t.starts_with("boundedElastic-"))
        })
        .unwrap_or_else(|| {
            panic!(
                "{label}: no task on the scheduler: {:?}",
                names_and_threads(spans)
            )
        });
    assert!(
        within(task, txn),
        "{label}: the task inside its transaction"
    );
    let work = below
        .iter()
        .find(|s| s.name == WORK && s.parent_span_id == task.span_id)
        .unwrap_or_else(|| {
            panic!(
                "{label}: no work in the task: {:?}",
                names_and_threads(spans)
            )
        });
    assert!(within(work, task), "{label}");
}

/// The WebClient call under `caller` (at any depth): its CLIENT step, the
/// callee's transaction as its child, the callee's view of `traceparent`.
fn assert_call(spans: &[Span], caller: &Span, body: &str, port: u16, label: &str) -> Span {
    let client = descendants(spans, caller)
        .into_iter()
        .find(|s| s.kind == span::SpanKind::Client as i32)
        .unwrap_or_else(|| panic!("{label}: no CLIENT step: {:?}", names_and_threads(spans)))
        .clone();
    assert_eq!(client.name, format!("GET 127.0.0.1:{port}"), "{label}");
    assert_eq!(
        str_attr(&client.attributes, "http.request.method"),
        Some("GET")
    );
    assert_eq!(
        str_attr(&client.attributes, "server.address"),
        Some("127.0.0.1")
    );
    assert_eq!(
        int_attr(&client.attributes, "server.port"),
        Some(i64::from(port))
    );
    assert_eq!(
        int_attr(&client.attributes, "http.response.status_code"),
        Some(200),
        "{label}"
    );
    assert!(
        within(&client, caller),
        "{label}: the call inside its caller"
    );
    let callee = spans
        .iter()
        .find(|s| s.kind == span::SpanKind::Server as i32 && s.parent_span_id == client.span_id)
        .unwrap_or_else(|| {
            panic!(
                "{label}: no callee transaction: {:?}",
                names_and_threads(spans)
            )
        });
    assert_eq!(callee.trace_id, caller.trace_id, "{label}: one trace");
    assert_eq!(callee.name, "GET /echo/{id}", "{label}");
    let seen = format!(
        "traceparent=00-{}-{}-",
        hex(&client.trace_id),
        hex(&client.span_id)
    );
    assert!(body.contains(&seen), "{label}: the callee saw {body}");
    assert!(body.contains("auth=true"), "{label}: {body}");
    client
}

fn webflux_through_agent(jdk: &Path, label: &str) {
    let plain = start(jdk, &[], &format!("webflux-plain-{label}"));
    let expected = exercise(&plain);
    let _ = plain.stop();
    assert!(expected[0].1.contains("owner 17"), "{expected:?}");
    assert!(expected[4].0.contains(" 500"), "{expected:?}");
    assert!(expected[5].1.contains("3 on elastic"), "{expected:?}");
    assert!(expected[6].1.contains("4 on elastic"), "{expected:?}");
    assert!(expected[7].1.contains("traceparent=null"), "{expected:?}");
    assert!(
        expected[11].1.contains("after 12 called 12: echo 12")
            && expected[11].1.contains(" | called 12b: echo 12b"),
        "{expected:?}"
    );
    assert_eq!(expected[12].1, "after 13", "{expected:?}");

    let receiver = Receiver::start();
    let app = start(
        jdk,
        &[agent_arg(&receiver, "")],
        &format!("webflux-agent-{label}"),
    );
    let port = app.port;
    let got = exercise(&app);
    let (stdout, stderr) = app.stop();
    assert!(
        !stderr.contains("osprey:"),
        "{label}: the agent complained: {stderr}"
    );
    for (((path, _), want), have) in requests().iter().zip(&expected).zip(&got) {
        assert_eq!(
            have.0, want.0,
            "{label}: {path}: status changed under the agent"
        );
        assert_eq!(
            comparable(path, &have.1),
            comparable(path, &want.1),
            "{label}: {path}: response changed under the agent"
        );
    }

    // The requests, their callees, /exit.
    let spans = spans_with_servers(&receiver, requests().len() + CALLEES + 1);

    // Route names from WebFlux's patterns, raw paths kept.
    let owner = assert_route(&spans, "/owners/17", "/owners/{ownerId}", 200, label);
    assert_route(&spans, "/owners/18", "/owners/{ownerId}", 200, label);
    assert_route(
        &spans,
        "/owners/17/pets/rex",
        "/owners/{ownerId}/pets/{petId}",
        200,
        label,
    );
    assert_route(&spans, "/fn/leaf", "/fn/{name}", 200, label);
    let fail = assert_route(&spans, "/fail/9", "/fail/{id}", 500, label);
    assert_eq!(
        status_code(&fail),
        2,
        "{label}: the failed request is an error"
    );
    assert!(mentions(&fail, "no owner 9"), "{label}: {fail:?}");

    // The handler method, a step inside the transaction.
    let step = spans
        .iter()
        .find(|s| s.parent_span_id == owner.span_id && s.trace_id == owner.trace_id)
        .unwrap_or_else(|| panic!("{label}: no handler step: {:?}", names_and_threads(&spans)));
    assert_eq!(step.name, "Owners.owner", "{label}");
    assert!(within(step, &owner), "{label}");
    let failed_step = spans
        .iter()
        .find(|s| s.parent_span_id == fail.span_id && s.name == "Owners.fail")
        .unwrap_or_else(|| {
            panic!(
                "{label}: no failed handler step: {:?}",
                names_and_threads(&spans)
            )
        });
    assert_eq!(status_code(failed_step), 2, "{label}");

    // Inbound trace context continued, its tracestate forwarded.
    let inbound = assert_route(&spans, "/call/77", "/call/{id}", 200, label);
    assert_eq!(hex(&inbound.trace_id), INBOUND_TRACE, "{label}");
    assert_eq!(hex(&inbound.parent_span_id), INBOUND_SPAN, "{label}");
    assert_call(&spans, &inbound, &got[9].1, port, label);
    assert!(
        got[9].1.contains("tracestate=vendor=abc"),
        "{label}: {}",
        got[9].1
    );
    let b3 = assert_route(&spans, "/fn/b3", "/fn/{name}", 200, label);
    assert_eq!(hex(&b3.trace_id), B3_TRACE, "{label}");

    // Bounded elastic: subscribeOn and publishOn.
    let hop = assert_route(&spans, "/hop/3", "/hop/{id}", 200, label);
    assert_elastic_work(&spans, &hop, label);
    let publish = assert_route(&spans, "/publish/4", "/publish/{id}", 200, label);
    assert_elastic_work(&spans, &publish, label);

    // WebClient: one trace across caller and callee.
    let call = assert_route(&spans, "/call/5", "/call/{id}", 200, label);
    assert_call(&spans, &call, &got[7].1, port, label);
    let hop_call = assert_route(&spans, "/hop-call/6", "/hop-call/{id}", 200, label);
    let client = assert_call(&spans, &hop_call, &got[8].1, port, label);
    let task = descendants(&spans, &hop_call)
        .into_iter()
        .find(|s| s.span_id == client.parent_span_id)
        .unwrap_or_else(|| panic!("{label}: {:?}", names_and_threads(&spans)));
    assert!(
        str_attr(&task.attributes, "thread.name").is_some_and(|t| t.starts_with("boundedElastic-")),
        "{label}: the call subscribed on the scheduler: {task:?}"
    );

    // No secret of the calls recorded; no work of no request recorded.
    for s in &spans {
        assert!(
            !mentions(s, "s3cret-value") && !mentions(s, "hunter2"),
            "{label}: a secret was recorded: {s:?}"
        );
    }
    assert!(
        !spans.iter().any(|s| s.name == UNTRACED),
        "{label}: context leaked into unrelated work: {:?}",
        names_and_threads(&spans)
    );
    let servers = spans
        .iter()
        .filter(|s| s.kind == span::SpanKind::Server as i32)
        .count();
    assert_eq!(
        servers,
        requests().len() + CALLEES + 1,
        "{label}: {:?}",
        names_and_threads(&spans)
    );

    // Continuations on the threads their signals arrive on, inside their transactions.
    let chain = assert_route(&spans, "/chain/12", "/chain/{id}", 200, label);
    assert_continuation(&spans, &chain, "12", label);
    let line = stdout
        .lines()
        .find(|l| l.contains("continued 12 on "))
        .unwrap_or_else(|| panic!("{label}: no log line of the continuation: {stdout}"));
    assert!(
        line.contains(&format!("[{} ", hex(&chain.trace_id))),
        "{label}: the continuation's log line carries its trace id: {line}"
    );
    let delay = assert_route(&spans, "/delay/13", "/delay/{id}", 200, label);
    assert_continuation(&spans, &delay, "13", label);
    assert_eq!(
        spans.iter().filter(|s| s.name == AFTER).count(),
        2,
        "{label}: no continuation step outside its transaction: {:?}",
        names_and_threads(&spans)
    );
}

/// The continuation of `/chain/{id}` (a call, then the step, then a second
/// call, in that order) or `/delay/{id}` (the step) inside `txn`: exactly
/// these steps, each call's callee `/echo/<id>` (then `/echo/<id>b`) its
/// child in the same trace.
fn assert_continuation(spans: &[Span], txn: &Span, id: &str, label: &str) {
    let path = str_attr(&txn.attributes, "url.path").unwrap_or_default();
    let below = descendants(spans, txn);
    let listed: Vec<Span> = below.iter().map(|s| (*s).clone()).collect();
    let after: Vec<&&Span> = below.iter().filter(|s| s.name == AFTER).collect();
    assert_eq!(
        after.len(),
        1,
        "{label}: {path}: one continuation step in its transaction: {:?}",
        names_and_threads(&listed)
    );
    let after = after[0];
    assert!(within(after, txn), "{label}: {path}: the step inside");
    let mut clients: Vec<&&Span> = below
        .iter()
        .filter(|s| s.kind == span::SpanKind::Client as i32)
        .collect();
    clients.sort_by_key(|s| s.start_time_unix_nano);
    if !path.starts_with("/chain/") {
        assert!(clients.is_empty(), "{label}: {path}: {clients:?}");
        return;
    }
    assert_eq!(
        clients.len(),
        2,
        "{label}: {path}: two calls: {:?}",
        names_and_threads(&listed)
    );
    assert!(
        clients[0].start_time_unix_nano <= after.start_time_unix_nano
            && after.end_time_unix_nano <= clients[1].start_time_unix_nano,
        "{label}: {path}: call, step, call in order: {clients:?} {after:?}"
    );
    for (client, callee_id) in clients.iter().zip([id.to_owned(), format!("{id}b")]) {
        assert!(within(client, txn), "{label}: {path}: the call inside");
        let callee = spans
            .iter()
            .find(|s| s.kind == span::SpanKind::Server as i32 && s.parent_span_id == client.span_id)
            .unwrap_or_else(|| panic!("{label}: {path}: no callee of {client:?}"));
        assert_eq!(callee.trace_id, txn.trace_id, "{label}: {path}: one trace");
        assert_eq!(
            str_attr(&callee.attributes, "url.path"),
            Some(format!("/echo/{callee_id}").as_str()),
            "{label}: {path}: its own callee"
        );
    }
}

#[test]
fn webflux_requests_are_named_transactions_across_schedulers_and_webclient() {
    for (jdk, label) in jdks() {
        webflux_through_agent(&jdk, label);
    }
}

#[test]
fn webflux_handler_steps_switch_off_alone() {
    let receiver = Receiver::start();
    let app = start(
        &common::java::java_home(),
        &[agent_arg(&receiver, ",instrument.spring_webflux=false")],
        "webflux-no-steps",
    );
    let (status, body) = app.get("/owners/7", "");
    assert!(
        status.contains(" 200") && body.contains("owner 7"),
        "{status} {body}"
    );
    let _ = app.stop();
    let spans = spans_with_servers(&receiver, 2);
    let owner = assert_route(&spans, "/owners/7", "/owners/{ownerId}", 200, "no-steps");
    assert!(
        !spans.iter().any(|s| s.parent_span_id == owner.span_id),
        "no handler step: {:?}",
        names_and_threads(&spans)
    );
}

/// Request `i` of the concurrent run: a WebClient chain, or a delay, in turn.
fn continuation_path(i: usize) -> String {
    if i.is_multiple_of(2) {
        format!("/chain/{i}")
    } else {
        format!("/delay/{i}")
    }
}

#[test]
fn webflux_concurrent_continuations_keep_their_own_steps() {
    const N: usize = 200;
    let receiver = Receiver::start();
    let app = start(
        &common::java::java_home(),
        // Room for the burst of transactions at the debug-built receiver.
        &[agent_arg(&receiver, ",exporter.queue_batches=256")],
        "webflux-concurrent",
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= N {
                        break;
                    }
                    let path = continuation_path(i);
                    let (status, body) = app.get(&path, "");
                    assert!(status.contains(" 200"), "{path}: {status} {body}");
                    assert!(body.starts_with(&format!("after {i}")), "{path}: {body}");
                }
            });
        }
    });
    let (_, stderr) = app.stop();
    assert!(
        !stderr.contains("osprey:"),
        "the agent complained: {stderr}"
    );
    // Each request, the two callees of each /chain, /exit.
    let expected = N + N + 1;
    let spans = spans_with_servers(&receiver, expected);
    let servers: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == span::SpanKind::Server as i32)
        .collect();
    assert_eq!(
        servers.len(),
        expected,
        "every request a transaction of its own"
    );
    for i in 0..N {
        let path = continuation_path(i);
        let txn = server(&spans, &path, "concurrent");
        assert_continuation(&spans, txn, &i.to_string(), "concurrent");
    }
    assert_eq!(
        spans.iter().filter(|s| s.name == AFTER).count(),
        N,
        "no continuation step outside its transaction"
    );
}
