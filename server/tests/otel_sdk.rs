//! Any OpenTelemetry SDK can feed the collector: the embedded Tomcat demo
//! under the OpenTelemetry Java agent (opentelemetry-javaagent 2.22.0 from
//! Maven Central, OTLP http/protobuf and OTLP/gRPC, its own span names and
//! attributes) exporting to the real `osprey` binary. The query API then lists its
//! transactions, marks the failing one, gives call trees with the method
//! and JDBC spans, and the server map has the service's edge to H2.

mod support;
mod viewer_support;

use std::time::Duration;

use serde_json::Value;
use support::{TempDir, get};
use viewer_support::{Demo, eventually, maven_jar, serve};

const OTEL_AGENT: (&str, &str) = (
    "io.opentelemetry.javaagent:opentelemetry-javaagent:2.22.0",
    "opentelemetry-javaagent-2.22.0.jar",
);

#[test]
fn the_opentelemetry_java_agent_feeds_the_collector() {
    feeds_the_collector("http/protobuf");
}

/// The same over OTLP/gRPC (the agent's OkHttp sender, HTTP/2 without TLS
/// on the server's one port).
#[test]
fn the_opentelemetry_java_agent_feeds_the_collector_over_grpc() {
    feeds_the_collector("grpc");
}

fn feeds_the_collector(protocol: &str) {
    let dir = TempDir::new(&format!("otel-sdk-{}", protocol.replace('/', "-")));
    let (_server, url) = serve(&dir.0);
    let agent = maven_jar(OTEL_AGENT.0, OTEL_AGENT.1);
    let demo = Demo::start_with(
        &[
            format!("-javaagent:{}", agent.display()),
            "-Dotel.service.name=otel-demo".into(),
            format!("-Dotel.exporter.otlp.protocol={protocol}"),
            format!("-Dotel.exporter.otlp.endpoint={url}"),
            "-Dotel.metrics.exporter=none".into(),
            "-Dotel.logs.exporter=none".into(),
            "-Dotel.bsp.schedule.delay=200".into(),
            "-Dotel.instrumentation.methods.include=demo.web.Work[outer,inner]".into(),
        ],
        &dir.0.join("demo"),
    );
    for _ in 0..2 {
        assert_eq!(demo.get("/hello?id=42", &[]).0, 200);
    }
    assert_eq!(demo.get("/fail", &[]).0, 500);
    demo.stop();

    let list = |query: &str| -> Vec<Value> {
        get(&format!(
            "{url}/api/transactions?from=0&limit=100&service=otel-demo{query}"
        ))["transactions"]
            .as_array()
            .unwrap()
            .clone()
    };
    // Its own naming: server spans by route (`GET /*` for this embedded app),
    // the JDBC calls of the start-up as transactions of their own.
    let is_get = |t: &&Value| t["endpoint"].as_str().unwrap().starts_with("GET ");
    let all = eventually(Duration::from_secs(20), || {
        let t = list("");
        (t.iter().filter(is_get).count() >= 4).then_some(t)
    })
    .unwrap_or_else(|| panic!("the OTel agent's transactions: {:#?}", list("")));
    let errors = list("&error=true");
    assert!(
        errors.iter().any(|t| is_get(&t) && t["http_status"] == 500),
        "the failing request is an error: {all:#?}"
    );
    let trees: Vec<(Value, Vec<Value>)> = all
        .iter()
        .filter(is_get)
        .map(|t| {
            let tree = get(&format!("{url}/api/tree/{}", t["id"].as_str().unwrap()));
            let steps = tree["transactions"][0]["steps"].as_array().unwrap().clone();
            (t.clone(), steps)
        })
        .collect();
    let hellos: Vec<&(Value, Vec<Value>)> = trees
        .iter()
        .filter(|(_, steps)| steps.iter().any(|s| s["name"] == "Work.outer"))
        .collect();
    assert_eq!(hellos.len(), 2, "two /hello trees: {trees:#?}");
    let (hello, steps) = hellos[0];
    assert_eq!(hello["http_status"], 200, "{hello:#}");
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Work.outer") && names.contains(&"Work.inner"),
        "method spans: {names:?}"
    );
    let sql: Vec<&Value> = steps.iter().filter(|s| s["sql"].is_string()).collect();
    assert_eq!(sql.len(), 2, "two JDBC spans with their SQL: {steps:#?}");
    for s in &sql {
        let text = s["sql"].as_str().unwrap();
        assert!(!text.contains("widget") && !text.contains("42"), "{text}");
    }
    let map = get(&format!("{url}/api/servermap?from=0"));
    assert!(
        map["edges"].as_array().unwrap().iter().any(|e| {
            e["caller"] == "otel-demo" && e["callee"].as_str().unwrap().starts_with("h2")
        }),
        "{map:#}"
    );
}
