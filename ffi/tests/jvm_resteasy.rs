//! JAX-RS on RESTEasy, end to end: the WildFly 39 distribution (jakarta,
//! RESTEasy 6) and the WildFly 26 distribution (javax, RESTEasy 4: the
//! generation of JBoss EAP 7) each run a second WAR, `rest.war`
//! (`jvm-agent/src/test-app/rest`: a JAX-RS application at `/api` with URI
//! templates, one with a regular expression, and a resource method that
//! throws; for WildFly 26 its `jakarta.ws.rs` imports renamed to
//! `javax.ws.rs`), hot-deployed next to the demo WAR, with the agent added
//! the way a user adds it, exporting to a loopback OTLP receiver.
//!
//! Proves: each request is one SERVER span named `GET <route>` from the
//! matched `@Path` templates with the context and application paths
//! (`GET /rest/api/pets/{id}`, the regular expression left out), with
//! `http.route` the route and `url.path` the raw path; the resource method
//! is its step `Pets.method`, failed when it throws; `instrument.jaxrs=false`
//! and `instrument.jaxrs_resources=false` switch each off; the responses are
//! the same with and without the agent. WildFly 39 on JDK 17 and Temurin
//! 25; WildFly 26 on JDK 17 (it supports JDK 11 and 17).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use common::java::{agent_option, java_home, jdks};
use common::servers::{Kind, Server};
use common::traces::{server_span, spans_with_servers, steps, steps_of};
use opentelemetry_proto::tonic::trace::v1::Span;
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

/// `rest.war` for `kind`'s JAX-RS generation (the sources renamed to
/// `javax.ws.rs` for a javax server), compiled with JDK 17 against the
/// server's own JAX-RS API jar; built once per kind.
fn rest_war(kind: Kind) -> PathBuf {
    static WARS: Mutex<Vec<(Kind, PathBuf)>> = Mutex::new(Vec::new());
    let mut wars = WARS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, war)) = wars.iter().find(|(k, _)| *k == kind) {
        return war.clone();
    }
    let generation = if kind.javax() { "javax" } else { "jakarta" };
    let api = common::servers::module_jar(kind, &format!("{generation}/ws/rs/api"));
    let build =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("jvm-rest-war-{}", kind.label()));
    let _ = std::fs::remove_dir_all(&build);
    let src_dir = build.join("src");
    std::fs::create_dir_all(&src_dir).unwrap();
    let original = common::repo_root().join("jvm-agent/src/test-app/rest/demo/rest");
    let sources: Vec<PathBuf> = ["RestApp.java", "Pets.java"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(original.join(f)).unwrap();
            let out = src_dir.join(f);
            std::fs::write(&out, kind.source_for(&text)).unwrap();
            out
        })
        .collect();
    let options: Vec<std::ffi::OsString> = ["--release", "17", "-nowarn", "-cp"]
        .map(Into::into)
        .into_iter()
        .chain([api.into_os_string()])
        .collect();
    let staging = build.join("staging");
    common::java::javac(
        &java_home(),
        &options,
        &staging.join("WEB-INF/classes"),
        &sources,
    );
    let war = build.join("rest.war");
    common::java::jar(&staging, &war);
    wars.push((kind, war.clone()));
    war
}

/// Starts `kind` with `jvm_options`, then deploys `rest.war` on it and
/// waits until it answers.
fn start(kind: Kind, jdk: &Path, jvm_options: &str, name: &str) -> Server {
    let server = Server::start(kind, jdk, jvm_options, &[], name);
    server.deploy(&rest_war(kind), "/rest/api/pets/1");
    server
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

fn run_with(
    kind: Kind,
    jdk: &Path,
    label: &str,
    items: &str,
    expected: &[(String, String)],
) -> Vec<Span> {
    let receiver = Receiver::start();
    let agent = agent_option(
        agent_jar(),
        &receiver,
        &format!("service.name=resteasy{items}"),
    );
    let name = format!("resteasy-{}-agent-{label}", kind.label());
    let server = start(kind, jdk, &agent, &name);
    let got = exercise(&server);
    let output = server.stop();
    assert_eq!(got, expected, "{name}: responses changed by the agent");
    let complaints: Vec<&str> = output.lines().filter(|l| l.contains("osprey:")).collect();
    assert!(complaints.is_empty(), "{name}: {complaints:?}");
    spans_with_servers(&receiver, &PATHS)
}

/// The routes and resource-method steps of `kind` on `jdk`, then both
/// switched off.
fn routes_and_resource_steps(kind: Kind, jdk: &Path, jdk_label: &str) {
    let label = format!("{}-{jdk_label}", kind.label());
    let plain = start(kind, jdk, "", &format!("resteasy-plain-{label}"));
    let expected = exercise(&plain);
    plain.stop();
    assert_eq!(expected[0].1, "pet 7", "{label}: {expected:?}");
    assert_eq!(expected[1].1, "pet 9 toy ball", "{label}: {expected:?}");
    assert!(expected[2].0.contains(" 500"), "{label}: {expected:?}");

    let spans = run_with(kind, jdk, jdk_label, "", &expected);
    for (path, (route, step, failed)) in PATHS.iter().zip(WANT) {
        let root = server_span(&spans, path);
        assert_eq!(root.name, format!("GET {route}"), "{label}");
        assert_eq!(
            str_attr(&root.attributes, "http.route"),
            Some(route),
            "{label}"
        );
        assert_eq!(
            str_attr(&root.attributes, "url.path"),
            Some(*path),
            "{label}"
        );
        assert_eq!(
            steps_of(&spans, root),
            steps(&[(step, failed)]),
            "{label}: {path}"
        );
    }

    let off = run_with(
        kind,
        jdk,
        &format!("{jdk_label}-off"),
        ",instrument.jaxrs=false,instrument.jaxrs_resources=false",
        &expected,
    );
    for (path, (route, _, _)) in PATHS.iter().zip(WANT) {
        let root = server_span(&off, path);
        // Named by the servlet mapping or the normalised path instead.
        assert_ne!(root.name, format!("GET {route}"), "{label}: switched off");
        assert_ne!(str_attr(&root.attributes, "http.route"), Some(route));
        assert_eq!(steps_of(&off, root), steps(&[]), "{label}: {path}");
    }
}

#[test]
fn resteasy_on_wildfly_routes_and_resource_steps() {
    for (jdk, label) in jdks() {
        routes_and_resource_steps(Kind::WildFly, &jdk, label);
    }
}

/// RESTEasy 4 (javax.ws.rs) on WildFly 26. JDK 17 only: WildFly 26
/// supports JDK 11 and 17.
#[test]
fn resteasy_4_on_wildfly_26_javax_routes_and_resource_steps() {
    routes_and_resource_steps(Kind::WildFly26, &java_home(), "jdk17");
}
