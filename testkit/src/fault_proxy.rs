//! A fault-injecting TCP proxy for tests: listens on 127.0.0.1 and forwards
//! every connection to an upstream address (a collector), until it is
//! switched to a fault: nothing listening, connections accepted and closed
//! at once, connections accepted and never answered, `503` with
//! `Retry-After`, answers delayed, or a peer that does not speak TLS.
//! Switching modes cuts the connections already open, as a collector that
//! fails or restarts does, so every new request meets the new mode.
//!
//! Bytes are forwarded as they are (TLS passes through untouched), so the
//! proxy works in front of any TCP service.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often blocked loops look at their stop conditions.
const POLL: Duration = Duration::from_millis(20);

/// What the proxy does with connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Pass,
    /// Nothing listens on the port: connections are refused.
    Down,
    /// Accepts each connection and closes it at once.
    Refusing,
    /// Accepts and reads, never answers.
    Blackholed,
    /// Answers every HTTP request `503 Service Unavailable` with
    /// `Retry-After: seconds`.
    Unavailable {
        /// The `Retry-After` value in seconds.
        retry_after: u64,
    },
    /// Forwards, holding each answer back by `delay`.
    Slow {
        /// How long each answer is held.
        delay: Duration,
    },
    /// Answers whatever arrives with a plain-text HTTP error and closes, as
    /// a plain HTTP server on a TLS port does: TLS handshakes fail.
    NotTls,
}

struct Shared {
    mode: Mutex<Mode>,
    /// Bumped on every mode change; connections of an older epoch close.
    epoch: AtomicU64,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
    accepted: AtomicU64,
}

impl Shared {
    fn mode(&self) -> Mode {
        lock(&self.mode).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on an ephemeral port of 127.0.0.1, forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Pass),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(Some(listener), port, upstream, &s));
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

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Switches to `mode`, cutting every open connection.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        for s in lock(&self.shared.open).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Connections accepted so far (in any mode).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in lock(&self.shared.open).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    mut listener: Option<TcpListener>,
    port: u16,
    upstream: SocketAddr,
    shared: &Arc<Shared>,
) {
    while !shared.stop.load(Ordering::SeqCst) {
        let mode = shared.mode();
        if mode == Mode::Down {
            // Closing the listener makes the port refuse connections.
            listener = None;
            std::thread::sleep(POLL);
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    std::thread::sleep(POLL);
                    continue;
                }
            },
        };
        let _ = l.set_nonblocking(true);
        match l.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let s = shared.clone();
                std::thread::spawn(move || handle(client, upstream, mode, &s));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Keeps a clone of `s` so a mode change can cut it.
fn track(s: &TcpStream, shared: &Shared) {
    if let Ok(c) = s.try_clone() {
        let mut open = lock(&shared.open);
        open.retain(|o| o.peer_addr().is_ok());
        open.push(c);
    }
}

fn handle(client: TcpStream, upstream: SocketAddr, mode: Mode, shared: &Arc<Shared>) {
    let epoch = shared.epoch.load(Ordering::SeqCst);
    track(&client, shared);
    let current = |shared: &Shared| {
        !shared.stop.load(Ordering::SeqCst) && shared.epoch.load(Ordering::SeqCst) == epoch
    };
    match mode {
        Mode::Down | Mode::Refusing => {
            let _ = client.shutdown(Shutdown::Both);
        }
        Mode::Blackholed => {
            let mut client = client;
            let _ = client.set_read_timeout(Some(POLL));
            let mut scratch = [0u8; 16 * 1024];
            while current(shared) {
                match client.read(&mut scratch) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if timed_out(&e) => {}
                    Err(_) => return,
                }
            }
        }
        Mode::Unavailable { retry_after } => {
            let mut client = client;
            let _ = client.set_read_timeout(Some(POLL));
            let mut buf = Vec::new();
            while current(shared) && read_http_request(&mut client, &mut buf, shared, epoch) {
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\nretry-after: {retry_after}\r\n\
                     content-length: 0\r\n\r\n"
                );
                if client.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
        }
        Mode::NotTls => {
            let mut client = client;
            let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
            let mut scratch = [0u8; 1024];
            let _ = client.read(&mut scratch);
            let _ = client.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            let _ = client.shutdown(Shutdown::Both);
        }
        Mode::Pass | Mode::Slow { .. } => {
            let delay = match mode {
                Mode::Slow { delay } => Some(delay),
                _ => None,
            };
            let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            track(&server, shared);
            let asked = Arc::new(AtomicBool::new(false));
            let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                (Ok(c), Ok(s)) => (c, s),
                _ => return,
            };
            let a = asked.clone();
            let sh = shared.clone();
            let up = std::thread::spawn(move || pump(c2, s2, None, &a, &sh, epoch));
            pump(server, client, delay, &asked, shared, epoch);
            let _ = up.join();
        }
    }
}

/// Copies `from` to `to` until either side closes or the mode changes.
/// Toward the server (`delay` none) it marks that a request went out;
/// toward the client with a `delay`, the first bytes of each answer wait.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Option<Duration>,
    asked: &AtomicBool,
    shared: &Shared,
    epoch: u64,
) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) || shared.epoch.load(Ordering::SeqCst) != epoch {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                match delay {
                    Some(d) if asked.swap(false, Ordering::SeqCst) => {
                        if !sleep_unless_changed(d, shared, epoch) {
                            break;
                        }
                    }
                    Some(_) => {}
                    None => asked.store(true, Ordering::SeqCst),
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Sleeps `d` in steps; false when the mode changed or the proxy stopped.
fn sleep_unless_changed(d: Duration, shared: &Shared, epoch: u64) -> bool {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        if shared.stop.load(Ordering::SeqCst) || shared.epoch.load(Ordering::SeqCst) != epoch {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body) into
/// nothing; false on hang-up, stop or mode change.
fn read_http_request(s: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared, epoch: u64) -> bool {
    read_message(s, buf, || {
        !shared.stop.load(Ordering::SeqCst) && shared.epoch.load(Ordering::SeqCst) == epoch
    })
    .is_some()
}

/// Reads one HTTP/1.1 message (head and `Content-Length` body) from `r`,
/// with `buf` holding what was read past the previous one; `None` on
/// hang-up or once `go_on` says so.
fn read_message(r: &mut impl Read, buf: &mut Vec<u8>, go_on: impl Fn() -> bool) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    let mut fill = |buf: &mut Vec<u8>| loop {
        if !go_on() {
            return false;
        }
        match r.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e) if timed_out(&e) => {}
            Err(_) => return false,
        }
    };
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(buf) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        if !fill(buf) {
            return None;
        }
    }
    Some(buf.drain(..head_end + length).collect())
}

/// A TLS terminator in front of a plain HTTP/1.1 service (the loopback
/// [`crate::Receiver`]): each connection's TLS handshake uses `config`,
/// then its requests go to `upstream` one at a time and the answers come
/// back. Put a [`FaultProxy`] in front of it to break TLS on purpose.
pub struct TlsFront {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub fn start(config: Arc<rustls::ServerConfig>, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let accept = std::thread::spawn(move || {
            let _ = listener.set_nonblocking(true);
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nonblocking(false);
                        let (config, st) = (config.clone(), st.clone());
                        std::thread::spawn(move || terminate(tcp, config, upstream, &st));
                    }
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        Self {
            port,
            stop,
            accept: Some(accept),
        }
    }

    /// The address listened on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn terminate(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    upstream: SocketAddr,
    stop: &AtomicBool,
) {
    let _ = tcp.set_read_timeout(Some(POLL));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let Ok(mut server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
        return;
    };
    let _ = server.set_read_timeout(Some(POLL));
    let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
    let go_on = || !stop.load(Ordering::SeqCst);
    while let Some(request) = read_message(&mut tls, &mut from_client, go_on) {
        let Some(answer) = server
            .write_all(&request)
            .ok()
            .and_then(|()| read_message(&mut server, &mut from_server, go_on))
        else {
            return;
        };
        if tls.write_all(&answer).and_then(|()| tls.flush()).is_err() {
            return;
        }
    }
}
