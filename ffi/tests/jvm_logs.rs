//! Log correlation, end to end: `LogsApp`
//! (`jvm-agent/src/test-app/logs/demo/logs`) logs through Logback 1.5
//! (SLF4J), Log4j 2.24 and `java.util.logging` with patterns printing
//! `%X{trace_id}` / `%X{span_id}` (JUL through the agent's `JulFormatter`),
//! outside any transaction, in a transaction (`hook.transactions`) and in a
//! step of it, under the agent exporting to a loopback OTLP receiver.
//!
//! Proves: inside the transaction each library's line carries the exported
//! trace id and the span id of the transaction, then of the step the line
//! was logged in; outside, the ids are empty. On JDK 17 and Temurin 25.

mod common;

use std::path::Path;
use std::time::Duration;

use common::java::{AppSpec, jdks};
use osprey_testkit::Receiver;
use osprey_testkit::spans::hex;

const ARTIFACTS: &[(&str, &str)] = &[
    ("org.slf4j:slf4j-api:2.0.17", "slf4j-api-2.0.17.jar"),
    (
        "ch.qos.logback:logback-classic:1.5.20",
        "logback-classic-1.5.20.jar",
    ),
    (
        "ch.qos.logback:logback-core:1.5.20",
        "logback-core-1.5.20.jar",
    ),
    (
        "org.apache.logging.log4j:log4j-api:2.24.3",
        "log4j-api-2.24.3.jar",
    ),
    (
        "org.apache.logging.log4j:log4j-core:2.24.3",
        "log4j-core-2.24.3.jar",
    ),
];

const APP: &str = "jvm-agent/src/test-app/logs/demo/logs";

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-logs", &["-DskipTests"])
}

const LOGS_APP: AppSpec = AppSpec {
    src: APP,
    files: &["LogsApp.java"],
    main_class: "demo.logs.LogsApp",
    artifacts: ARTIFACTS,
    pom: None,
    name: "jvm-logs",
};

/// `(library, where) -> (trace, span)` from lines `<lib> <where> trace=<t> span=<s>`.
fn ids(text: &str) -> Vec<(String, String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let (head, rest) = l.split_once(" trace=")?;
            let (trace, span) = rest.split_once(" span=")?;
            let (lib, place) = head.split_once(' ')?;
            Some((lib.into(), place.into(), trace.into(), span.trim().into()))
        })
        .collect()
}

fn logs_through_agent(jdk: &Path, label: &str) {
    let receiver = Receiver::start();
    let conf = common::repo_root().join(APP);
    let args = vec![
        common::java::agent_option(
            agent_jar(),
            &receiver,
            "hook.methods=demo.logs.LogsApp.step,hook.transactions=demo.logs.LogsApp.request,service.name=logs",
        ),
        format!(
            "-Dlogback.configurationFile={}",
            conf.join("logback.xml").display()
        ),
        format!(
            "-Dlog4j2.configurationFile={}",
            conf.join("log4j2.xml").display()
        ),
        format!(
            "-Djava.util.logging.config.file={}",
            conf.join("logging.properties").display()
        ),
    ];
    let out = LOGS_APP
        .app()
        .run(jdk, &args, &[], &format!("logs-{label}"));
    let lines = ids(&format!("{}\n{}", out.stdout, out.stderr));
    assert_eq!(lines.len(), 9, "{label}: {}\n{}", out.stdout, out.stderr);

    let spans = common::java::spans_at_least(&receiver, 2, Duration::from_secs(10));
    let txn = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .unwrap_or_else(|| panic!("{label}: the transaction: {spans:?}"));
    let step = spans
        .iter()
        .find(|s| s.parent_span_id == txn.span_id)
        .unwrap_or_else(|| panic!("{label}: the step: {spans:?}"));
    let trace = hex(&txn.trace_id);
    for lib in ["logback", "log4j", "jul"] {
        let at = |place: &str| {
            lines
                .iter()
                .find(|(l, p, _, _)| l == lib && p == place)
                .map(|(_, _, t, s)| (t.clone(), s.clone()))
                .unwrap_or_else(|| panic!("{label}: {lib} {place}: {lines:?}"))
        };
        assert_eq!(
            at("outside"),
            (String::new(), String::new()),
            "{label}: {lib}"
        );
        assert_eq!(
            at("request"),
            (trace.clone(), hex(&txn.span_id)),
            "{label}: {lib}"
        );
        assert_eq!(
            at("step"),
            (trace.clone(), hex(&step.span_id)),
            "{label}: {lib}"
        );
    }
}

#[test]
fn logback_log4j_and_jul_lines_carry_the_trace_and_span_ids() {
    for (jdk, label) in jdks() {
        logs_through_agent(&jdk, label);
    }
}
