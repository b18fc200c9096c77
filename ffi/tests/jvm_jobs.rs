//! Entry points beyond HTTP, end to end: `JobsApp`
//! (`jvm-agent/src/test-app/jobs/demo/jobs`) under the agent runs a Spring
//! `@Scheduled` method (Spring Framework 6.2, no Boot) and a Quartz 2.5 job
//! three times each, exporting to a loopback OTLP receiver, with only
//! `hook.methods` naming the `work` method both call.
//!
//! Proves: each run is a transaction of its own, named `Reports.refresh`
//! and `CleanupJob.execute`, with `work` as its step; the `@Scheduled` run
//! that throws is a failed transaction; runs that do no work are still
//! transactions but none holds another's step; `instrument.spring_scheduled`
//! and `instrument.quartz` set to `false` switch them off; the output is the
//! same with and without the agent. On JDK 17 and Temurin 25.

mod common;

use std::path::Path;
use std::time::Duration;

use common::java::{AppSpec, jdks, status_code};
use opentelemetry_proto::tonic::trace::v1::Span;
use osprey_testkit::Receiver;

const ARTIFACTS: &[(&str, &str)] = &[
    (
        "org.springframework:spring-context:6.2.19",
        "spring-context-6.2.19.jar",
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
        "org.springframework:spring-aop:6.2.19",
        "spring-aop-6.2.19.jar",
    ),
    (
        "org.springframework:spring-expression:6.2.19",
        "spring-expression-6.2.19.jar",
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
    ("org.quartz-scheduler:quartz:2.5.2", "quartz-2.5.2.jar"),
    ("org.slf4j:slf4j-api:2.0.16", "slf4j-api-2.0.16.jar"),
];

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-jobs", &["-DskipTests"])
}

const APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/jobs/demo/jobs",
    files: &["JobsApp.java"],
    main_class: "demo.jobs.JobsApp",
    artifacts: ARTIFACTS,
    pom: None,
    name: "jvm-jobs",
};

fn run(jdk: &Path, jvm_args: &[String], name: &str) -> String {
    APP.app().run(jdk, jvm_args, &[], name).stdout
}

/// Runs under the agent with `extra` options; the spans received once the
/// process ended (it flushes at shutdown).
fn traced(jdk: &Path, label: &str, extra: &str, expected: &str) -> Vec<Span> {
    let receiver = Receiver::start();
    let agent = common::java::agent_option(
        agent_jar(),
        &receiver,
        &format!("hook.methods=demo.jobs.JobsApp.work,service.name=jobs{extra}"),
    );
    let out = run(jdk, &[agent], &format!("jobs-agent-{label}"));
    assert_eq!(out, expected, "{label}: output changed under the agent");
    // Everything was flushed at shutdown; give the receiver a moment to
    // have decoded the last request.
    common::java::spans_settled(&receiver, Duration::from_secs(5))
}

fn transactions_named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    let mut v: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty() && s.name == name)
        .collect();
    v.sort_by_key(|s| s.start_time_unix_nano);
    v
}

fn steps_of<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
        .collect()
}

#[test]
fn scheduled_methods_and_quartz_jobs_are_transactions() {
    for (jdk, label) in jdks() {
        let expected = run(&jdk, &[], &format!("jobs-plain-{label}"));
        assert_eq!(expected, "spring true\nquartz true\n", "{label}");

        let spans = traced(&jdk, label, "", &expected);
        let spring = transactions_named(&spans, "Reports.refresh");
        let working: Vec<&&Span> = spring
            .iter()
            .filter(|t| !steps_of(&spans, t).is_empty())
            .collect();
        assert_eq!(working.len(), 3, "{label}: {spans:#?}");
        for (i, t) in working.iter().enumerate() {
            let steps = steps_of(&spans, t);
            assert_eq!(steps.len(), 1, "{label}: {steps:#?}");
            assert!(steps[0].name.contains("JobsApp.work"), "{label}: {steps:?}");
            assert_eq!(steps[0].parent_span_id, t.span_id);
            assert_eq!(
                status_code(t) == 2,
                i == 2,
                "{label}: only the third run failed: {t:?}"
            );
        }
        let quartz = transactions_named(&spans, "CleanupJob.execute");
        assert_eq!(quartz.len(), 3, "{label}: {spans:#?}");
        for t in &quartz {
            let steps = steps_of(&spans, t);
            assert_eq!(steps.len(), 1, "{label}: {steps:#?}");
            assert!(steps[0].name.contains("JobsApp.work"));
            assert_eq!(status_code(t), 0, "{label}: {t:?}");
        }

        // Switched off: no transactions, so the hooked method records nothing.
        let off = traced(
            &jdk,
            &format!("{label}-off"),
            ",instrument.spring_scheduled=false,instrument.quartz=false",
            &expected,
        );
        assert!(
            off.iter()
                .all(|s| !s.name.contains("refresh") && !s.name.contains("execute")),
            "{label}: {off:#?}"
        );
    }
}
