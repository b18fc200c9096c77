//! A loopback OTLP/HTTP receiver for tests: `std::net::TcpListener` on
//! 127.0.0.1, HTTP/1.1 with `Content-Length` bodies, gzip or plain protobuf,
//! and scripted answers (status, `Retry-After`, body, an oversized body, or
//! no answer at all). Every loop is bounded by a stop flag or a deadline.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Largest request head or body accepted.
const MAX_REQUEST_BYTES: usize = 64 << 20;
/// How often blocked reads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A normal response.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` header value, if any.
        retry_after: Option<String>,
        /// Response body.
        body: Vec<u8>,
    },
    /// Reads the request and never answers (until the receiver stops or
    /// the client hangs up).
    Silent,
    /// 200 announcing and streaming `bytes` of body (stops when the client
    /// hangs up).
    Oversized {
        /// Announced and sent body length.
        bytes: usize,
    },
}

impl Reply {
    /// 200 with an empty body.
    pub fn ok() -> Self {
        Self::status(200)
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
            body: Vec::new(),
        }
    }

    /// `status` with `Retry-After: seconds`.
    pub fn retry_after(status: u16, seconds: u64) -> Self {
        Self::Status {
            status,
            retry_after: Some(seconds.to_string()),
            body: Vec::new(),
        }
    }

    /// `status` with `body`.
    pub fn with_body(status: u16, body: Vec<u8>) -> Self {
        Self::Status {
            status,
            retry_after: None,
            body,
        }
    }
}

/// One request the receiver got, body already decompressed.
#[derive(Clone, Debug)]
pub struct Request {
    /// When its body was fully read.
    pub at: Instant,
    /// Request path (`/v1/traces`).
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// The protobuf payload.
    pub body: Vec<u8>,
}

impl Request {
    /// Decodes the payload as a traces request.
    pub fn traces(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(&self.body[..]).expect("traces protobuf")
    }

    /// Decodes the payload as a metrics request.
    pub fn metrics(&self) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest::decode(&self.body[..]).expect("metrics protobuf")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

struct State {
    requests: Vec<Request>,
    scripts: HashMap<String, VecDeque<Reply>>,
    default: Reply,
}

struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on an ephemeral port of 127.0.0.1, answering 200 by default.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                requests: Vec::new(),
                scripts: HashMap::new(),
                default: Reply::ok(),
            }),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(&listener, &s));
        Self {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, the base OTLP endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues answers for the next requests to `path`; once used up, the
    /// default answer applies.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .lock()
            .scripts
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Sets the answer used when no script applies.
    pub fn set_default(&self, reply: Reply) {
        self.shared.lock().default = reply;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// Requests so far to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        let state = self.shared.lock();
        state
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Decoded traces requests so far.
    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.requests_to("/v1/traces")
            .iter()
            .map(Request::traces)
            .collect()
    }

    /// Decoded metrics requests so far.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.requests_to("/v1/metrics")
            .iter()
            .map(Request::metrics)
            .collect()
    }

    /// Waits until at least `n` requests to `path` arrived; false on timeout.
    pub fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.requests.iter().filter(|r| r.path == path).count() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopped() {
            return;
        }
        let Ok(stream) = stream else { continue };
        let s = shared.clone();
        std::thread::spawn(move || serve(stream, &s));
    }
}

/// Serves one connection: requests in sequence until the client hangs up
/// or the receiver stops.
fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let mut buffered = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffered, shared) {
        let path = request.path.clone();
        let reply = {
            let mut state = shared.lock();
            state.requests.push(request);
            shared.arrived.notify_all();
            let scripted = state.scripts.get_mut(&path).and_then(VecDeque::pop_front);
            scripted.unwrap_or_else(|| state.default.clone())
        };
        if !answer(&mut stream, reply, shared) {
            return;
        }
    }
}

/// Writes `reply`; false when the connection should close.
fn answer(stream: &mut TcpStream, reply: Reply, shared: &Shared) -> bool {
    match reply {
        Reply::Status {
            status,
            retry_after,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Test\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n",
                body.len()
            );
            if let Some(r) = retry_after {
                head.push_str(&format!("retry-after: {r}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).is_ok() && stream.write_all(&body).is_ok()
        }
        Reply::Silent => {
            hold_silently(stream, shared);
            false
        }
        Reply::Oversized { bytes } => {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {bytes}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let chunk = vec![0xA5u8; 64 * 1024];
            let mut sent = 0;
            while sent < bytes && !shared.stopped() {
                let n = chunk.len().min(bytes - sent);
                if stream.write_all(&chunk[..n]).is_err() {
                    break;
                }
                sent += n;
            }
            false
        }
    }
}

/// Keeps the connection open without answering until the peer hangs up or
/// the receiver stops.
fn hold_silently(stream: &mut TcpStream, shared: &Shared) {
    let mut scratch = [0u8; 1024];
    while !shared.stopped() {
        match stream.read(&mut scratch) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_poll_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

fn is_poll_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads one request; `None` on hang-up, stop or a malformed request.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST_BYTES || !fill(stream, buf, shared)? {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST_BYTES {
        return None;
    }
    while buf.len() < head_end + length {
        if !fill(stream, buf, shared)? {
            return None;
        }
    }
    let raw: Vec<u8> = buf.drain(..head_end + length).skip(head_end).collect();
    let body = match headers.get("content-encoding").map(String::as_str) {
        Some("gzip") => gunzip(&raw)?,
        _ => raw,
    };
    Some(Request {
        at: Instant::now(),
        path,
        headers,
        body,
    })
}

/// Reads more bytes; `Some(false)` on hang-up, `None` when stopped.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> Option<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if shared.stopped() {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Some(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Some(true);
            }
            Err(e) if is_poll_timeout(&e) => {}
            Err(_) => return Some(false),
        }
    }
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(data)
        .take(MAX_REQUEST_BYTES as u64)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
