//! JAX-RS on RESTEasy, end to end: the WildFly 39 distribution (RESTEasy 6)
//! runs a second WAR, `rest.war` (`jvm-agent/src/test-app/rest`: a JAX-RS
//! application at `/api` with URI templates, one with a regular expression,
//! and a resource method that throws), hot-deployed next to the demo WAR,
//! with the agent added the way a user adds it, exporting to a loopback
//! OTLP receiver.
//!
//! Proves: each request is one SERVER span named `GET <route>` from the
//! matched `@Path` templates with the context and application paths
//! (`GET /rest/api/pets/{id}`, the regular expression left out), with
//! `http.route` the route and `url.path` the raw path; the resource method
//! is its step `Pets.method`, failed when it throws; `instrument.jaxrs=false`
//! and `instrument.jaxrs_resources=false` switch each off; the responses are
//! the same with and without the agent. On JDK 17 and Temurin 25.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::{jdks, received, status_code};
use common::servers::{Kind, Server};
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

const PATHS: [&str; 3] = [
    "/rest/api/pets/7",
    "/rest/api/pets/9/toys/ball",
    "/rest/api/pets/3/fail",
];

/// Per path: the route, the resource method's step and whether it fails.
const WANT: [(&str, &str, bool); 3] = [
    ("/rest/api/pets/{id}", "Pets.pet", false),
    ("/rest/api/pets/{id}/toys/{toy}", "Pets.toy", false),
    ("/rest/api/pets/{id}/fail", "Pets.fail", true),
];

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-resteasy", &["-DskipTests"])
}

/// `rest.war`, compiled with JDK 17 against WildFly's own JAX-RS API jar.
fn rest_war() -> &'static Path {
    static WAR: OnceLock<PathBuf> = OnceLock::new();
    WAR.get_or_init(|| {
        let api_dir = common::servers::home(Kind::WildFly)
            .join("modules/system/layers/base/jakarta/ws/rs/api/main");
        let api = std::fs::read_dir(&api_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "jar"))
            .expect("WildFly's jakarta.ws.rs API jar");
        let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jvm-rest-war");
        let _ = std::fs::remove_dir_all(&build);
        let staging = build.join("staging");
        let src = common::repo_root().join("jvm-agent/src/test-app/rest/demo/rest");
        let sources: Vec<PathBuf> = ["RestApp.java", "Pets.java"]
            .iter()
            .map(|f| src.join(f))
            .collect();
        let options: Vec<std::ffi::OsString> = ["--release", "17", "-nowarn", "-cp"]
            .map(Into::into)
            .into_iter()
            .chain([api.into_os_string()])
            .collect();
        common::java::javac(
            &common::java::java_home(),
            &options,
            &staging.join("WEB-INF/classes"),
            &sources,
        );
        let war = build.join("rest.war");
        let status = std::process::Command::new(common::java::java_home().join("bin/jar"))
            .arg("cf")
            .arg(&war)
            .arg("-C")
            .arg(&staging)
            .arg(".")
            .status()
            .expect("jar runs");
        assert!(status.success(), "building rest.war");
        war
    })
}

/// Starts WildFly with `jvm_options`, then hot-deploys `rest.war` into the
/// server's deployments directory (under the base directory
/// `Server::start` made for `name`) and waits until it answers.
fn start(jdk: &Path, jvm_options: &str, name: &str) -> Server {
    let server = Server::start(Kind::WildFly, jdk, jvm_options, &[], name);
    let deployments = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ffi-runs")
        .join(format!("{name}-{}", std::process::id()))
        .join("standalone/deployments");
    assert!(deployments.is_dir(), "{}", deployments.display());
    // Copied beside, then renamed: the scanner never sees half a WAR.
    let part = deployments.join("rest.war.part");
    std::fs::copy(rest_war(), &part).unwrap();
    std::fs::rename(&part, deployments.join("rest.war")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some((status, _)) = common::http_get(server.port, "/rest/api/pets/1", "")
            && status.contains(" 200")
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: rest.war not deployed within two minutes:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Status lines, and bodies of the successful requests (an error page
/// differs from run to run).
fn exercise(server: &Server) -> Vec<(String, String)> {
    PATHS
        .iter()
        .map(|p| {
            let (status, body) = server.get(p, "");
            if status.contains(" 200") {
                (status, body)
            } else {
                (status, String::new())
            }
        })
        .collect()
}

/// The spans once every request's SERVER span arrived (bounded wait).
fn server_spans(receiver: &Receiver) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = received(receiver);
        let done = PATHS.iter().all(|p| {
            spans.iter().any(|s| {
                s.kind == span::SpanKind::Server as i32
                    && str_attr(&s.attributes, "url.path") == Some(p)
            })
        });
        if done || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// The names of the steps directly under `root`, in start order, with
/// whether each failed.
fn steps_of(spans: &[Span], root: &Span) -> Vec<(String, bool)> {
    let mut steps: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id && s.parent_span_id == root.span_id)
        .collect();
    steps.sort_by_key(|s| s.start_time_unix_nano);
    steps
        .iter()
        .map(|s| (s.name.clone(), status_code(s) == 2))
        .collect()
}

fn run_with(jdk: &Path, label: &str, items: &str, expected: &[(String, String)]) -> Vec<Span> {
    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=exporter=otlp,otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,\
         service.name=resteasy{items}",
        agent_jar().display(),
        receiver.port()
    );
    let name = format!("resteasy-agent-{label}");
    let server = start(jdk, &agent, &name);
    let got = exercise(&server);
    let output = server.stop();
    assert_eq!(got, expected, "{name}: responses changed by the agent");
    let complaints: Vec<&str> = output.lines().filter(|l| l.contains("osprey:")).collect();
    assert!(complaints.is_empty(), "{name}: {complaints:?}");
    server_spans(&receiver)
}

#[test]
fn resteasy_on_wildfly_routes_and_resource_steps() {
    for (jdk, label) in jdks() {
        let plain = start(&jdk, "", &format!("resteasy-plain-{label}"));
        let expected = exercise(&plain);
        plain.stop();
        assert_eq!(expected[0].1, "pet 7", "{expected:?}");
        assert_eq!(expected[1].1, "pet 9 toy ball", "{expected:?}");
        assert!(expected[2].0.contains(" 500"), "{expected:?}");

        let spans = run_with(&jdk, label, "", &expected);
        for (path, (route, step, failed)) in PATHS.iter().zip(WANT) {
            let root = server_of(&spans, path);
            assert_eq!(root.name, format!("GET {route}"), "{label}");
            assert_eq!(str_attr(&root.attributes, "http.route"), Some(route));
            assert_eq!(
                steps_of(&spans, root),
                vec![(step.to_owned(), failed)],
                "{label}: {path}"
            );
        }

        let off = run_with(
            &jdk,
            &format!("{label}-off"),
            ",instrument.jaxrs=false,instrument.jaxrs_resources=false",
            &expected,
        );
        for (path, (route, _, _)) in PATHS.iter().zip(WANT) {
            let root = server_of(&off, path);
            // Named by the servlet mapping or the normalised path instead.
            assert_ne!(root.name, format!("GET {route}"), "{label}: switched off");
            assert_ne!(str_attr(&root.attributes, "http.route"), Some(route));
            assert_eq!(steps_of(&off, root), Vec::new(), "{label}: {path}");
        }
    }
}
