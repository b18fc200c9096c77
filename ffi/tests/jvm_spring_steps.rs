//! Framework steps with no configuration, on the Spring Boot 3 example
//! (`examples/spring-boot`) under the agent against a loopback OTLP
//! receiver: no `hook.methods` at all.
//!
//! Proves: a Spring MVC handler method is a step `Controller.method` of the
//! request's SERVER transaction (`instrument.spring_mvc`); a view the handler
//! chose is rendered in a step `Render <view>` after it (`instrument.views`);
//! a JAX-RS resource method run by Jersey is a step `Resource.method`
//! (`instrument.jaxrs_resources`); a handler that throws fails its step;
//! each switch turns its steps off; responses are identical with and
//! without the agent. On JDK 17 and Temurin 25.

mod common;

use std::path::Path;

use common::java::{PortApp, agent_option, jdks};
use common::spring::responses;
use common::traces::{server_span, spans_with_servers, steps};
use opentelemetry_proto::tonic::trace::v1::Span;
use osprey_testkit::Receiver;

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-spring-steps", &["-DskipTests"])
}

fn start(jdk: &Path, jvm_args: &[String], name: &str) -> PortApp {
    common::spring::start_demo(jdk, jvm_args, "spring-demo-build-steps", name)
}

const PATHS: [&str; 4] = ["/owners/17", "/greeting/ann", "/api/pets/rex", "/fail/7"];

/// The names of the steps under the SERVER span of `path`, in start order,
/// with whether each failed.
fn steps_of(spans: &[Span], path: &str) -> Vec<(String, bool)> {
    common::traces::steps_of(spans, server_span(spans, path))
}

fn run_with(jdk: &Path, label: &str, items: &str, expected: &[(String, String)]) -> Vec<Span> {
    let receiver = Receiver::start();
    let agent = agent_option(
        agent_jar(),
        &receiver,
        &format!("service.name=spring-steps{items}"),
    );
    let got = responses(
        start(jdk, &[agent], &format!("spring-steps-{label}")),
        &PATHS,
    );
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    spans_with_servers(&receiver, &PATHS)
}

#[test]
fn handler_view_and_resource_methods_are_steps() {
    for (jdk, label) in jdks() {
        let expected = responses(
            start(&jdk, &[], &format!("spring-steps-plain-{label}")),
            &PATHS,
        );
        assert_eq!(expected[1].1, "hello ann", "{label}");
        assert_eq!(expected[2].1, "jaxrs pet rex", "{label}");

        let spans = run_with(&jdk, label, "", &expected);
        assert_eq!(
            steps_of(&spans, "/owners/17"),
            steps(&[("Owners.owner", false)]),
            "{label}"
        );
        assert_eq!(
            steps_of(&spans, "/greeting/ann"),
            steps(&[("Greetings.greet", false), ("Render greeting", false)]),
            "{label}"
        );
        assert_eq!(
            steps_of(&spans, "/api/pets/rex"),
            steps(&[("Pets.pet", false)]),
            "{label}"
        );
        assert_eq!(
            steps_of(&spans, "/fail/7"),
            // Spring Boot's error dispatch runs its own handler in the same transaction.
            steps(&[("Misc.fail", true), ("BasicErrorController.error", false)]),
            "{label}"
        );

        let off = run_with(
            &jdk,
            &format!("{label}-off"),
            ",instrument.spring_mvc=false,instrument.views=false,\
             instrument.jaxrs_resources=false",
            &expected,
        );
        for path in PATHS {
            assert_eq!(
                steps_of(&off, path),
                steps(&[]),
                "{label}: {path} switched off"
            );
        }
    }
}
