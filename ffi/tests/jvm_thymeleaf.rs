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

use std::path::Path;
use std::sync::OnceLock;

use common::java::{AppSpec, PortApp, TestApp, agent_option, jdks};
use common::spring::responses;
use common::traces::{children, outline, server_span, spans_with_servers, steps};
use opentelemetry_proto::tonic::trace::v1::Span;
use osprey_testkit::Receiver;

const PATHS: [&str; 2] = ["/hello/ann-secret", "/broken"];

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-thymeleaf", &["-DskipTests"])
}

const APP: AppSpec = AppSpec {
    src: "jvm-agent/src/test-app/thymeleaf/demo/thymeleaf",
    files: &["ThymeleafApp.java"],
    main_class: "demo.thymeleaf.ThymeleafApp",
    artifacts: &[],
    pom: Some("ffi/tests/thymeleaf-app"),
    name: "jvm-thymeleaf",
};

/// The application, its templates copied under `templates/` of its classes.
fn app() -> &'static TestApp {
    static APP_WITH_TEMPLATES: OnceLock<&'static TestApp> = OnceLock::new();
    APP_WITH_TEMPLATES.get_or_init(|| {
        let app = APP.app();
        let templates = common::repo_root().join("jvm-agent/src/test-app/thymeleaf/templates");
        std::fs::create_dir_all(app.classes.join("templates")).unwrap();
        for entry in std::fs::read_dir(templates).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                app.classes
                    .join("templates")
                    .join(path.file_name().unwrap()),
            )
            .unwrap();
        }
        app
    })
}

fn start(jdk: &Path, jvm_args: &[String], name: &str) -> PortApp {
    app().start(jdk, jvm_args, name)
}

fn run_with(jdk: &Path, label: &str, items: &str, expected: &[(String, String)]) -> Vec<Span> {
    let receiver = Receiver::start();
    let agent = agent_option(
        agent_jar(),
        &receiver,
        &format!("service.name=thymeleaf{items}"),
    );
    let got = responses(start(jdk, &[agent], &format!("thymeleaf-{label}")), &PATHS);
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    spans_with_servers(&receiver, &PATHS)
}

#[test]
fn thymeleaf_templates_are_steps_inside_the_view_rendering() {
    for (jdk, label) in jdks() {
        let expected = responses(
            start(&jdk, &[], &format!("thymeleaf-plain-{label}")),
            &PATHS,
        );
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
        let hello = server_span(&spans, PATHS[0]);
        let under = children(&spans, hello);
        assert_eq!(
            outline(&under),
            steps(&[("ThymeleafApp.hello", false), ("Render hello", false)]),
            "{label}"
        );
        assert_eq!(
            outline(&children(&spans, under[1])),
            steps(&[("Thymeleaf hello", false)]),
            "{label}: the template inside the view's rendering, its fragment not a step"
        );

        let broken = server_span(&spans, PATHS[1]);
        let under = children(&spans, broken);
        assert!(under.len() >= 2, "{label}: {:?}", outline(&under));
        assert_eq!(
            outline(&under[..2]),
            steps(&[("ThymeleafApp.broken", false), ("Render broken", true)]),
            "{label}"
        );
        assert_eq!(
            outline(&children(&spans, under[1])),
            steps(&[("Thymeleaf broken", true)]),
            "{label}"
        );

        let off = run_with(
            &jdk,
            &format!("{label}-off"),
            ",instrument.thymeleaf=false",
            &expected,
        );
        let hello = server_span(&off, PATHS[0]);
        let under = children(&off, hello);
        assert_eq!(
            outline(&under),
            steps(&[("ThymeleafApp.hello", false), ("Render hello", false)]),
            "{label}: switched off"
        );
        assert!(
            children(&off, under[1]).is_empty(),
            "{label}: no Thymeleaf step when switched off"
        );
    }
}
