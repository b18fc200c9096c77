//! Builds `examples/c/app.c` against the committed header and libosprey,
//! runs it with the OTLP exporter pointed at a loopback OTLP/HTTP receiver
//! written here, and checks the trace it sent: names, parent links,
//! nesting, kinds, attributes, the error, the propagated trace and
//! plausible timings.
//!
//! Depends on the OTLP exporter of the core crate.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use prost::Message;

const INBOUND_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN: &str = "00f067aa0ba902b7";
const SQL_TEXT: &str = "SELECT id, total FROM orders WHERE customer_id = ? ORDER BY id";

/// One HTTP request the receiver got.
struct Request {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver on 127.0.0.1: answers 200 with an empty
/// (valid) protobuf response and forwards every request.
fn start_receiver() -> (u16, Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, tx));
        }
    });
    (port, rx)
}

fn serve(stream: TcpStream, tx: Sender<Request>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    // Keep-alive: serve requests until the client closes or goes quiet.
    while let Some(request) = read_request(&mut reader) {
        let response = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                        content-length: 0\r\n\r\n";
        if writer.write_all(response.as_bytes()).is_err() || tx.send(request).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    }
    assert_eq!(method, "POST", "OTLP/HTTP uses POST");
    Some(Request {
        path,
        headers,
        body,
    })
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("body is gzip");
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn mentions(span: &Span, needle: &str) -> bool {
    let in_attrs = |attrs: &[KeyValue]| {
        attrs
            .iter()
            .any(|kv| format!("{:?}", kv.value).contains(needle))
    };
    in_attrs(&span.attributes)
        || span.events.iter().any(|e| in_attrs(&e.attributes))
        || span
            .status
            .as_ref()
            .is_some_and(|s| s.message.contains(needle))
}

#[test]
fn c_example_trace_arrives_over_otlp_http() {
    let (port, requests) = start_receiver();
    let exe = common::compile(&common::repo_root().join("examples/c/app.c"), "app");
    let config = format!(
        "exporter=otlp;otlp.endpoint=http://127.0.0.1:{port};batch.delay_ms=50;\
         service.name=c-example"
    );
    let out = common::run(
        &exe,
        &[&config],
        &common::scratch("app"),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code,
        Some(0),
        "app failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    let printed = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("traceparent: "))
        .expect("app prints the outgoing traceparent")
        .to_owned();

    // The program flushed and shut down before exiting, so everything was
    // sent; allow the receiver threads a moment to hand it over.
    let mut spans: Vec<(String, Span)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !spans.iter().any(|(_, s)| s.name == "GET /c/orders") {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(req) = requests.recv_timeout(left) else {
            panic!(
                "no span named \"GET /c/orders\" arrived; app stderr:\n{}",
                out.stderr
            );
        };
        if req.path != "/v1/traces" {
            continue; // metrics (per-second aggregates) are not checked here
        }
        assert_eq!(
            req.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
        assert_eq!(
            req.headers.get("content-encoding").map(String::as_str),
            Some("gzip")
        );
        let message = ExportTraceServiceRequest::decode(gunzip(&req.body).as_slice())
            .expect("body is an ExportTraceServiceRequest");
        for rs in message.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| str_attr(&r.attributes, "service.name"))
                .unwrap_or_default()
                .to_owned();
            for ss in rs.scope_spans {
                spans.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }

    let find = |name: &str| -> &Span {
        let matching: Vec<_> = spans.iter().filter(|(_, s)| s.name == name).collect();
        assert_eq!(matching.len(), 1, "spans named {name:?}: {matching:#?}");
        &matching[0].1
    };
    let root = find("GET /c/orders");
    let method = find("OrderService.loadOrders");
    let sql = find("SELECT orders");
    let http = find("GET inventory");
    assert!(spans.iter().all(|(svc, _)| svc == "c-example"));

    // The transaction continues the inbound trace as a SERVER span.
    assert_eq!(root.kind, span::SpanKind::Server as i32);
    assert_eq!(hex(&root.trace_id), INBOUND_TRACE);
    assert_eq!(hex(&root.parent_span_id), INBOUND_SPAN);
    assert_eq!(
        str_attr(&root.attributes, "http.request.method"),
        Some("GET")
    );

    // The tree: transaction > method > (sql, http).
    for s in [method, sql, http] {
        assert_eq!(s.trace_id, root.trace_id, "{} in the same trace", s.name);
        assert_eq!(s.span_id.len(), 8);
    }
    assert_eq!(method.parent_span_id, root.span_id);
    assert_eq!(sql.parent_span_id, method.span_id);
    assert_eq!(http.parent_span_id, method.span_id);
    assert_eq!(method.kind, span::SpanKind::Internal as i32);
    assert_eq!(sql.kind, span::SpanKind::Client as i32);
    assert_eq!(http.kind, span::SpanKind::Client as i32);

    // Attributes: the statement under the old or the current convention.
    let statement =
        str_attr(&sql.attributes, "db.statement").or(str_attr(&sql.attributes, "db.query.text"));
    assert_eq!(statement, Some(SQL_TEXT));
    assert_eq!(
        str_attr(&http.attributes, "url.full"),
        Some("http://inventory.local/stock?sku=42")
    );

    // The error is on the SQL step only.
    let code = |s: &Span| s.status.as_ref().map_or(0, |st| st.code);
    assert_eq!(code(sql), status::StatusCode::Error as i32);
    assert!(mentions(sql, "SQLTimeoutException"), "{sql:#?}");
    assert_ne!(code(method), status::StatusCode::Error as i32);
    assert_ne!(code(http), status::StatusCode::Error as i32);

    // The printed traceparent names the HTTP step as the callee's parent.
    assert_eq!(
        printed,
        format!("00-{INBOUND_TRACE}-{}-01", hex(&http.span_id))
    );

    // Timings: children inside their parents, the sleeps visible.
    let nested = |child: &Span, parent: &Span| {
        parent.start_time_unix_nano <= child.start_time_unix_nano
            && child.end_time_unix_nano <= parent.end_time_unix_nano
    };
    for s in [root, method, sql, http] {
        assert!(s.start_time_unix_nano > 1_600_000_000_000_000_000, "{s:#?}");
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano, "{s:#?}");
    }
    assert!(nested(method, root) && nested(sql, method) && nested(http, method));
    assert!(sql.end_time_unix_nano <= http.start_time_unix_nano);
    let ms = |s: &Span| (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e6;
    assert!(ms(sql) >= 3.0, "sql took {} ms", ms(sql));
    assert!(ms(http) >= 1.0, "http took {} ms", ms(http));
    assert!(ms(method) >= 6.0, "method took {} ms", ms(method));
    assert!(ms(root) < 5_000.0, "root took {} ms", ms(root));

    // The C program's own statistics line agrees: one delivered.
    assert!(
        out.stdout.contains("produced 1, dropped 0, delivered 1"),
        "{}",
        out.stdout
    );
}
