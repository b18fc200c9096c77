//! Shared by the `/metrics` and alert tests: free loopback ports, real
//! external programs started on them (killed on drop), OTLP data with
//! current timestamps sent with a key, and polling until a condition holds.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::support::{failed, kv, proto, request, span, sv};

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child, pub &'static str);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program` with `args` (output to `log` in `dir`).
pub fn spawn(program: &'static str, args: &[&str], dir: &Path) -> Proc {
    let log =
        std::fs::File::create(dir.join(format!("{}.log", program.replace('/', "_")))).unwrap();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    Proc(child, program)
}

/// Polls `f` every 200 ms until it returns `Some`; panics with `what`
/// after `limit` (a hang guard, not a speed check).
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Now, UNIX ns.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// A request with an optional bearer key and `Accept`: status, content
/// type and body.
pub fn call(
    method: &str,
    url: &str,
    key: Option<&str>,
    accept: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> (u16, String, String) {
    let a = agent();
    let auth = key.map(|k| format!("Bearer {k}"));
    let resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(url);
            if let Some(h) = &auth {
                r = r.header("authorization", h);
            }
            if let Some(x) = accept {
                r = r.header("accept", x);
            }
            r.call()
        }
        (m, Some((ct, b))) => {
            let mut r = if m == "PUT" { a.put(url) } else { a.post(url) };
            r = r.header("content-type", ct);
            if let Some(h) = &auth {
                r = r.header("authorization", h);
            }
            r.send(b)
        }
        _ => panic!("no body"),
    };
    let mut resp = match resp {
        Ok(r) => r,
        // Not listening (yet): status 0.
        Err(e) => return (0, String::new(), e.to_string()),
    };
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (
        resp.status().as_u16(),
        ct,
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// Sends `n` transactions of `service`/`endpoint` ending now, each taking
/// `elapsed_ms`, the first `errors` of them failed; `seed` keeps ids
/// unique. Returns their ids (16 hex digits).
#[allow(clippy::too_many_arguments)]
pub fn send_txns(
    base: &str,
    key: Option<&str>,
    service: &str,
    instance: &str,
    endpoint: &str,
    n: u32,
    errors: u32,
    elapsed_ms: u64,
    seed: u32,
) -> Vec<String> {
    let end = now_ns();
    let mut spans = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let k = seed.wrapping_mul(1000).wrapping_add(i);
        let mut s = span(
            0,
            0,
            None,
            endpoint,
            SpanKind::Server,
            end - elapsed_ms * 1_000_000,
            end,
            vec![kv("http.request.method", sv("GET"))],
        );
        let mut trace = [0u8; 16];
        trace[..4].copy_from_slice(&k.to_be_bytes());
        trace[15] = 1;
        let mut id = [0u8; 8];
        id[..4].copy_from_slice(&k.to_be_bytes());
        id[7] = 7;
        s.trace_id = trace.to_vec();
        s.span_id = id.to_vec();
        if i < errors {
            s = failed(s, "java.lang.IllegalStateException", "injected");
        }
        ids.push(id.iter().map(|b| format!("{b:02x}")).collect());
        spans.push(s);
    }
    let mut req = request(service, spans);
    if let Some(r) = req.resource_spans[0].resource.as_mut() {
        r.attributes.push(kv("service.instance.id", sv(instance)));
    }
    let (status, _, body) = call(
        "POST",
        &format!("{base}/v1/traces"),
        key,
        None,
        Some(("application/x-protobuf", &proto(&req))),
    );
    assert_eq!(status, 200, "ingest: {body}");
    ids
}

/// What the webhook receiver got: (path, body) of every POST.
pub type Posts = Arc<Mutex<Vec<(String, String)>>>;

/// A real HTTP server that keeps every POST as (path, body).
pub fn webhook_receiver() -> (String, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut len = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            keep.lock()
                .unwrap()
                .push((path, String::from_utf8_lossy(&body).into_owned()));
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, got)
}

/// The webhook bodies posted to `path` as JSON.
pub fn posted(got: &Mutex<Vec<(String, String)>>, path: &str) -> Vec<serde_json::Value> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect()
}

/// The first event of `rule` in `state` posted to `/hook`.
pub fn hook_event(
    got: &Mutex<Vec<(String, String)>>,
    rule: &str,
    state: &str,
) -> Option<serde_json::Value> {
    posted(got, "/hook")
        .into_iter()
        .find(|v| v["rule"] == rule && v["state"] == state)
}

/// A request with any headers: status, `set-cookie` and body.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Option<String>, String) {
    let a = agent();
    let resp = match method {
        "GET" => headers
            .iter()
            .fold(a.get(url), |r, (k, v)| r.header(*k, *v))
            .call(),
        "PUT" => headers
            .iter()
            .fold(a.put(url), |r, (k, v)| r.header(*k, *v))
            .send(body),
        _ => headers
            .iter()
            .fold(a.post(url), |r, (k, v)| r.header(*k, *v))
            .send(body),
    };
    let mut resp = resp.expect("request sent");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        resp.status().as_u16(),
        cookie,
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}
