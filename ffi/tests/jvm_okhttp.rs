//! OkHttp 4 and 3 under the agent, end to end: `OkApp`
//! (`jvm-agent/src/test-app/okhttp/demo/okhttp`) calls a JDK `HttpServer`
//! in its own process on 127.0.0.1, exporting to a loopback OTLP receiver.
//!
//! Proves: each call made in a transaction is one CLIENT step `METHOD
//! host:port` with `http.response.status_code`, and the request carries a
//! `traceparent` naming that step (one header line, also through a client
//! built with `newBuilder()` from an instrumented one); the application's
//! own `traceparent` reaches the server unchanged; a 500 and a refused
//! connection mark their steps failed, a 404 does not; query values and
//! bodies never leave the process; a call outside any transaction carries
//! nothing; `instrument.okhttp=false` switches it off; output is the same
//! with and without the agent. On JDK 17 and Temurin 25.
//!
//! Spring's `RestTemplate` and `RestClient` with their default request
//! factories (`ClientsApp`, Spring Framework 6.2 without Boot) go through
//! `HttpURLConnection` and the JDK's `HttpClient`: one step each, whose
//! span id the server's `traceparent` names.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::java::{AppSpec, TestApp, jdks, status_code};
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr};

const OKHTTP4: &[(&str, &str)] = &[
    ("com.squareup.okhttp3:okhttp:4.12.0", "okhttp-4.12.0.jar"),
    ("com.squareup.okio:okio-jvm:3.6.0", "okio-jvm-3.6.0.jar"),
    (
        "org.jetbrains.kotlin:kotlin-stdlib:1.8.21",
        "kotlin-stdlib-1.8.21.jar",
    ),
];

const OKHTTP3: &[(&str, &str)] = &[
    ("com.squareup.okhttp3:okhttp:3.14.9", "okhttp-3.14.9.jar"),
    ("com.squareup.okio:okio:1.17.2", "okio-1.17.2.jar"),
];

const SPRING_WEB: &[(&str, &str)] = &[
    (
        "org.springframework:spring-web:6.2.19",
        "spring-web-6.2.19.jar",
    ),
    (
        "org.springframework:spring-core:6.2.19",
        "spring-core-6.2.19.jar",
    ),
    (
        "org.springframework:spring-beans:6.2.19",
        "spring-beans-6.2.19.jar",
    ),
    (
        "org.springframework:spring-jcl:6.2.19",
        "spring-jcl-6.2.19.jar",
    ),
    (
        "io.micrometer:micrometer-observation:1.15.12",
        "micrometer-observation-1.15.12.jar",
    ),
    (
        "io.micrometer:micrometer-commons:1.15.12",
        "micrometer-commons-1.15.12.jar",
    ),
];

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-okhttp", &["-DskipTests"])
}

/// Compiled once against OkHttp 4; OkHttp 3 runs the same classes.
const OK_APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/okhttp/demo/okhttp",
    files: &["OkApp.java"],
    main_class: "demo.okhttp.OkApp",
    artifacts: OKHTTP4,
    pom: None,
    name: "jvm-okhttp",
};

fn app(version: u8) -> &'static TestApp {
    static V3: OnceLock<TestApp> = OnceLock::new();
    if version == 4 {
        return OK_APP.app();
    }
    V3.get_or_init(|| {
        OK_APP
            .app()
            .with_libs(common::java::maven_artifacts(OKHTTP3, "jvm-okhttp3-libs"))
    })
}

fn run(jdk: &Path, version: u8, jvm_args: &[String], name: &str) -> (String, String) {
    let out = app(version).run(jdk, jvm_args, &[], name);
    (out.stdout, out.stderr)
}

/// What the server saw for `path`: (traceparent, header lines).
fn seen<'a>(stderr: &'a str, path: &str) -> (&'a str, u32) {
    let prefix = format!("seen {path} traceparent=");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no request to {path} in {stderr}"));
    let (tp, lines) = line.split_once(" lines=").unwrap();
    (tp, lines.parse().unwrap())
}

fn agent(receiver: &Receiver, extra: &str) -> String {
    common::java::agent_option(
        agent_jar(),
        receiver,
        &format!("hook.transactions=demo.okhttp.OkApp.request*,service.name=okhttp{extra}"),
    )
}

fn calls_through_agent(jdk: &Path, label: &str, version: u8) {
    let ctx = format!("{label} okhttp{version}");
    let (expected, _) = run(jdk, version, &[], &format!("okhttp{version}-plain-{label}"));
    assert_eq!(
        expected, "calls 200 200 404 200 500 refused\noutside 200\n",
        "{ctx}"
    );

    let receiver = Receiver::start();
    let (out, err) = run(
        jdk,
        version,
        &[agent(&receiver, "")],
        &format!("okhttp{version}-agent-{label}"),
    );
    assert_eq!(out, expected, "{ctx}: output changed under the agent");

    let spans = common::java::received(&receiver);
    let dump = format!("{spans:?}");
    assert!(
        !dump.contains("secret"),
        "{ctx}: a query value or body left"
    );
    let root = common::java::root_named(&spans, "requestCalls", &ctx);
    let steps = common::java::trace_steps(&spans, root);
    assert_eq!(steps.len(), 6, "{ctx}: one step per call: {steps:#?}");
    let statuses: Vec<Option<i64>> = steps
        .iter()
        .map(|s| int_attr(&s.attributes, "http.response.status_code"))
        .collect();
    assert_eq!(
        statuses,
        [Some(200), Some(200), Some(404), Some(200), Some(500), None],
        "{ctx}"
    );
    let failed: Vec<bool> = steps.iter().map(|s| status_code(s) == 2).collect();
    assert_eq!(failed, [false, false, false, false, true, true], "{ctx}");
    for (s, method) in steps.iter().zip(["GET", "POST", "GET", "GET", "GET"]) {
        assert_eq!(s.kind, span::SpanKind::Client as i32);
        assert!(
            s.name.starts_with(&format!("{method} 127.0.0.1:")),
            "{ctx}: {}",
            s.name
        );
    }
    // Each request named its own step; one header line each.
    let trace = hex(&root.trace_id);
    for (i, path) in ["/items", "/orders", "/missing", "/fail"]
        .iter()
        .enumerate()
    {
        let step = steps[if i == 3 { 4 } else { i }];
        let (tp, lines) = seen(&err, path);
        assert_eq!(
            tp,
            format!("00-{trace}-{}-03", hex(&step.span_id)),
            "{ctx}: {path}"
        );
        assert_eq!(lines, 1, "{ctx}: {path}");
    }
    assert_eq!(
        seen(&err, "/own"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1),
        "{ctx}: the application's own traceparent is kept"
    );
    assert_eq!(seen(&err, "/outside"), ("none", 0), "{ctx}");

    let receiver = Receiver::start();
    let (out, err) = run(
        jdk,
        version,
        &[agent(&receiver, ",instrument.okhttp=false")],
        &format!("okhttp{version}-off-{label}"),
    );
    assert_eq!(out, expected, "{ctx}");
    assert_eq!(seen(&err, "/items"), ("none", 0), "{ctx}: switched off");
}

#[test]
fn okhttp_calls_are_steps_carrying_traceparent() {
    for (jdk, label) in jdks() {
        calls_through_agent(&jdk, label, 4);
        calls_through_agent(&jdk, label, 3);
    }
}

const CLIENTS_APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/springclients/demo/springclients",
    files: &["ClientsApp.java"],
    main_class: "demo.springclients.ClientsApp",
    artifacts: SPRING_WEB,
    pom: None,
    name: "jvm-springclients",
};

#[test]
fn rest_template_and_rest_client_calls_are_steps_carrying_traceparent() {
    for (jdk, label) in jdks() {
        let run = |jvm_args: &[String], name: &str| {
            let out = CLIENTS_APP.app().run(&jdk, jvm_args, &[], name);
            (out.stdout, out.stderr)
        };
        let (expected, _) = run(&[], &format!("springclients-plain-{label}"));
        assert_eq!(expected, "template client\n", "{label}");
        let receiver = Receiver::start();
        let agent = common::java::agent_option(
            agent_jar(),
            &receiver,
            "hook.transactions=demo.springclients.ClientsApp.request*",
        );
        let (out, err) = run(&[agent], &format!("springclients-agent-{label}"));
        assert_eq!(out, expected, "{label}: output changed under the agent");
        let spans = common::java::received(&receiver);
        assert!(!format!("{spans:?}").contains("secret"), "{label}");
        let root = common::java::root_named(&spans, "requestBoth", label);
        let mut steps: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id && s.parent_span_id == root.span_id)
            .collect();
        steps.sort_by_key(|s| s.start_time_unix_nano);
        assert_eq!(steps.len(), 2, "{label}: {spans:#?}");
        for (step, path) in steps.iter().zip(["/template", "/client"]) {
            assert_eq!(step.kind, span::SpanKind::Client as i32);
            assert!(
                step.name.starts_with("GET 127.0.0.1:"),
                "{label}: {}",
                step.name
            );
            assert_eq!(
                seen(&err, path),
                (
                    format!("00-{}-{}-03", hex(&root.trace_id), hex(&step.span_id)).as_str(),
                    1
                ),
                "{label}: {path}"
            );
        }
    }
}
