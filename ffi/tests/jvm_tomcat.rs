//! End to end through the Java agent's library instrumentations: an
//! embedded Tomcat 11 application with an in-memory H2 database
//! (`examples/tomcat`, the README's demo), run with `-javaagent:` against the
//! loopback OTLP/HTTP receiver, driven with plain HTTP/1.1 requests.
//!
//! Proves: one SERVER span per request named `GET /path` (query dropped),
//! continuing an inbound `traceparent`; the HTTP attributes; the user
//! methods and the SQL steps nested under it in order, SQL named with
//! sanitised text (`db.statement` too) and `db.system=h2`; a servlet
//! exception gives status ERROR, an exception event and status code 500;
//! the HTTP responses are byte-identical (status line and body) with and
//! without the agent. `instrument.jdbc=false` / `instrument.tomcat=false`
//! switch each instrumentation off.
//!
//! The Tomcat and H2 jars come from Maven Central (`mvn dependency:copy`)
//! into the cargo target directory. Set `OSPREY_AGENT_JAR` to test a
//! prebuilt agent jar.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::java::{PortApp, java_home, jdks, mentions, received, status_code};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use osprey::AttrValue;
use osprey::export::store::StoreReader;
use osprey_testkit::Receiver;
use osprey_testkit::spans::{hex, int_attr, str_attr};

/// Besides embedded Tomcat ([`common::java::TOMCAT_EMBED`]).
const ARTIFACTS: &[(&str, &str)] = &[("com.h2database:h2:2.5.252", "h2-2.5.252.jar")];

const OUTER: &str = "demo.web.Work.outer(java.lang.String)";
const INNER: &str = "demo.web.Work.inner(int)";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

/// Builds the agent jar once (or takes `OSPREY_AGENT_JAR`).
fn agent_jar() -> &'static Path {
    common::java::agent_jar("jvm-agent-build-tomcat", &["-DskipTests"])
}

/// Tomcat, its annotations API and H2, fetched once with Maven.
fn libs() -> &'static [PathBuf] {
    static LIBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    LIBS.get_or_init(|| {
        let all: Vec<(&str, &str)> = common::java::TOMCAT_EMBED
            .iter()
            .chain(ARTIFACTS)
            .copied()
            .collect();
        common::java::maven_artifacts(&all, "jvm-tomcat-libs")
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
            "examples/tomcat/demo/web",
            &["WebApp.java", "Work.java"],
            libs(),
            "jvm-tomcat-classes",
        )
    })
}

/// The running application (`port=N`, `/exit`).
struct App(PortApp);

impl App {
    fn start(jdk: &Path, jvm_args: &[String], name: &str) -> App {
        let cmd = common::java::java(
            jdk,
            jvm_args,
            class_path(app_classes()),
            "demo.web.WebApp",
            &[],
        );
        App(PortApp::start(cmd, name))
    }

    /// Status line and body of `GET path` (headers differ by date).
    fn get(&self, path: &str, extra_headers: &str) -> (String, String) {
        self.0.get(path, extra_headers)
    }

    /// Asks the application to stop and waits (bounded) for the exit;
    /// returns its standard error.
    fn stop(self, name: &str) -> String {
        let (out, err) = self.0.stop();
        assert!(out.contains("stopped"), "{name}: {out}");
        err
    }
}

type Responses = Vec<(String, String)>;

fn exercise(app: &App) -> Responses {
    let traceparent = format!("traceparent: 00-{TRACE_ID}-{PARENT_ID}-01\r\n");
    vec![
        app.get("/hello?id=42&token=abc", &traceparent),
        app.get("/hello?id=42", ""),
        app.get("/fail", ""),
    ]
}

fn tomcat_through_agent(jdk: &Path, label: &str) {
    let plain = App::start(jdk, &[], &format!("tomcat-plain-{label}"));
    let expected = exercise(&plain);
    plain.stop(&format!("tomcat-plain-{label}"));
    assert!(expected[0].0.contains(" 200"), "{expected:?}");
    assert!(
        expected[0].1.contains("hello widget widget"),
        "{expected:?}"
    );
    assert!(expected[2].0.contains(" 500"), "{expected:?}");

    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=hook.methods=demo.web.Work.*,exporter=otlp,\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,service.name=tomcat-demo",
        agent_jar().display(),
        receiver.port()
    );
    let name = format!("tomcat-agent-{label}");
    let app = App::start(jdk, &[agent], &name);
    let got = exercise(&app);
    let stderr = app.stop(&name);
    assert_eq!(got, expected, "{label}: responses changed by the agent");
    assert!(
        !stderr.lines().any(|l| l.starts_with("osprey:")),
        "{label}: {stderr}"
    );

    // 2 x (server + 2 methods + 2 SQL) + the failing request + /exit.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans: Vec<Span> = loop {
        let spans: Vec<Span> = received(&receiver);
        if spans.len() >= 12 || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(spans.len(), 12, "{label}: {names:?}");
    let count = |n: &str| names.iter().filter(|x| **x == n).count();
    assert_eq!(count("GET /hello"), 2, "{names:?}");
    assert_eq!(count("GET /fail"), 1, "{names:?}");
    assert_eq!(count("GET /exit"), 1, "{names:?}");
    assert_eq!(count(OUTER), 2, "{names:?}");
    assert_eq!(count(INNER), 2, "{names:?}");
    // Literals never leave the process: SQL names and db.statement are sanitised.
    let sql: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("SELECT"))
        .collect();
    assert_eq!(sql.len(), 4, "{names:?}");
    for s in &sql {
        assert!(
            !s.name.contains("42") && !s.name.contains("widget"),
            "{}",
            s.name
        );
        assert_eq!(s.kind, span::SpanKind::Client as i32, "{}", s.name);
        assert_eq!(str_attr(&s.attributes, "db.system"), Some("h2"));
        assert_eq!(
            str_attr(&s.attributes, "db.statement"),
            Some(s.name.as_str())
        );
    }
    for s in &spans {
        let text = format!("{s:?}");
        assert!(!text.contains("s3cret") && !text.contains("token=abc"));
    }

    let roots: Vec<&Span> = spans.iter().filter(|s| s.name == "GET /hello").collect();
    let traced: Vec<&&Span> = roots
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    assert_eq!(traced.len(), 1, "inbound traceparent continued once");
    assert_eq!(hex(&traced[0].parent_span_id), PARENT_ID);
    let fresh = roots.iter().find(|s| hex(&s.trace_id) != TRACE_ID).unwrap();
    assert!(fresh.parent_span_id.is_empty(), "no inbound parent");
    for root in &roots {
        assert_eq!(root.kind, span::SpanKind::Server as i32);
        assert_ne!(status_code(root), status::StatusCode::Error as i32);
        let attrs = &root.attributes;
        assert_eq!(str_attr(attrs, "http.request.method"), Some("GET"));
        assert_eq!(str_attr(attrs, "url.path"), Some("/hello"));
        assert_eq!(int_attr(attrs, "http.response.status_code"), Some(200));
        assert_eq!(str_attr(attrs, "client.address"), Some("127.0.0.1"));
        assert_eq!(
            str_attr(attrs, "user_agent.original"),
            Some("osprey-test/1.0")
        );
        assert!(
            str_attr(attrs, "thread.name")
                .is_some_and(|t| t.starts_with("http-nio-") && t.contains("-exec-")),
            "{attrs:?}"
        );
        // root > outer > inner > [statement SQL, prepared SQL]
        common::java::assert_demo_tree(&spans, root, OUTER, INNER, label);
    }

    let fail = spans.iter().find(|s| s.name == "GET /fail").unwrap();
    assert_eq!(fail.kind, span::SpanKind::Server as i32);
    assert_eq!(
        status_code(fail),
        status::StatusCode::Error as i32,
        "{fail:#?}"
    );
    assert!(mentions(fail, "IllegalStateException") && mentions(fail, "kaboom"));
    assert!(
        fail.events.iter().any(|e| e.name == "exception"),
        "{fail:#?}"
    );
    assert_eq!(
        int_attr(&fail.attributes, "http.response.status_code"),
        Some(500)
    );
}

/// `instrument.jdbc=false` keeps the server spans and drops the SQL steps;
/// `instrument.tomcat=false` leaves no transaction at all (the user
/// methods have none to join).
fn switches(jdk: &Path, label: &str) {
    for (key, expected) in [("instrument.jdbc", 8), ("instrument.tomcat", 0)] {
        let receiver = Receiver::start();
        let agent = format!(
            "-javaagent:{}=hook.methods=demo.web.Work.*,{key}=false,exporter=otlp,\
             otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50",
            agent_jar().display(),
            receiver.port()
        );
        let name = format!("tomcat-{key}-off-{label}");
        let app = App::start(jdk, &[agent], &name);
        let got = exercise(&app);
        app.stop(&name);
        assert!(got[0].1.contains("hello widget widget"), "{got:?}");
        // The shutdown hook exported everything before the JVM exited.
        let deadline = Instant::now() + Duration::from_secs(10);
        let spans = loop {
            let spans = received(&receiver);
            if spans.len() >= expected || Instant::now() >= deadline {
                break spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(spans.len(), expected, "{key}=false: {names:?}");
        assert!(!names.iter().any(|n| n.starts_with("SELECT")), "{names:?}");
    }
}

#[test]
fn tomcat_requests_and_jdbc_become_server_transactions() {
    for (jdk, label) in jdks() {
        tomcat_through_agent(&jdk, label);
    }
}

#[test]
fn instrumentations_can_be_switched_off() {
    switches(&java_home(), "jdk17");
}

/// What a server transaction takes from its request, by configuration:
/// the client address from a forwarding header, a hashed session cookie as
/// the user, the allow-listed query parameters, a B3 (multi-header)
/// inbound parent.
#[test]
fn request_facts_follow_the_configuration() {
    let receiver = Receiver::start();
    let agent = format!(
        "-javaagent:{}=exporter=otlp,otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,\
         http.client_ip_header=X-Forwarded-For,http.query.allow=id,http.user=cookie:JSESSIONID",
        agent_jar().display(),
        receiver.port()
    );
    let name = "tomcat-request-facts";
    let app = App::start(&java_home(), &[agent], name);
    let b3 = format!("X-B3-TraceId: {TRACE_ID}\r\nX-B3-SpanId: {PARENT_ID}\r\nX-B3-Sampled: 1\r\n");
    let session_a = "Cookie: theme=dark; JSESSIONID=0123SECRETSESSION\r\n";
    let forwarded = "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n";
    app.get(
        "/hello?id=42&token=abc",
        &format!("{b3}{session_a}{forwarded}"),
    );
    app.get("/hello?id=42", session_a);
    app.get("/hello?id=42", "Cookie: JSESSIONID=OTHERSESSION\r\n");
    app.stop(name);

    let deadline = Instant::now() + Duration::from_secs(10);
    let spans: Vec<Span> = loop {
        let spans: Vec<Span> = received(&receiver)
            .into_iter()
            .filter(|s| s.name == "GET /hello")
            .collect();
        if spans.len() >= 3 || Instant::now() >= deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(spans.len(), 3);
    for s in &spans {
        let text = format!("{s:?}");
        assert!(!text.contains("SECRETSESSION") && !text.contains("OTHERSESSION"));
        assert!(!text.contains("token"), "{text}");
    }
    let first = spans
        .iter()
        .find(|s| hex(&s.trace_id) == TRACE_ID)
        .expect("the B3 inbound parent continued");
    assert_eq!(hex(&first.parent_span_id), PARENT_ID);
    let attrs = &first.attributes;
    assert_eq!(str_attr(attrs, "client.address"), Some("203.0.113.7"));
    assert_eq!(str_attr(attrs, "network.peer.address"), Some("127.0.0.1"));
    assert_eq!(str_attr(attrs, "url.query"), Some("id=42"));
    let user = |s: &Span| str_attr(&s.attributes, "user.id").map(str::to_owned);
    let user_a = user(first).expect("user from the session cookie");
    assert!(
        user_a.len() == 16 && user_a.bytes().all(|b| b.is_ascii_hexdigit()),
        "{user_a}"
    );
    let others: Vec<Option<String>> = spans
        .iter()
        .filter(|s| s.span_id != first.span_id)
        .map(user)
        .collect();
    assert!(
        others.contains(&Some(user_a.clone())),
        "same session, same user"
    );
    assert!(
        others
            .iter()
            .any(|u| u.as_ref().is_some_and(|u| *u != user_a)),
        "another session, another user: {others:?}"
    );
    let plain = spans.iter().find(|s| s.span_id != first.span_id).unwrap();
    assert_eq!(
        str_attr(&plain.attributes, "client.address"),
        Some("127.0.0.1")
    );
    assert_eq!(str_attr(&plain.attributes, "network.peer.address"), None);
}

/// The agent's call-tree budget (`sample.trees_per_second`, 1000 by default):
/// past it OTLP receives only the trees within the budget, while every
/// transaction is recorded (the local store: each with its SQL count and
/// time, the XLog) and counted (the `osprey.transactions` metric).
#[test]
fn past_the_tree_budget_every_request_is_recorded_with_its_counts() {
    const REQUESTS: usize = 12;
    let receiver = Receiver::start();
    let store = common::scratch("tomcat-tree-budget-store");
    let agent = format!(
        "-javaagent:{}=hook.methods=demo.web.Work.*,exporter=otlp,store,store.dir={},\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,sample.trees_per_second=2",
        agent_jar().display(),
        store.display(),
        receiver.port()
    );
    let name = "tomcat-tree-budget";
    let app = App::start(&java_home(), &[agent], name);
    let started = Instant::now();
    for _ in 0..REQUESTS {
        let (status, body) = app.get("/hello?id=42", "");
        assert!(status.contains(" 200") && body.contains("hello widget widget"));
    }
    let seconds = started.elapsed().as_secs_f64();
    app.stop(name);

    // The store: every request, each with its counts; trees only within budget.
    let (stored, issues) = StoreReader::open(&store).expect("store").transactions();
    assert!(issues.is_empty(), "{issues:?}");
    let hello: Vec<_> = stored
        .iter()
        .filter(|t| t.endpoint() == "GET /hello")
        .collect();
    assert_eq!(hello.len(), REQUESTS, "every request is recorded");
    for t in &hello {
        let count = t
            .record
            .attributes
            .iter()
            .find(|a| t.name(a.key) == "osprey.sql.count")
            .map(|a| a.value.clone());
        assert_eq!(count, Some(AttrValue::Int(2)), "{:?}", t.record);
        assert_eq!(t.record.sampled, !t.record.steps.is_empty());
    }
    let kept = hello.iter().filter(|t| t.record.sampled).count();
    // Two trees in the full bucket, plus two a second while the requests ran.
    let most = 2 + (2.0 * seconds).ceil() as usize;
    assert!(
        (2..=most).contains(&kept) && kept < REQUESTS,
        "{kept} of {REQUESTS} requests kept their tree in {seconds:.2} s"
    );

    // OTLP: exactly the kept trees, with their SQL steps.
    let spans = received(&receiver);
    let servers: Vec<&Span> = spans.iter().filter(|s| s.name == "GET /hello").collect();
    assert_eq!(servers.len(), kept, "the kept trees go over OTLP");
    let sql_steps = spans
        .iter()
        .filter(|s| s.name.starts_with("SELECT"))
        .count();
    assert_eq!(sql_steps, 2 * kept);
    // And every transaction is counted in the per-second metrics.
    let counted: i64 = receiver
        .metrics()
        .iter()
        .flat_map(|m| &m.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "osprey.transactions")
        .filter_map(|m| match &m.data {
            Some(metric::Data::Sum(sum)) => Some(sum),
            _ => None,
        })
        .flat_map(|sum| &sum.data_points)
        .map(|p| match p.value {
            Some(number_data_point::Value::AsInt(n)) => n,
            _ => 0,
        })
        .sum();
    assert!(
        counted >= REQUESTS as i64,
        "osprey.transactions counted {counted}"
    );
}

/// The secrets scan through the Java agent: requests carry the planted
/// `Authorization` and `Cookie` headers and a query token; `/login` opens a
/// database by a JDBC URL with the planted password, concatenates the
/// planted SQL literal into a statement whose error quotes it and binds the
/// planted value. Nothing planted appears in what the collector received,
/// in the agent's local store, or in the application's output and logs.
#[test]
fn no_planted_secret_leaves_the_agent() {
    use osprey_testkit::secrets;
    let receiver = Receiver::start();
    let store = common::scratch("tomcat-secrets-store");
    let agent = format!(
        "-javaagent:{}=hook.methods=demo.web.Work.*,exporter=otlp,store,store.dir={},\
         otlp.endpoint=http://127.0.0.1:{},batch.delay_ms=50,http.query.allow=page",
        agent_jar().display(),
        store.display(),
        receiver.port()
    );
    let name = "tomcat-secrets";
    let app = App::start(&java_home(), &[agent], name);
    let headers = format!(
        "{}X-Db-Password: {}\r\nX-Literal: {}\r\nX-Bind: {}\r\n",
        secrets::header_lines(),
        secrets::JDBC_PASSWORD,
        secrets::SQL_LITERAL,
        secrets::BIND_VALUE
    );
    let (status, body) = app.get(&format!("/login?{}", secrets::QUERY), &headers);
    assert!(
        status.contains(" 200") && body == "login ok (missing table)",
        "{status} {body}"
    );
    let (status, _) = app.get(&format!("/hello?id=42&{}", secrets::QUERY), &headers);
    assert!(status.contains(" 200"), "{status}");
    let (stdout, stderr) = app.0.stop();

    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = received(&receiver);
        if spans
            .iter()
            .filter(|s| s.name.starts_with("SELECT"))
            .count()
            >= 4
            || Instant::now() >= deadline
        {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"GET /login"), "{names:?}");
    // The failing statement and its error arrived (sanitised), so the scan saw them.
    assert!(
        spans
            .iter()
            .any(|s| s.name.contains("FROM missing") && mentions(s, "Exception")),
        "{names:?}"
    );
    for r in receiver.requests() {
        secrets::assert_none("OTLP head", format!("{:?}", r.headers).as_bytes());
        secrets::assert_none(&format!("OTLP {}", r.path), &r.body);
    }
    let (stored, _) = StoreReader::open(&store).expect("store").transactions();
    assert!(stored.iter().any(|t| t.endpoint() == "GET /login"));
    assert!(secrets::assert_none_in_dir(&store) > 0);
    secrets::assert_none("the application's stdout", stdout.as_bytes());
    secrets::assert_none("the application's stderr", stderr.as_bytes());
}
