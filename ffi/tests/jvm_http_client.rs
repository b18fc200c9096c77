//! End to end through the Java agent's HTTP client instrumentation: two
//! JVMs under the agent, exporting to one loopback OTLP receiver with
//! different service names. The callee is an embedded Tomcat 11
//! (`jvm-agent/src/test-app/http/demo/http/EchoServer.java`); the caller
//! (`ClientApp.java`) calls it in one transaction with `HttpURLConnection`,
//! the JDK's `java.net.http.HttpClient`, Apache HttpClient 5 and 4, once
//! more with `HttpURLConnection` for a 500, then with three requests that
//! carry the application's own `traceparent`, a POST with a body, a
//! connection the application `connect()`s itself, one refused, and one
//! `sendAsync` whose future it joins (the server answers after 300 ms).
//!
//! Proves: one trace across both processes, each CLIENT step the parent of
//! the callee's SERVER span; the callee saw a `traceparent` naming the
//! client step (and none for a call outside a transaction); the step's
//! name and attributes; query values never leave the process (attributes
//! and error messages); a 500 marks the step as an error; a `traceparent`
//! the application set reaches the callee unchanged; the responses are
//! identical with and without the agent; the `sendAsync` step ends when its
//! future completes; `instrument.http_client=false`
//! switches it off; and the JDK's HTTP classes, when another agent listed
//! first loaded them before ours started, are retransformed and still give
//! steps and headers. On JDK 17 and Temurin 25.
//!
//! W3C Trace Context end to end: a servlet (`Relay.java`) calling back into
//! its server with three clients while it serves requests carrying valid,
//! unsampled, duplicated, malformed, future-version and B3 `traceparent`
//! headers and valid, over-long (33 members) and invalid `tracestate`; what
//! each callee received (`traceparent` flags, `tracestate` forwarded or
//! dropped) and the spans (continued or new trace).
//!
//! Tomcat, HttpClient 5 and their dependencies come from Maven Central
//! (`mvn dependency:copy`) into the cargo target directory. Set
//! `OSPREY_AGENT_JAR` to test a prebuilt agent jar.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::{PortApp, jdks, mentions, status_code};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr, str_attr};

/// Besides embedded Tomcat ([`common::java::TOMCAT_EMBED`]).
const ARTIFACTS: &[(&str, &str)] = &[
    (
        "org.apache.httpcomponents.client5:httpclient5:5.6.5",
        "httpclient5-5.6.5.jar",
    ),
    (
        "org.apache.httpcomponents.core5:httpcore5:5.4.4",
        "httpcore5-5.4.4.jar",
    ),
    (
        "org.apache.httpcomponents.core5:httpcore5-h2:5.4.4",
        "httpcore5-h2-5.4.4.jar",
    ),
    ("org.slf4j:slf4j-api:1.7.36", "slf4j-api-1.7.36.jar"),
    (
        "org.apache.httpcomponents:httpclient:4.5.14",
        "httpclient-4.5.14.jar",
    ),
    (
        "org.apache.httpcomponents:httpcore:4.4.16",
        "httpcore-4.4.16.jar",
    ),
    (
        "commons-logging:commons-logging:1.2",
        "commons-logging-1.2.jar",
    ),
    ("commons-codec:commons-codec:1.11", "commons-codec-1.11.jar"),
];

const TXN: &str = "demo.http.ClientApp.calls(java.lang.String)";
/// The header the application sets itself (`ClientApp.OWN`).
const OWN_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const OWN_PARENT: &str = "b7ad6b7169203331";

/// Builds the agent jar once (or takes `OSPREY_AGENT_JAR`).
fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-http", &["-DskipTests"])
}

/// The libraries, fetched once with Maven.
fn libs() -> &'static [PathBuf] {
    static LIBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    LIBS.get_or_init(|| {
        let all: Vec<(&str, &str)> = common::java::TOMCAT_EMBED
            .iter()
            .chain(ARTIFACTS)
            .copied()
            .collect();
        common::java::maven_artifacts(&all, "jvm-http-libs")
    })
}

fn class_path(extra: &Path) -> String {
    common::java::class_path(extra, libs())
}

/// Compiles the application once with JDK 17 (`--release 17`, which
/// Tomcat 11 needs); every JDK runs the same classes.
fn app_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        common::java::compile_app(
            "jvm-agent/src/test-app/http/demo/http",
            &["EchoServer.java", "ClientApp.java", "Relay.java"],
            libs(),
            "jvm-http-classes",
        )
    })
}

fn agent_arg(receiver: &Receiver, items: &str) -> String {
    format!(
        "-javaagent:{}={items},exporter=otlp,otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50",
        agent_jar().display(),
        receiver.port()
    )
}

/// The callee (`port=N`, `/exit`).
struct Server(PortApp);

impl Server {
    fn start(jdk: &Path, jvm_args: &[String], name: &str) -> Server {
        let cmd = common::java::java(
            jdk,
            jvm_args,
            class_path(app_classes()),
            "demo.http.EchoServer",
            &[],
        );
        Server(PortApp::start(cmd, name))
    }

    fn port(&self) -> u16 {
        self.0.port
    }

    /// Asks the server to stop, waits (bounded) and returns its standard
    /// output (the `seen ...` lines).
    fn stop(self, _name: &str) -> String {
        self.0.stop().0
    }
}

/// Runs the caller against `port`; returns its standard output and error.
fn client(jdk: &Path, jvm_args: &[String], port: u16, name: &str) -> (String, String) {
    let mut cmd = common::java::java(
        jdk,
        jvm_args,
        class_path(app_classes()),
        "demo.http.ClientApp",
        &[],
    );
    cmd.arg(port.to_string());
    let out = common::java::run_java(cmd, name);
    assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
    (out.stdout, out.stderr)
}

/// The `traceparent` the server saw for `id` (`none` without one).
fn seen(server_out: &str, id: u32) -> Vec<String> {
    let prefix = format!("seen id={id} traceparent=");
    server_out
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

/// Waits until the receiver holds at least `n` spans; all of them, each
/// with its service name.
fn spans(receiver: &Receiver, n: usize) -> Vec<(String, Span)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = common::spans_with_service(
            receiver
                .traces()
                .into_iter()
                .flat_map(|r| r.resource_spans)
                .collect(),
        );
        if all.len() >= n || Instant::now() >= deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn two_services_one_trace(jdk: &Path, label: &str) {
    let plain = Server::start(jdk, &[], &format!("http-server-plain-{label}"));
    let (expected, _) = client(
        jdk,
        &[],
        plain.port(),
        &format!("http-client-plain-{label}"),
    );
    let plain_out = plain.stop(&format!("http-server-plain-{label}"));
    assert!(expected.contains("url 200 echo 1"), "{expected}");
    assert!(expected.contains("jdk 200 echo 2"), "{expected}");
    assert!(expected.contains("apache 200 echo 3"), "{expected}");
    assert!(expected.contains("apache4 200 echo 4"), "{expected}");
    assert!(expected.contains("error 500 status 500"), "{expected}");
    assert!(expected.contains("own apache 200 echo 8"), "{expected}");
    assert!(expected.contains("post 200 posted 5 id=9"), "{expected}");
    assert!(expected.contains("connect-first 200 echo 10"), "{expected}");
    assert!(expected.contains("refused ConnectException"), "{expected}");
    assert!(expected.contains("async 200 echo 12"), "{expected}");
    for id in [0, 1, 2, 3, 4, 12] {
        assert_eq!(seen(&plain_out, id), ["none"], "{plain_out}");
    }

    let receiver = Receiver::start();
    let name = format!("http-server-agent-{label}");
    let server = Server::start(
        jdk,
        &[agent_arg(&receiver, "service.name=http-server")],
        &name,
    );
    let (got, stderr) = client(
        jdk,
        &[agent_arg(
            &receiver,
            "hook.transactions=demo.http.ClientApp.calls,service.name=http-client",
        )],
        server.port(),
        &format!("http-client-agent-{label}"),
    );
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    assert!(
        !stderr.lines().any(|l| l.starts_with("osprey:")),
        "{label}: {stderr}"
    );

    // Switched off: no step, no header (the transaction itself stays).
    let (off, _) = client(
        jdk,
        &[agent_arg(
            &receiver,
            "hook.transactions=demo.http.ClientApp.calls,instrument.http_client=false,\
             service.name=http-client-off",
        )],
        server.port(),
        &format!("http-client-off-{label}"),
    );
    assert_eq!(off, expected);
    let port = i64::from(server.port());
    let server_out = server.stop(&name);

    // client: txn + 12 steps; off: txn; server: 2 x (11 echo + 1 status), exit.
    let all = spans(&receiver, 39);
    let names: Vec<String> = all.iter().map(|(s, x)| format!("{s}:{}", x.name)).collect();
    assert_eq!(all.len(), 39, "{label}: {names:?}");
    for (_, s) in &all {
        let text = format!("{s:?}");
        assert!(!text.contains("token=abc"), "query value leaked: {text}");
    }
    let of = |service: &str| -> Vec<&Span> {
        all.iter()
            .filter(|(s, _)| s == service)
            .map(|(_, x)| x)
            .collect()
    };
    let caller = of("http-client");
    let callee = of("http-server");
    let off_spans = of("http-client-off");
    assert_eq!(off_spans.len(), 1, "{names:?}");
    assert_eq!(off_spans[0].name, TXN);

    let txn = caller.iter().find(|s| s.name == TXN).expect("transaction");
    let mut steps: Vec<&Span> = caller
        .iter()
        .copied()
        .filter(|s| s.parent_span_id == txn.span_id)
        .collect();
    steps.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(steps.len(), EXPECTED.len(), "{names:?}");
    let own = format!("00-{OWN_TRACE}-{OWN_PARENT}-01");
    for (step, want) in steps.iter().zip(EXPECTED) {
        let id = want.id;
        let step_port = if want.refused { 1 } else { port };
        assert_eq!(step.name, format!("{} 127.0.0.1:{step_port}", want.method));
        assert_eq!(step.kind, span::SpanKind::Client as i32);
        assert_eq!(step.trace_id, txn.trace_id, "one trace");
        let attrs = &step.attributes;
        assert_eq!(str_attr(attrs, "http.request.method"), Some(want.method));
        assert_eq!(str_attr(attrs, "server.address"), Some("127.0.0.1"));
        assert_eq!(int_attr(attrs, "server.port"), Some(step_port));
        assert_eq!(
            str_attr(attrs, "url.full"),
            Some(format!("http://127.0.0.1:{step_port}/{}", want.path).as_str()),
            "step {id}"
        );
        assert_eq!(int_attr(attrs, "http.response.status_code"), want.status);
        let error = want.refused || want.status == Some(500);
        assert_eq!(
            status_code(step) == status::StatusCode::Error as i32,
            error,
            "{step:#?}"
        );
        if want.refused {
            assert!(mentions(step, "ConnectException"), "{step:#?}");
            continue;
        }
        if want.own {
            // The application's own header went out unchanged: not our child.
            assert!(!callee.iter().any(|s| s.parent_span_id == step.span_id));
            assert_eq!(seen(&server_out, id), [own.clone(), own.clone()], "id={id}");
            continue;
        }
        // The callee's server span is this step's child, in the same trace.
        let child = callee
            .iter()
            .find(|s| s.parent_span_id == step.span_id)
            .unwrap_or_else(|| panic!("{label}: no server span under step {id}: {names:?}"));
        assert_eq!(child.trace_id, txn.trace_id, "one trace across processes");
        assert_eq!(child.kind, span::SpanKind::Server as i32);
        assert_eq!(child.name, format!("{} /{}", want.method, want.server_path));
        assert_eq!(
            status_code(child) == status::StatusCode::Error as i32,
            error
        );
        if want.id == 12 {
            // sendAsync: the step ends when the future completes, not when
            // the call returned it (the server sleeps 300 ms first).
            let elapsed = step.end_time_unix_nano - step.start_time_unix_nano;
            assert!(elapsed >= 300_000_000, "{label}: async step {elapsed} ns");
            assert!(step.end_time_unix_nano >= child.start_time_unix_nano);
        }
        // A trace begun here: sampled, and its id random (W3C level 2).
        if want.status != Some(500) {
            let header = format!("00-{}-{}-03", hex(&txn.trace_id), hex(&step.span_id));
            assert!(
                seen(&server_out, id).contains(&header),
                "{label}: id={id} expected {header}:\n{server_out}"
            );
        }
    }
    // Outside a transaction (id=0, both runs) and switched off: no header.
    assert_eq!(seen(&server_out, 0), ["none", "none"], "{server_out}");
    for id in [1, 2, 3, 4, 9, 10, 12] {
        assert!(seen(&server_out, id).contains(&"none".to_owned()));
    }
    let roots = callee
        .iter()
        .filter(|s| s.name.ends_with(" /echo") && s.parent_span_id.is_empty())
        .count();
    assert_eq!(roots, 9, "the uninstrumented calls start their own traces");
    let continued = callee
        .iter()
        .filter(|s| hex(&s.trace_id) == OWN_TRACE && hex(&s.parent_span_id) == OWN_PARENT)
        .count();
    assert_eq!(continued, 6, "the application's own traceparent, both runs");
}

/// What one client step of `ClientApp.calls` should look like.
struct Expect {
    /// The `id` the server prints (`seen id=N`).
    id: u32,
    method: &'static str,
    /// `url.full` after the port.
    path: &'static str,
    /// The server span's path.
    server_path: &'static str,
    status: Option<i64>,
    /// The application set its own `traceparent`.
    own: bool,
    /// Sent to a closed port: no response.
    refused: bool,
}

const fn expect(id: u32, method: &'static str, path: &'static str, status: i64) -> Expect {
    Expect {
        id,
        method,
        path,
        server_path: "echo",
        status: Some(status),
        own: false,
        refused: false,
    }
}

/// `ClientApp.calls`, in order.
const EXPECTED: &[Expect] = &[
    expect(1, "GET", "echo?id=?&token=?", 200), // HttpURLConnection
    expect(2, "GET", "echo?id=?&token=?", 200), // java.net.http
    expect(3, "GET", "echo?id=?&token=?", 200), // Apache 5
    expect(4, "GET", "echo?id=?&token=?", 200), // Apache 4
    Expect {
        server_path: "status",
        ..expect(5, "GET", "status?code=?&token=?", 500)
    },
    Expect {
        own: true,
        ..expect(6, "GET", "echo?id=?", 200)
    },
    Expect {
        own: true,
        ..expect(7, "GET", "echo?id=?", 200)
    },
    Expect {
        own: true,
        ..expect(8, "GET", "echo?id=?", 200)
    },
    expect(9, "POST", "echo?id=?", 200), // body through getOutputStream()
    expect(10, "GET", "echo?id=?", 200), // connect() first
    Expect {
        path: "refused",
        status: None,
        refused: true,
        ..expect(11, "GET", "", 0)
    },
    expect(12, "GET", "echo?id=?&sleep=?", 200), // java.net.http sendAsync
];

#[test]
fn client_steps_parent_the_callee_across_processes() {
    for (jdk, label) in jdks() {
        two_services_one_trace(&jdk, label);
    }
}

/// `PreloadAgent`'s jar (`jvm-agent/src/test-app/preload`): an agent whose
/// premain loads the JDK HTTP classes; built once with JDK 17.
fn preload_agent() -> &'static Path {
    static JAR: OnceLock<PathBuf> = OnceLock::new();
    JAR.get_or_init(|| {
        let jdk = common::java::java_home();
        let root = common::repo_root();
        let dir = common::scratch("jvm-preload-agent");
        let classes = dir.join("classes");
        common::java::javac(
            &jdk,
            &["--release".into(), "11".into()],
            &classes,
            &[root.join("jvm-agent/src/test-app/preload/demo/preload/PreloadAgent.java")],
        );
        let manifest = dir.join("MANIFEST.MF");
        std::fs::write(&manifest, "Premain-Class: demo.preload.PreloadAgent\n").unwrap();
        let jar = dir.join("preload-agent.jar");
        let status = std::process::Command::new(jdk.join("bin/jar"))
            .arg("cfm")
            .arg(&jar)
            .arg(&manifest)
            .arg("-C")
            .arg(&classes)
            .arg(".")
            .status()
            .expect("jar runs");
        assert!(status.success(), "jar failed");
        jar
    })
}

/// JDK HTTP classes loaded before the agent started (here by another
/// agent listed first) are retransformed: the calls through them still
/// become steps and carry `traceparent`.
fn preloaded_classes_retransformed(jdk: &Path, label: &str) {
    let name = format!("http-server-preload-{label}");
    let server = Server::start(jdk, &[], &name);
    let receiver = Receiver::start();
    let preload = format!("-javaagent:{}", preload_agent().display());
    let (got, stderr) = client(
        jdk,
        &[
            preload,
            agent_arg(
                &receiver,
                "hook.transactions=demo.http.ClientApp.calls,service.name=preloaded",
            ),
        ],
        server.port(),
        &format!("http-client-preload-{label}"),
    );
    assert!(
        stderr.contains(
            "preloaded sun.net.www.protocol.http.HttpURLConnection \
             jdk.internal.net.http.HttpClientImpl jdk.internal.net.http.HttpRequestImpl"
        ),
        "{label}: the classes were not loaded first: {stderr}"
    );
    assert!(
        got.contains("url 200 echo 1") && got.contains("jdk 200 echo 2"),
        "{got}"
    );
    let port = server.port();
    let server_out = server.stop(&name);

    let all = spans(&receiver, 1 + EXPECTED.len());
    let txn = all
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == TXN)
        .expect("transaction");
    let mut steps: Vec<&Span> = all
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.parent_span_id == txn.span_id)
        .collect();
    steps.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(steps.len(), EXPECTED.len(), "{label}: {steps:#?}");
    // HttpURLConnection (id 1) and java.net.http (id 2): the retransformed
    // classes sent the step's traceparent.
    for (step, want) in steps.iter().zip(EXPECTED).take(2) {
        assert_eq!(step.name, format!("GET 127.0.0.1:{port}"));
        let header = format!("00-{}-{}-03", hex(&txn.trace_id), hex(&step.span_id));
        assert_eq!(
            seen(&server_out, want.id),
            [header],
            "{label}: id={}",
            want.id
        );
    }
}

#[test]
fn jdk_http_classes_loaded_before_the_agent_are_retransformed() {
    for (jdk, label) in jdks() {
        preloaded_classes_retransformed(&jdk, label);
    }
}

/// What one echo saw (`url echo N traceparent=X tracestate=Y` in the
/// relay's answer), per client, in the relay's order.
fn relayed(body: &str) -> Vec<(String, String, String)> {
    body.lines()
        .map(|l| {
            let (client, rest) = l.split_once(' ').expect("client name");
            let tp = rest
                .split_once(" traceparent=")
                .and_then(|(_, r)| r.split_once(" tracestate="))
                .expect("echo line");
            (client.to_owned(), tp.0.to_owned(), tp.1.to_owned())
        })
        .collect()
}

/// W3C Trace Context end to end through a servlet (`Relay`) that makes
/// outgoing calls with three clients while it serves a request: what each
/// callee saw, for each inbound case, and the relay's SERVER span.
fn trace_context_through_a_relay(jdk: &Path, label: &str) {
    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const P: &str = "00f067aa0ba902b7";
    let receiver = Receiver::start();
    let args = vec![agent_arg(&receiver, "service.name=relay")];
    let server = Server::start(jdk, &args, &format!("http-relay-{label}"));
    let relay = |id: u32, headers: &str| {
        let (status, body) = server.0.get(&format!("/relay?id={id}"), headers);
        assert!(status.contains(" 200"), "{status} {body}");
        let seen = relayed(&body);
        assert_eq!(
            seen.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
            ["url", "jdk", "apache"],
            "{body}"
        );
        seen
    };
    let trace_of = |tp: &str| tp.split('-').nth(1).unwrap().to_owned();
    let flags_of = |tp: &str| tp.rsplit('-').next().unwrap().to_owned();
    let mut new_traces = Vec::new();

    // 1. Continued: same trace, the caller's flags, tracestate forwarded
    //    (optional white space trimmed).
    let ts = "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7";
    for (_, tp, state) in relay(
        1,
        &format!("traceparent: 00-{T}-{P}-01\r\ntracestate: {ts}\r\n"),
    ) {
        assert_eq!(trace_of(&tp), T, "{tp}");
        assert!(
            !tp.contains(P),
            "the callee's parent is the client step: {tp}"
        );
        assert_eq!(flags_of(&tp), "01");
        assert_eq!(state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    }
    // 2. The caller did not sample: the decision is passed on; two
    //    tracestate lines are combined.
    let t2 = "0af7651916cd43dd8448eb211c80319c";
    let headers = format!("traceparent: 00-{t2}-{P}-00\r\ntracestate: a=1\r\ntracestate: b=2\r\n");
    for (_, tp, state) in relay(2, &headers) {
        assert_eq!(
            (trace_of(&tp), flags_of(&tp)),
            (t2.to_owned(), "00".to_owned())
        );
        assert_eq!(state, "a=1,b=2");
    }
    // 3. Duplicated traceparent, 4. malformed (upper case), 5. none: a new
    //    trace (sampled, random id), no tracestate continued.
    let t3 = "11111111111111111111111111111111";
    let dup =
        format!("traceparent: 00-{t3}-{P}-01\r\ntraceparent: 00-{T}-{P}-01\r\ntracestate: a=1\r\n");
    let upper = format!(
        "traceparent: 00-{}-{P}-01\r\ntracestate: a=1\r\n",
        T.to_uppercase()
    );
    for (id, headers) in [(3, dup.as_str()), (4, upper.as_str()), (5, "")] {
        let seen = relay(id, headers);
        let trace = trace_of(&seen[0].1);
        assert!(trace != t3 && trace != T, "id={id}: {seen:?}");
        for (_, tp, state) in &seen {
            assert_eq!(
                (trace_of(tp), flags_of(tp)),
                (trace.clone(), "03".to_owned())
            );
            assert_eq!(state, "none", "id={id}");
        }
        new_traces.push(trace);
    }
    // 6. A future version is read by its first four fields and sent on as 00.
    let t6 = "22222222222222222222222222222222";
    for (_, tp, _) in relay(
        6,
        &format!("traceparent: cc-{t6}-{P}-01-what-the-future-will-be-like\r\n"),
    ) {
        assert!(
            tp.starts_with(&format!("00-{t6}-")) && tp.ends_with("-01"),
            "{tp}"
        );
    }
    // 7. B3 as before: continued, sampled, no random flag, no tracestate.
    let t7 = "33333333333333333333333333333333";
    for (_, tp, state) in relay(7, &format!("b3: {t7}-{P}-1\r\n")) {
        assert_eq!(
            (trace_of(&tp), flags_of(&tp)),
            (t7.to_owned(), "01".to_owned())
        );
        assert_eq!(state, "none");
    }
    // 8. 32 list members go on; 33, or an invalid member, make the
    //    tracestate invalid: the trace is continued without it.
    let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let t8 = "44444444444444444444444444444444";
    let cases = [
        (8, many[..32].join(","), many[..32].join(",")),
        (9, many.join(","), "none".to_owned()),
        (10, "ok=1,BAD=2".to_owned(), "none".to_owned()),
    ];
    for (id, sent, want) in &cases {
        let headers = format!("traceparent: 00-{t8}-{P}-01\r\ntracestate: {sent}\r\n");
        for (_, tp, state) in relay(*id, &headers) {
            assert_eq!(trace_of(&tp), t8, "id={id}");
            assert_eq!(&state, want, "id={id}");
        }
    }

    let _ = server.stop(&format!("http-relay-{label}"));
    // 10 relay spans + 30 echo spans + 30 client steps.
    let all = spans(&receiver, 70);
    let server_spans: Vec<&Span> = all
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.kind == span::SpanKind::Server as i32)
        .collect();
    let relay_span = |trace: &str| {
        server_spans
            .iter()
            .find(|s| s.name == "GET /relay" && hex(&s.trace_id) == trace)
            .unwrap_or_else(|| panic!("no relay span in trace {trace}"))
    };
    for (trace, parent) in [(T, P), (t2, P), (t6, P), (t7, P), (t8, P)] {
        assert_eq!(hex(&relay_span(trace).parent_span_id), parent, "{trace}");
    }
    for trace in &new_traces {
        assert!(
            relay_span(trace).parent_span_id.is_empty(),
            "{trace}: a new trace has no parent"
        );
    }
    // Every echo span is the child of a client step of its relay's trace.
    for echo in server_spans.iter().filter(|s| s.name == "GET /echo") {
        let parent = all
            .iter()
            .map(|(_, s)| s)
            .find(|s| s.span_id == echo.parent_span_id)
            .unwrap_or_else(|| panic!("echo span without its client step"));
        assert_eq!(parent.kind, span::SpanKind::Client as i32);
        assert_eq!(parent.trace_id, echo.trace_id);
    }
    assert_eq!(
        server_spans
            .iter()
            .filter(|s| s.name == "GET /echo")
            .count(),
        30
    );
}

#[test]
fn w3c_trace_context_through_a_servlet_making_calls() {
    for (jdk, label) in jdks() {
        trace_context_through_a_relay(&jdk, label);
    }
}
