//! Thymeleaf view rendering as a step, end to end: a Spring Boot 3.5 MVC
//! application (`jvm-agent/src/test-app/thymeleaf`, Spring Boot and
//! Thymeleaf from Maven Central through `ffi/tests/thymeleaf-app/pom.xml`)
//! renders Thymeleaf templates under the agent, exporting to a loopback
//! OTLP receiver; no `hook.methods` at all.
//!
//! Proves: inside Spring's `Render <view>` step, Thymeleaf's processing of
//! the template is a step `Thymeleaf <template>` (its fragment included,
//! not a step of its own; no model value anywhere); a template whose
//! expression fails fails its step and the `Render` step around it;
//! `instrument.thymeleaf=false` switches the Thymeleaf step off and leaves
//! the rest; responses are identical with and without the agent. On JDK 17
//! and Temurin 25.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::{PortApp, jdks, received, status_code};
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

const PATHS: [&str; 2] = ["/hello/ann-secret", "/broken"];

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-thymeleaf", &["-DskipTests"])
}

fn libs() -> &'static [PathBuf] {
    static LIBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    LIBS.get_or_init(|| {
        let dir =
            common::stores::maven_dependencies("ffi/tests/thymeleaf-app", "jvm-thymeleaf-libs");
        let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jar"))
            .collect();
        jars.sort();
        jars
    })
}

/// The application's classes with its templates under `templates/`.
fn app_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let classes = common::java::compile_app(
            "jvm-agent/src/test-app/thymeleaf/demo/thymeleaf",
            &["ThymeleafApp.java"],
            libs(),
            "jvm-thymeleaf-classes",
        );
        let templates = common::repo_root().join("jvm-agent/src/test-app/thymeleaf/templates");
        std::fs::create_dir_all(classes.join("templates")).unwrap();
        for entry in std::fs::read_dir(templates).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                classes.join("templates").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
        classes
    })
}

fn start(jdk: &Path, jvm_args: &[String], name: &str) -> PortApp {
    let cmd = common::java::java(
        jdk,
        jvm_args,
        common::java::class_path(app_classes(), libs()),
        "demo.thymeleaf.ThymeleafApp",
        &[],
    );
    PortApp::start(cmd, name)
}

/// Status line and body of each request; the time stamp of Spring Boot's
/// JSON error body is cut off.
fn exercise(app: &PortApp) -> Vec<(String, String)> {
    PATHS
        .iter()
        .map(|p| {
            let (status, body) = common::http_get(app.port, p, "").expect("GET");
            let body = body.split("\"timestamp\"").next().unwrap_or("").to_owned();
            (status, body)
        })
        .collect()
}

/// The spans once every request's SERVER span arrived (bounded wait).
fn spans_with_servers(receiver: &Receiver) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = received(receiver);
        let servers = spans
            .iter()
            .filter(|s| s.kind == span::SpanKind::Server as i32)
            .count();
        if servers >= PATHS.len() || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The steps directly under `parent`, in start order, with whether each
/// failed.
fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    let mut out: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
        .collect();
    out.sort_by_key(|s| s.start_time_unix_nano);
    out
}

fn named(spans: &[&Span]) -> Vec<(String, bool)> {
    spans
        .iter()
        .map(|s| (s.name.clone(), status_code(s) == 2))
        .collect()
}

fn owned(pairs: &[(&str, bool)]) -> Vec<(String, bool)> {
    pairs.iter().map(|(n, f)| (n.to_string(), *f)).collect()
}

fn server_of<'a>(spans: &'a [Span], path: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| {
            s.kind == span::SpanKind::Server as i32
                && str_attr(&s.attributes, "url.path") == Some(path)
        })
        .unwrap_or_else(|| panic!("no SERVER span for {path} in {spans:#?}"))
}

fn run_with(jdk: &Path, label: &str, items: &str, expected: &[(String, String)]) -> Vec<Span> {
    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=service.name=thymeleaf,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50{items}",
        agent_jar().display(),
        receiver.port()
    );
    let app = start(jdk, &[agent], &format!("thymeleaf-{label}"));
    let got = exercise(&app);
    let _ = app.stop();
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    spans_with_servers(&receiver)
}

#[test]
fn thymeleaf_templates_are_steps_inside_the_view_rendering() {
    for (jdk, label) in jdks() {
        let plain = start(&jdk, &[], &format!("thymeleaf-plain-{label}"));
        let expected = exercise(&plain);
        let _ = plain.stop();
        assert!(expected[0].0.contains(" 200"), "{expected:?}");
        assert!(
            expected[0].1.contains("hello ann-secret") && expected[0].1.contains("the footer"),
            "{expected:?}"
        );
        assert!(expected[1].0.contains(" 500"), "{expected:?}");

        let spans = run_with(&jdk, label, "", &expected);
        assert!(
            spans.iter().all(|s| !s.name.contains("ann-secret")),
            "{label}: a model value in a span's name"
        );
        let hello = server_of(&spans, PATHS[0]);
        let steps = children(&spans, hello);
        assert_eq!(
            named(&steps),
            owned(&[("ThymeleafApp.hello", false), ("Render hello", false)]),
            "{label}"
        );
        assert_eq!(
            named(&children(&spans, steps[1])),
            owned(&[("Thymeleaf hello", false)]),
            "{label}: the template inside the view's rendering, its fragment not a step"
        );

        let broken = server_of(&spans, PATHS[1]);
        let steps = children(&spans, broken);
        assert!(steps.len() >= 2, "{label}: {:?}", named(&steps));
        assert_eq!(
            named(&steps[..2]),
            owned(&[("ThymeleafApp.broken", false), ("Render broken", true)]),
            "{label}"
        );
        assert_eq!(
            named(&children(&spans, steps[1])),
            owned(&[("Thymeleaf broken", true)]),
            "{label}"
        );

        let off = run_with(
            &jdk,
            &format!("{label}-off"),
            ",instrument.thymeleaf=false",
            &expected,
        );
        let hello = server_of(&off, PATHS[0]);
        let steps = children(&off, hello);
        assert_eq!(
            named(&steps),
            owned(&[("ThymeleafApp.hello", false), ("Render hello", false)]),
            "{label}: switched off"
        );
        assert!(
            children(&off, steps[1]).is_empty(),
            "{label}: no Thymeleaf step when switched off"
        );
    }
}
