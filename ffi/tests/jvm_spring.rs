//! Route naming on a real Spring Boot 3 application (`examples/spring-boot`:
//! Spring MVC on embedded Tomcat, built here with Maven from Maven Central)
//! run with `-javaagent:` against the loopback OTLP/HTTP receiver.
//!
//! Proves: a request Spring MVC handles is named `METHOD <best-matching
//! pattern>` (`GET /owners/{ownerId}/pets/{petId}`) with `http.route` set
//! to the pattern and the raw path kept in `url.path` (under the servlet's
//! prefix when the `DispatcherServlet` is mapped by one, `/mvc/*`); a failing handler
//! keeps its route (Spring Boot's `/error` dispatch does not rename it); a
//! JAX-RS resource (Jersey in a servlet at `/api/*`) is named by its
//! matched `@Path` templates (`GET /api/pets/{petId}/toys/{toyId}`); a
//! servlet mapped by path prefix is named by its mapping (`GET
//! /legacy/*`); a path no framework names is normalised (numbers, UUIDs,
//! long hex ids → `{id}`, the user's `url.normalize=/files/*` first) and
//! gets no `http.route`; past `http.endpoints.max` distinct names a new
//! name becomes `METHOD other`, counted in the `osprey.endpoints.overflow`
//! metric; responses are identical with and without the agent. On JDK 17
//! and Temurin 25.
//!
//! Set `OSPREY_AGENT_JAR` to test a prebuilt agent jar.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::java::{PortApp, jdks, received};
use common::spring::without_timestamp;
use common::traces::server_span;
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use osprey_testkit::Receiver;
use osprey_testkit::spans::str_attr;

fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-spring", &["-DskipTests"])
}

fn start(jdk: &Path, jvm_args: &[String], name: &str) -> PortApp {
    common::spring::start_demo(jdk, jvm_args, "spring-demo-build", name)
}

const UUID: &str = "123e4567-e89b-12d3-a456-426614174000";

/// The requests, in order: (method, path).
fn requests() -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/owners/17".to_owned()),
        ("GET", "/owners/18".to_owned()),
        ("GET", "/owners/17/pets/rex".to_owned()),
        ("POST", "/owners/17/visits".to_owned()),
        ("GET", "/hello".to_owned()),
        ("GET", "/fail/7".to_owned()),
        ("GET", "/legacy/a/b".to_owned()),
        ("GET", "/nothing/42".to_owned()),
        ("GET", format!("/nothing/{UUID}")),
        (
            "GET",
            "/blobs/9f86d081884c7d659a2feaa0c55ad015/raw".to_owned(),
        ),
        ("GET", "/files/a/b.txt".to_owned()),
        ("GET", "/api/pets/rex".to_owned()),
        ("GET", "/api/pets/rex/toys/3".to_owned()),
    ]
}

/// Status line and body of each request; the time stamp of Spring Boot's
/// JSON error bodies is left out (it differs from run to run).
fn exercise(app: &PortApp) -> Vec<(String, String)> {
    requests()
        .into_iter()
        .map(|(method, path)| {
            let (status, body) = send(app.port, method, &path);
            (status, without_timestamp(&body))
        })
        .collect()
}

/// One HTTP/1.1 request (GET through the shared helper; POST by hand).
fn send(port: u16, method: &str, path: &str) -> (String, String) {
    if method == "GET" {
        return common::http_get(port, path, "").expect("GET");
    }
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    // Chunked bodies: keep the text lines that are not chunk sizes.
    let body = body
        .lines()
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c.is_ascii_hexdigit()))
        .collect::<Vec<_>>()
        .join("\n");
    (status, body)
}

fn agent_arg(receiver: &Receiver, items: &str) -> String {
    common::java::agent_option(
        agent_jar(),
        receiver,
        &format!("service.name=spring-demo,inspector.interval_ms=100,inspector.delay_ms=0{items}"),
    )
}

/// Waits (bounded) for `n` SERVER spans.
fn server_spans(receiver: &Receiver, n: usize) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans: Vec<Span> = received(receiver)
            .into_iter()
            .filter(|s| s.kind == span::SpanKind::Server as i32)
            .collect();
        if spans.len() >= n || Instant::now() >= deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last value of the integer metric `name` (waits, bounded, for `want`).
fn metric_value(receiver: &Receiver, name: &str, want: i64) -> Option<i64> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let last = receiver
            .metrics()
            .into_iter()
            .flat_map(|r| r.resource_metrics)
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .filter(|m| m.name == name)
            .flat_map(|m| match m.data {
                Some(metric::Data::Gauge(g)) => g.data_points,
                Some(metric::Data::Sum(s)) => s.data_points,
                _ => Vec::new(),
            })
            .filter_map(|p| match p.value {
                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                    i,
                )) => Some(i),
                Some(
                    opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d),
                ) => Some(d as i64),
                None => None,
            })
            .next_back();
        if last == Some(want) || Instant::now() >= deadline {
            return last;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn routes_on_spring(jdk: &Path, label: &str) {
    let plain = start(jdk, &[], &format!("spring-plain-{label}"));
    let expected = exercise(&plain);
    let _ = plain.stop();
    assert!(
        expected[2].0.contains(" 200") && expected[2].1.contains("pet rex of 17"),
        "{expected:?}"
    );
    assert!(expected[5].0.contains(" 500"), "{expected:?}");
    assert!(expected[6].1.contains("legacy /a/b"), "{expected:?}");
    assert!(expected[7].0.contains(" 404"), "{expected:?}");
    assert!(
        expected[12].1.contains("jaxrs toy 3 of rex"),
        "{expected:?}"
    );

    let receiver = Receiver::start();
    let args = vec![agent_arg(&receiver, ",url.normalize=/files/*")];
    let name = format!("spring-agent-{label}");
    let app = start(jdk, &args, &name);
    let got = exercise(&app);
    let (_, stderr) = app.stop();
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    assert!(
        !stderr.lines().any(|l| l.starts_with("osprey:")),
        "{label}: {stderr}"
    );

    // One SERVER span per request (and /exit).
    let spans = server_spans(&receiver, requests().len() + 1);
    let expect = |path: &str, name: &str, route: Option<&str>| {
        let s = server_span(&spans, path);
        assert_eq!(s.name, name, "{label}: {path}");
        assert_eq!(
            str_attr(&s.attributes, "http.route"),
            route,
            "{label}: http.route of {path}"
        );
    };
    expect(
        "/owners/17",
        "GET /owners/{ownerId}",
        Some("/owners/{ownerId}"),
    );
    expect(
        "/owners/18",
        "GET /owners/{ownerId}",
        Some("/owners/{ownerId}"),
    );
    let pets = "/owners/{ownerId}/pets/{petId}";
    expect("/owners/17/pets/rex", &format!("GET {pets}"), Some(pets));
    expect(
        "/owners/17/visits",
        "POST /owners/{ownerId}/visits",
        Some("/owners/{ownerId}/visits"),
    );
    expect("/hello", "GET /hello", Some("/hello"));
    expect("/fail/7", "GET /fail/{code}", Some("/fail/{code}"));
    expect("/legacy/a/b", "GET /legacy/*", Some("/legacy/*"));
    expect("/nothing/42", "GET /nothing/{id}", None);
    expect(&format!("/nothing/{UUID}"), "GET /nothing/{id}", None);
    expect(
        "/blobs/9f86d081884c7d659a2feaa0c55ad015/raw",
        "GET /blobs/{id}/raw",
        None,
    );
    expect("/files/a/b.txt", "GET /files/*", None);
    // JAX-RS (Jersey in a servlet at /api/*): the matched @Path templates.
    expect(
        "/api/pets/rex",
        "GET /api/pets/{petId}",
        Some("/api/pets/{petId}"),
    );
    let toys = "/api/pets/{petId}/toys/{toyId}";
    expect("/api/pets/rex/toys/3", &format!("GET {toys}"), Some(toys));
    assert_eq!(
        spans.len(),
        requests().len() + 1,
        "{label}: one span per request"
    );

    // The DispatcherServlet mapped by a path prefix (spring.mvc.servlet.path):
    // Spring's pattern is within the mapping, the route is under it.
    let receiver = Receiver::start();
    let args = vec![
        agent_arg(&receiver, ""),
        "-Dspring.mvc.servlet.path=/mvc".to_owned(),
    ];
    let app = start(jdk, &args, &format!("spring-prefix-{label}"));
    let (status, body) = send(app.port, "GET", "/mvc/owners/5");
    assert!(
        status.contains(" 200") && body.contains("owner 5"),
        "{status} {body}"
    );
    // Exported within the batch delay; /exit is under /mvc too, so the JVM is
    // just ended once the span is in.
    let spans = server_spans(&receiver, 1);
    drop(app);
    let owner = server_span(&spans, "/mvc/owners/5");
    assert_eq!(owner.name, "GET /mvc/owners/{ownerId}", "{label}");
    assert_eq!(
        str_attr(&owner.attributes, "http.route"),
        Some("/mvc/owners/{ownerId}")
    );

    // The cap: 3 distinct names, then `METHOD other`, counted.
    let receiver = Receiver::start();
    let args = vec![agent_arg(&receiver, ",http.endpoints.max=3")];
    let name = format!("spring-cap-{label}");
    let app = start(jdk, &args, &name);
    for path in [
        "/owners/1",
        "/owners/1/pets/a",
        "/hello",
        "/owners/2",
        "/legacy/x",
        "/fail/1",
    ] {
        let _ = send(app.port, "GET", path);
    }
    let _ = send(app.port, "POST", "/owners/3/visits");
    let overflow = metric_value(&receiver, "osprey.endpoints.overflow", 3);
    let admitted = metric_value(&receiver, "osprey.endpoints", 3);
    let _ = app.stop();
    assert_eq!(
        overflow,
        Some(3),
        "{label}: overflowed transactions counted"
    );
    assert_eq!(admitted, Some(3), "{label}: distinct names");
    let spans = server_spans(&receiver, 8);
    let name_of = |path: &str| server_span(&spans, path).name.clone();
    assert_eq!(
        name_of("/owners/2"),
        "GET /owners/{ownerId}",
        "{label}: a known name stays"
    );
    assert_eq!(name_of("/legacy/x"), "GET other");
    assert_eq!(name_of("/fail/1"), "GET other");
    assert_eq!(name_of("/owners/3/visits"), "POST other");
    assert!(
        spans
            .iter()
            .filter(|s| s.name.ends_with(" other"))
            .all(|s| str_attr(&s.attributes, "http.route").is_none()),
        "{label}: no http.route on an overflowed name"
    );
}

#[test]
fn spring_mvc_routes_servlet_mappings_and_normalised_paths_name_transactions() {
    for (jdk, label) in jdks() {
        routes_on_spring(&jdk, label);
    }
}

fn async_and_logs_on_spring(jdk: &Path, label: &str) {
    let paths = ["/jobs/async/7", "/jobs/pool/2"];
    let plain = start(jdk, &[], &format!("spring-jobs-plain-{label}"));
    let expected: Vec<(String, String)> =
        paths.iter().map(|p| send(plain.port, "GET", p)).collect();
    let (plain_out, _) = plain.stop();
    assert_eq!(expected[0].1, "report 7", "{expected:?}");
    assert_eq!(expected[1].1, "jobs 0 1 staged", "{expected:?}");
    assert_eq!(
        common::spring::log_ids(&plain_out, "building report 7"),
        (String::new(), String::new())
    );

    let receiver = Receiver::start();
    let app = start(
        jdk,
        &[agent_arg(&receiver, "")],
        &format!("spring-jobs-{label}"),
    );
    let got: Vec<(String, String)> = paths.iter().map(|p| send(app.port, "GET", p)).collect();
    let (stdout, stderr) = app.stop();
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    assert!(
        !stderr.lines().any(|l| l.starts_with("osprey:")),
        "{label}: {stderr}"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let spans = loop {
        let spans = received(&receiver);
        let tasks = spans
            .iter()
            .filter(|s| s.name.starts_with("async "))
            .count();
        if tasks >= 4 || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let server = |name: &str| {
        spans
            .iter()
            .find(|s| s.kind == span::SpanKind::Server as i32 && s.name == name)
            .unwrap_or_else(|| panic!("{label}: no {name}: {names:?}"))
    };
    let in_txn = |txn: &Span, task: &Span| {
        task.trace_id == txn.trace_id
            && !task.parent_span_id.is_empty()
            && osprey_testkit::spans::within(task, txn)
    };

    // @Async: a step named after the method, on Spring's async executor.
    let asked = server("GET /jobs/async/{id}");
    let built = spans
        .iter()
        .find(|s| s.name == "async demo.spring.Jobs$Reports.build")
        .unwrap_or_else(|| panic!("{label}: the @Async step: {names:?}"));
    assert!(in_txn(asked, built), "{label}: {built:?}");
    assert!(
        // Spring's SimpleAsyncTaskExecutor (Boot's own task executor backs off
        // when the application defines an executor, as this one does).
        str_attr(&built.attributes, "thread.name")
            .is_some_and(|t| t.starts_with("SimpleAsyncTaskExecutor-") || t.starts_with("task-")),
        "{label}: {built:?}"
    );
    let trace = osprey_testkit::spans::hex(&asked.trace_id);
    let (t, s) = common::spring::log_ids(&stdout, "asking for report 7");
    assert_eq!(t, trace, "{label}: the request's log line");
    assert!(
        spans
            .iter()
            .any(|x| osprey_testkit::spans::hex(&x.span_id) == s && x.trace_id == asked.trace_id),
        "{label}: its span id is one of the trace's spans"
    );
    assert_eq!(
        common::spring::log_ids(&stdout, "building report 7"),
        (trace, osprey_testkit::spans::hex(&built.span_id)),
        "{label}: the @Async method's line names its step"
    );

    // A pool of the application's own: two tasks and a stage, steps of
    // the request on the pool's threads, each log line naming its step.
    let pooled = server("GET /jobs/pool/{n}");
    let tasks: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.name.starts_with("async demo.spring.Jobs$JobsController") && in_txn(pooled, s)
        })
        .collect();
    assert_eq!(tasks.len(), 3, "{label}: {names:?}");
    let task_ids: Vec<String> = tasks
        .iter()
        .map(|t| {
            assert!(
                str_attr(&t.attributes, "thread.name").is_some_and(|n| n.starts_with("jobs-")),
                "{label}: {t:?}"
            );
            osprey_testkit::spans::hex(&t.span_id)
        })
        .collect();
    let trace = osprey_testkit::spans::hex(&pooled.trace_id);
    for needle in ["running job 0", "running job 1", "running stage"] {
        let (t, s) = common::spring::log_ids(&stdout, needle);
        assert_eq!(t, trace, "{label}: {needle}");
        assert!(
            task_ids.contains(&s),
            "{label}: {needle} names its task step"
        );
    }
}

#[test]
fn async_and_pooled_work_join_the_request_and_log_lines_carry_its_ids() {
    for (jdk, label) in jdks() {
        async_and_logs_on_spring(&jdk, label);
    }
}
