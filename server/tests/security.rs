//! Security of a server exposed beyond loopback: every viewer and API
//! route needs a login session, ingest needs an API key (optionally
//! restricted to services), state-changing calls need the CSRF token,
//! logins are rate-limited, TLS with a test CA (the core's own OTLP
//! exporter trusting it or not), slow clients are cut off, connections are
//! capped, and a non-loopback listener refuses to start unprotected.

mod support;
mod viewer_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use osprey::export::Exporter;
use osprey::export::otlp::{OtlpConfig, OtlpExporter};
use osprey::model::{ExportBatch, Resource as CoreResource, SpanId, TraceId, TransactionRecord};
use osprey::names::intern;
use osprey_server::api::{self, Running, TlsFiles};
use osprey_server::app::ServerConfig;
use osprey_server::auth::{self, Role};
use prost::Message;
use serde_json::{Value, json};
use support::*;

const ADMIN: (&str, &str) = ("ada", "correct horse battery");
const VIEWER: (&str, &str) = ("vic", "staple paper clip");

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A client of one server: every status is an answer, no redirects
/// followed, TLS trusting `ca` when given.
struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(base: &str, ca: Option<&[u8]>) -> Self {
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)));
        if let Some(der) = ca {
            let cert = ureq::tls::Certificate::from_der(der).to_owned();
            cfg = cfg.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                    .build(),
            );
        }
        Self {
            agent: cfg.build().into(),
            base: base.to_owned(),
        }
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = self
            .agent
            .run(req.body(body.to_vec()).unwrap())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Answer {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        match cookie {
            Some(c) => self.send("GET", path, &[("cookie", c)], b""),
            None => self.send("GET", path, &[], b""),
        }
    }

    fn login(&self, user: &str, password: &str) -> Answer {
        self.send(
            "POST",
            "/login",
            &[("content-type", "application/json")],
            json!({"user": user, "password": password})
                .to_string()
                .as_bytes(),
        )
    }

    /// Logs in; the cookie and the CSRF token.
    fn session(&self, (user, password): (&str, &str)) -> (String, String) {
        let a = self.login(user, password);
        assert_eq!(a.status, 200, "login of {user}: {}", a.body);
        let set = a.header("set-cookie").expect("a session cookie").to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        (cookie, a.json()["csrf"].as_str().unwrap().to_owned())
    }

    fn ingest(&self, path: &str, key: Option<&str>, body: &[u8]) -> Answer {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut h = vec![("content-type", "application/x-protobuf")];
        if let Some(a) = &auth {
            h.push(("authorization", a.as_str()));
        }
        self.send("POST", path, &h, body)
    }
}

/// A data directory with an admin, a viewer and the given keys; returns
/// the keys.
fn secured_dir(dir: &Path, keys: &[(&str, &[&str])]) -> Vec<String> {
    auth::users::add(dir, ADMIN.0, Role::Admin, ADMIN.1).unwrap();
    auth::users::add(dir, VIEWER.0, Role::Viewer, VIEWER.1).unwrap();
    keys.iter()
        .map(|(name, services)| {
            auth::keys::add(
                dir,
                Some((*name).to_owned()),
                services.iter().map(|s| (*s).to_owned()).collect(),
            )
            .unwrap()
            .1
        })
        .collect()
}

fn start(config: ServerConfig) -> Running {
    api::start(config, "127.0.0.1:0".parse().unwrap()).unwrap()
}

fn now_ns() -> u64 {
    auth::now_ms() * MS
}

/// An OTLP trace request of one server span of `service`.
fn traces_of(services: &[&str], trace: u8) -> Vec<u8> {
    let start = now_ns() - 50 * MS;
    let mut req = request(
        services[0],
        vec![span(
            trace,
            trace,
            None,
            "GET /secret",
            SpanKind::Server,
            start,
            start + 5 * MS,
            vec![],
        )],
    );
    for (i, s) in services.iter().enumerate().skip(1) {
        let mut more = request(
            s,
            vec![span(
                trace,
                trace + i as u8,
                None,
                "GET /other",
                SpanKind::Server,
                start,
                start + 5 * MS,
                vec![],
            )],
        );
        req.resource_spans.append(&mut more.resource_spans);
    }
    req.encode_to_vec()
}

fn metrics_of(service: &str) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", sv(service))],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "jvm.threads".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: now_ns(),
                            value: Some(number_data_point::Value::AsInt(7)),
                            ..NumberDataPoint::default()
                        }],
                    })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

fn active_of(service: &str) -> Vec<u8> {
    json!({"service": service, "transactions": [{"endpoint": "GET /x", "elapsed_ms": 5.0}]})
        .to_string()
        .into_bytes()
}

/// What the store holds, seen through the API with an admin session.
fn stored(c: &Client, cookie: &str) -> (u64, Vec<String>, usize, usize) {
    let status = c.get("/api/status", Some(cookie)).json();
    let list = c.get("/api/transactions?limit=1000", Some(cookie)).json();
    let mut services: Vec<String> = list["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["service"].as_str().unwrap().to_owned())
        .collect();
    services.sort();
    let metrics = c
        .get("/api/metrics?from=0", Some(cookie))
        .json()
        .get("series")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let active = c.get("/api/active", Some(cookie)).json()["services"]
        .as_array()
        .map_or(0, Vec::len);
    (
        status["records_written"].as_u64().unwrap(),
        services,
        metrics,
        active,
    )
}

/// Every file under `server/assets` the viewer serves behind the login.
fn viewer_assets() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("login."))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    names
}

#[test]
fn without_a_session_every_route_and_asset_is_refused_and_the_page_goes_to_login() {
    let dir = TempDir::new("sec-routes");
    secured_dir(&dir.0, &[]);
    let server = start(ServerConfig::new(&dir.0));
    let c = Client::new(&server.base_url(), None);
    let routes = [
        "/api/status",
        "/api/transactions",
        "/api/xlog",
        "/api/tree/0101010101010101",
        "/api/aggregates",
        "/api/servermap",
        "/api/at?t=0",
        "/api/metrics",
        "/api/active",
        "/api/session",
    ];
    let assets: Vec<String> = viewer_assets().iter().map(|a| format!("/ui/{a}")).collect();
    for path in routes
        .iter()
        .copied()
        .chain(assets.iter().map(String::as_str))
    {
        for cookie in [None, Some("osprey_session=00ff00ff"), Some("other=1")] {
            let a = c.get(path, cookie);
            assert_eq!(a.status, 401, "GET {path} with {cookie:?}: {}", a.body);
            assert!(!a.body.contains("Osprey"), "{path} leaked content");
        }
    }
    let page = c.get("/", None);
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login"));
    let login = c.get("/login", None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("<form id=\"login\""), "{}", login.body);
    assert!(
        login
            .header("content-security-policy")
            .is_some_and(|p| p.contains("default-src 'self'"))
    );
    for public in ["/ui/login.js", "/ui/login.css"] {
        assert_eq!(c.get(public, None).status, 200, "{public}");
    }
    // The same routes with a session.
    let (cookie, _) = c.session(VIEWER);
    for path in routes.iter().filter(|r| !r.starts_with("/api/tree")) {
        assert_eq!(c.get(path, Some(&cookie)).status, 200, "{path}");
    }
    for path in &assets {
        assert_eq!(c.get(path, Some(&cookie)).status, 200, "{path}");
    }
    assert_eq!(c.get("/", Some(&cookie)).status, 200);
    server.stop();
}

#[test]
fn ingest_without_a_valid_key_is_refused_and_nothing_is_stored() {
    let dir = TempDir::new("sec-keys");
    let keys = secured_dir(&dir.0, &[("agents", &[])]);
    let server = start(ServerConfig::new(&dir.0));
    let c = Client::new(&server.base_url(), None);
    let (admin, _) = c.session(ADMIN);
    let wrong = format!("{}0", &keys[0][..keys[0].len() - 1]);
    let bodies = [
        ("/v1/traces", traces_of(&["svc-a"], 0x11)),
        ("/v1/metrics", metrics_of("svc-a")),
        ("/v1/active", active_of("svc-a")),
    ];
    for (path, body) in &bodies {
        for key in [None, Some(wrong.as_str()), Some("")] {
            let a = c.ingest(path, key, body);
            assert_eq!(a.status, 401, "{path} with {key:?}: {}", a.body);
            assert!(a.header("www-authenticate").is_some());
        }
        // The key without the Bearer scheme, and a session cookie, are not keys.
        let raw = c.send("POST", path, &[("authorization", keys[0].as_str())], body);
        assert_eq!(raw.status, 401, "{path}");
        let by_cookie = c.send("POST", path, &[("cookie", admin.as_str())], body);
        assert_eq!(by_cookie.status, 401, "{path}");
    }
    assert_eq!(stored(&c, &admin), (0, vec![], 0, 0));

    for (path, body) in &bodies {
        let a = c.ingest(path, Some(&keys[0]), body);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }
    // Traces, metrics, and the active report (kept for replay).
    assert_eq!(stored(&c, &admin), (3, vec!["svc-a".to_owned()], 1, 1));

    // A key removed while the server runs is refused from then on.
    assert_eq!(auth::keys::remove(&dir.0, "agents").unwrap(), 1);
    let a = c.ingest("/v1/traces", Some(&keys[0]), &traces_of(&["svc-a"], 0x12));
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(stored(&c, &admin).0, 3);
    server.stop();
}

#[test]
fn a_key_restricted_to_services_stores_only_those() {
    let dir = TempDir::new("sec-scope");
    let keys = secured_dir(&dir.0, &[("a-only", &["svc-a", "svc-c"])]);
    let server = start(ServerConfig::new(&dir.0));
    let c = Client::new(&server.base_url(), None);
    let (admin, _) = c.session(ADMIN);
    let key = Some(keys[0].as_str());
    for (path, body) in [
        ("/v1/traces", traces_of(&["svc-b"], 0x21)),
        ("/v1/traces", traces_of(&["svc-a", "svc-b"], 0x22)),
        ("/v1/metrics", metrics_of("svc-b")),
        ("/v1/active", active_of("svc-b")),
    ] {
        let a = c.ingest(path, key, &body);
        assert_eq!(a.status, 403, "{path}: {}", a.body);
        assert!(a.body.contains("svc-b"), "{}", a.body);
    }
    assert_eq!(stored(&c, &admin), (0, vec![], 0, 0));
    let a = c.ingest("/v1/traces", key, &traces_of(&["svc-a", "svc-c"], 0x23));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        c.ingest("/v1/metrics", key, &metrics_of("svc-c")).status,
        200
    );
    assert_eq!(
        stored(&c, &admin),
        (2, vec!["svc-a".to_owned(), "svc-c".to_owned()], 1, 0)
    );
    server.stop();
}

#[test]
fn a_configured_header_carries_the_key() {
    let dir = TempDir::new("sec-header");
    let keys = secured_dir(&dir.0, &[("hdr", &[])]);
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.auth.key_header = "x-osprey-key".parse().unwrap();
    let server = start(cfg);
    let c = Client::new(&server.base_url(), None);
    let body = traces_of(&["svc-h"], 0x31);
    let ct = ("content-type", "application/x-protobuf");
    let bearer = format!("Bearer {}", keys[0]);
    // In Authorization it is not looked at; in the configured header, bare or Bearer.
    let a = c.send(
        "POST",
        "/v1/traces",
        &[ct, ("authorization", &bearer)],
        &body,
    );
    assert_eq!(a.status, 401);
    let a = c.send(
        "POST",
        "/v1/traces",
        &[ct, ("x-osprey-key", &keys[0])],
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = c.send(
        "POST",
        "/v1/traces",
        &[ct, ("x-osprey-key", &bearer)],
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    server.stop();
}

fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn login_sessions_csrf_roles_and_logout() {
    let dir = TempDir::new("sec-login");
    secured_dir(&dir.0, &[]);
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.auth.session_ttl = Duration::from_secs(3600);
    let server = start(cfg);
    let c = Client::new(&server.base_url(), None);

    let bad = c.login(ADMIN.0, "wrong password");
    assert_eq!(bad.status, 401);
    assert!(bad.header("set-cookie").is_none());
    let unknown = c.login("nobody", ADMIN.1);
    assert_eq!(unknown.status, 401);
    // Only JSON: a cross-site HTML form cannot post a login.
    let form = c.send(
        "POST",
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("user={}&password={}", ADMIN.0, ADMIN.1).as_bytes(),
    );
    assert_eq!(form.status, 415);

    let ok = c.login(ADMIN.0, ADMIN.1);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let set = ok.header("set-cookie").unwrap().to_owned();
    let attrs = cookie_attributes(&set);
    for want in ["httponly", "samesite=strict", "path=/", "max-age=3600"] {
        assert!(attrs.contains(&want.to_owned()), "{set}");
    }
    assert!(!attrs.contains(&"secure".to_owned()), "plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let info = c.get("/api/session", Some(&cookie)).json();
    assert_eq!(info["user"], ADMIN.0);
    assert_eq!(info["role"], "admin");
    let csrf = info["csrf"].as_str().unwrap().to_owned();
    assert_eq!(csrf, ok.json()["csrf"]);
    let info_ms = info["expires_ms"].as_u64().unwrap();
    assert!(info_ms > auth::now_ms() + 3_500_000 && info_ms <= auth::now_ms() + 3_600_000);

    // State-changing calls: the CSRF token is needed, and the admin role under /api.
    let logout = |token: Option<&str>, cookie: &str| {
        let mut h = vec![("cookie", cookie)];
        if let Some(t) = token {
            h.push(("x-csrf-token", t));
        }
        c.send("POST", "/logout", &h, b"")
    };
    assert_eq!(logout(None, &cookie).status, 403);
    assert_eq!(logout(Some("0123"), &cookie).status, 403);
    assert_eq!(logout(Some(""), &cookie).status, 403);
    let (viewer, viewer_csrf) = c.session(VIEWER);
    // Another session's token is not this one's.
    assert_eq!(logout(Some(&viewer_csrf), &cookie).status, 403);
    assert_eq!(c.get("/api/status", Some(&cookie)).status, 200);
    let post = |cookie: &str, token: &str| {
        c.send(
            "POST",
            "/api/status",
            &[("cookie", cookie), ("x-csrf-token", token)],
            b"",
        )
        .status
    };
    assert_eq!(post(&viewer, &viewer_csrf), 403, "viewers change nothing");
    assert_eq!(post(&viewer, "nope"), 403);
    assert_eq!(post(&cookie, "nope"), 403);
    // The admin passes both checks and meets the route (GET only).
    assert_eq!(post(&cookie, &csrf), 405);

    let out = logout(Some(&csrf), &cookie);
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(c.get("/api/status", Some(&cookie)).status, 401);
    assert_eq!(c.get("/", Some(&cookie)).status, 303);

    // A user removed while the server runs loses the session at once.
    assert_eq!(c.get("/api/status", Some(&viewer)).status, 200);
    assert!(auth::users::remove(&dir.0, VIEWER.0).unwrap());
    assert_eq!(c.get("/api/status", Some(&viewer)).status, 401);
    assert_eq!(c.login(VIEWER.0, VIEWER.1).status, 401);
    server.stop();
}

#[test]
fn failed_logins_are_rate_limited() {
    let dir = TempDir::new("sec-limit");
    secured_dir(&dir.0, &[]);
    let server = start(ServerConfig::new(&dir.0));
    let c = Client::new(&server.base_url(), None);
    for i in 0..5 {
        assert_eq!(c.login(ADMIN.0, "guess").status, 401, "attempt {i}");
    }
    // Past the limit even the right password waits.
    let limited = c.login(ADMIN.0, ADMIN.1);
    assert_eq!(limited.status, 429, "{}", limited.body);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The client's address is limited too, whatever the name.
    assert_eq!(c.login(VIEWER.0, VIEWER.1).status, 429);
    // Parallel guesses cannot slip through together.
    let dir2 = TempDir::new("sec-limit2");
    secured_dir(&dir2.0, &[]);
    let server2 = start(ServerConfig::new(&dir2.0));
    let base = server2.base_url();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| Client::new(&base, None).login(ADMIN.0, "guess").status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
    server.stop();
    server2.stop();
}

/// A test CA and a server certificate it signed for localhost and 127.0.0.1.
struct TestPki {
    ca_pem_file: PathBuf,
    ca_der: Vec<u8>,
    tls: TlsFiles,
}

fn test_pki(dir: &Path) -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Osprey test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let files = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    TestPki {
        ca_pem_file: files("ca.pem", ca.pem()),
        ca_der: ca.der().to_vec(),
        tls: TlsFiles {
            cert: files("server.pem", leaf.pem()),
            key: files("server.key", leaf_key.serialize_pem()),
        },
    }
}

fn core_batch(service: &str, trace: u8) -> ExportBatch {
    ExportBatch {
        resource: Arc::new(CoreResource {
            service_name: service.into(),
            attributes: vec![],
        }),
        transactions: vec![TransactionRecord {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([trace; 8]),
            parent_span_id: None,
            kind: osprey::model::SpanKind::Server,
            name: intern("GET /over-tls"),
            start_unix_ns: now_ns() - 20 * MS,
            elapsed_ns: 10 * MS,
            busy_ns: None,
            error: None,
            attributes: vec![],
            steps: vec![],
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 1,
        }],
        ..ExportBatch::default()
    }
}

#[test]
fn tls_with_a_test_ca_the_core_exporter_that_trusts_it_delivers_one_that_does_not_is_refused() {
    let dir = TempDir::new("sec-tls");
    let pki_dir = TempDir::new("sec-pki");
    let pki = test_pki(&pki_dir.0);
    let keys = secured_dir(&dir.0, &[("tls-agent", &["tls-svc"])]);
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.net.tls = Some(pki.tls.clone());
    let server = start(cfg);
    let port = server.addr.port();
    let url = format!("https://localhost:{port}");
    assert!(server.base_url().starts_with("https://"));
    let c = Client::new(&url, Some(&pki.ca_der));
    let (admin, _) = c.session(ADMIN);

    // Generous timeouts (each attempt also ends with the retry budget): a
    // debug build's handshakes on a busy 2-core machine. The core retries a
    // failed handshake as a connection failure, hence a shorter budget for
    // the one that is refused.
    let exporter = |ca: Option<&Path>, key: &str, budget: u64| {
        let mut otlp = OtlpConfig::default()
            .endpoint(&url)
            .timeout(Duration::from_secs(30))
            .max_retry_time(Duration::from_secs(budget))
            .header("Authorization", &format!("Bearer {key}"));
        otlp.ca_file = ca.map(Path::to_path_buf);
        OtlpExporter::new(otlp).unwrap()
    };
    // Configured as an agent is, by the standard variables (the key as
    // `osprey key add` says, the test CA): delivered and stored.
    let env = |name: &str| {
        Some(match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => url.clone(),
            "OTEL_EXPORTER_OTLP_HEADERS" => format!("Authorization=Bearer%20{}", keys[0]),
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => pki.ca_pem_file.display().to_string(),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => "30000".to_owned(),
            _ => return None,
        })
    };
    let agent = OtlpConfig::default()
        .max_retry_time(Duration::from_secs(30))
        .with_env(env)
        .unwrap();
    OtlpExporter::new(agent)
        .unwrap()
        .export(&core_batch("tls-svc", 0x41))
        .expect("delivered over TLS");
    // Without the CA (webpki roots only): the handshake fails.
    let refused = exporter(None, &keys[0], 10)
        .export(&core_batch("tls-svc", 0x42))
        .expect_err("an untrusted certificate is refused");
    let text = refused.to_string().to_ascii_lowercase();
    assert!(
        text.contains("certificate") || text.contains("issuer"),
        "{text}"
    );
    // Trusting the CA but with a wrong key: refused by the server.
    assert!(
        exporter(Some(&pki.ca_pem_file), "osk_wrong", 30)
            .export(&core_batch("tls-svc", 0x43))
            .is_err()
    );
    let list = c.get("/api/transactions", Some(&admin)).json();
    let ids: Vec<&str> = list["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["41".repeat(16)]);

    // Plain HTTP to the TLS port gets no answer; the cookie is Secure.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    plain
        .write_all(b"GET /api/status HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    let ok = c.login(ADMIN.0, ADMIN.1);
    assert!(cookie_attributes(ok.header("set-cookie").unwrap()).contains(&"secure".to_owned()));
    // The terminal helpers over TLS: with the CA they log in and read.
    let ca = pki.ca_pem_file.to_str().unwrap();
    let trace = "41".repeat(16);
    let args = ["tree", &trace, "--server", &url, "--user", ADMIN.0];
    let (ok, out, err) = run_osprey(&[&args[..], &["--ca-file", ca]].concat(), ADMIN.1);
    assert!(ok, "{err}");
    assert!(out.contains("GET /over-tls"), "{out}");
    let (ok, _, err) = run_osprey(&args, ADMIN.1);
    assert!(!ok, "an untrusted server: {err}");
    server.stop();
}

/// Reads until the server closes; what it sent and when it closed.
fn read_until_closed(mut s: TcpStream) -> (String, Instant) {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

#[test]
fn slow_and_idle_clients_are_cut_off_while_others_are_served() {
    let dir = TempDir::new("sec-slow");
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.net.header_timeout = Duration::from_secs(1);
    cfg.net.body_timeout = Duration::from_secs(2);
    let server = start(cfg);
    let addr = server.addr;
    let began = Instant::now();
    // 20 clients send headers and 3 bytes of a 1 MB body, then a byte now and then.
    let trickling: Vec<_> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(
                b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
                  content-length: 1000000\r\n\r\nabc",
            )
            .unwrap();
            let writer = s.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut w = writer;
                while w.write_all(b"x").is_ok() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            s
        })
        .collect();
    // 20 never finish their headers, 5 send nothing at all.
    let stuck: Vec<_> = (0..25)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            if i < 20 {
                s.write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
                    .unwrap();
            }
            s
        })
        .collect();
    // One is answered, then keeps its connection open and idle.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /api/status HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    // Meanwhile a normal client is served.
    let body = traces_of(&["svc-ok"], 0x51);
    let (status, text) = post(
        &format!("{}/v1/traces", server.base_url()),
        "application/x-protobuf",
        None,
        &body,
    );
    assert_eq!(status, 200, "{text}");

    let results: Vec<_> = trickling
        .into_iter()
        .map(|s| std::thread::spawn(move || read_until_closed(s)))
        .collect();
    let idle: Vec<_> = stuck
        .into_iter()
        .map(|s| std::thread::spawn(move || read_until_closed(s)))
        .collect();
    for r in results {
        let (answer, at) = r.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(at - began < Duration::from_secs(30), "{:?}", at - began);
    }
    for r in idle {
        let (answer, at) = r.join().unwrap();
        assert!(!answer.contains("200 OK"), "{answer}");
        assert!(at - began < Duration::from_secs(30), "{:?}", at - began);
    }
    let (answer, at) = read_until_closed(kept);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
    assert!(at - began < Duration::from_secs(30), "{:?}", at - began);
    // Nothing of the slow bodies was stored; the server still serves.
    let st = get(&format!("{}/api/status", server.base_url()));
    assert_eq!(st["records_written"], 1);
    server.stop();
}

#[test]
fn connections_past_the_cap_are_turned_away_until_one_closes() {
    let dir = TempDir::new("sec-cap");
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.net.max_connections = 4;
    cfg.net.header_timeout = Duration::from_secs(60);
    let server = start(cfg);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET /api/status HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // The fifth is told 503 and closed (it reads first: nothing of its
    // request is lost to a reset).
    let fifth = TcpStream::connect(server.addr).unwrap();
    let (answer, _) = read_until_closed(fifth);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(held);
    let url = format!("{}/api/status", server.base_url());
    let served = (0..200).any(|_| {
        let (status, _) = get_status(&url);
        status == 200 || {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    });
    assert!(served, "a slot was freed by the closed connections");
    server.stop();
}

fn osprey(args: &[&str], stdin: &str) -> (bool, String, String) {
    run_osprey(args, stdin)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_and_users_from_the_cli_are_stored_hashed_and_private() {
    let dir = TempDir::new("sec-cli");
    let data = dir.0.to_str().unwrap();
    let (ok, key, err) = osprey(
        &[
            "key",
            "add",
            "--service",
            "svc-a,svc-b",
            "--name",
            "edge",
            "--data",
            data,
        ],
        "",
    );
    assert!(ok, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("osk_") && key.len() == 68, "{key}");
    assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20"));
    let (ok, list, _) = osprey(&["key", "list", "--data", data], "");
    assert!(ok);
    assert!(
        list.contains("edge") && list.contains("svc-a,svc-b"),
        "{list}"
    );
    assert!(!list.contains(&key[4..]), "list shows the key");

    let (ok, out, err) = osprey(
        &["user", "add", "ops", "--role", "admin", "--data", data],
        "a long password\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("ops"));
    let (ok, _, err) = osprey(&["user", "add", "short", "--data", data], "pw\n");
    assert!(!ok && err.contains("shorter"), "{err}");
    let (ok, list, _) = osprey(&["user", "list", "--data", data], "");
    assert!(ok && list.contains("ops\tadmin"), "{list}");

    let auth_dir = dir.0.join("auth");
    for f in ["keys.json", "users.json"] {
        let text = std::fs::read_to_string(auth_dir.join(f)).unwrap();
        assert!(!text.contains(&key[4..]), "{f} holds the key");
        assert!(!text.contains("a long password"), "{f} holds the password");
        #[cfg(unix)]
        assert_eq!(mode(&auth_dir.join(f)), 0o600, "{f}");
    }
    #[cfg(unix)]
    assert_eq!(mode(&auth_dir), 0o700);
    let users = std::fs::read_to_string(auth_dir.join("users.json")).unwrap();
    assert!(users.contains("$argon2id$"), "{users}");

    // The server started on that directory has auth on and takes that key.
    let server = start(ServerConfig::new(&dir.0));
    let c = Client::new(&server.base_url(), None);
    assert_eq!(c.get("/api/status", None).status, 401);
    let (admin, _) = c.session(("ops", "a long password"));
    let a = c.ingest("/v1/traces", Some(&key), &traces_of(&["svc-b"], 0x61));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(stored(&c, &admin).1, ["svc-b"]);
    // The terminal helpers log in with --user (password on stdin).
    let url = server.base_url();
    let trace = "61".repeat(16);
    let (ok, _, err) = osprey(&["tree", &trace, "--server", &url], "");
    assert!(!ok && err.contains("login required"), "{err}");
    let (ok, out, err) = osprey(
        &["tree", &trace, "--server", &url, "--user", "ops"],
        "a long password\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("GET /secret"), "{out}");
    let (ok, _, err) = osprey(
        &["tree", &trace, "--server", &url, "--user", "ops"],
        "wrong password\n",
    );
    assert!(!ok && err.contains("login refused (401)"), "{err}");

    let (ok, _, _) = osprey(&["key", "remove", "edge", "--data", data], "");
    assert!(ok);
    let a = c.ingest("/v1/traces", Some(&key), &traces_of(&["svc-b"], 0x62));
    assert_eq!(a.status, 401);
    let (ok, _, err) = osprey(&["key", "remove", "edge", "--data", data], "");
    assert!(!ok && err.contains("no key"), "{err}");
    server.stop();
}

/// Starts `osprey serve` with `args`; whether it runs (says it listens)
/// and what it printed on stderr when it did not.
fn serve_starts(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["serve", "--grpc-listen", "off"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let _ = std::io::BufRead::read_line(&mut out, &mut first);
    let running = first.contains("listening on");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (running, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_non_loopback_listener_refuses_to_start_without_tls_and_auth() {
    let dir = TempDir::new("sec-expose");
    let pki_dir = TempDir::new("sec-expose-pki");
    let pki = test_pki(&pki_dir.0);
    let data = dir.0.to_str().unwrap();
    let (cert, key) = (
        pki.tls.cert.to_str().unwrap(),
        pki.tls.key.to_str().unwrap(),
    );
    let any = "0.0.0.0:0";
    let (running, err) = serve_starts(&["--listen", any, "--data", data]);
    assert!(
        !running && err.contains("TLS and auth") && err.contains("--insecure"),
        "{err}"
    );
    let (running, err) = serve_starts(&["--listen", any, "--data", data, "--auth"]);
    assert!(!running && err.contains("without TLS"), "{err}");
    let (running, err) = serve_starts(&[
        "--listen",
        any,
        "--data",
        data,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ]);
    assert!(!running && err.contains("without auth"), "{err}");
    // The old flag is gone.
    let (running, err) = serve_starts(&["--listen", any, "--data", data, "--allow-non-loopback"]);
    assert!(!running && err.contains("--allow-non-loopback"), "{err}");

    let (running, err) = serve_starts(&["--listen", any, "--data", data, "--insecure"]);
    assert!(running, "{err}");
    assert!(
        err.contains("WARNING") && err.contains("without TLS and auth"),
        "{err}"
    );
    let (running, err) = serve_starts(&[
        "--listen",
        any,
        "--data",
        data,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--auth",
    ]);
    assert!(running, "{err}");
    assert!(!err.contains("WARNING"), "{err}");
    // Loopback stays the open demo.
    let (running, err) = serve_starts(&["--listen", "127.0.0.1:0", "--data", data]);
    assert!(running, "{err}");
}

#[test]
fn the_login_flow_and_a_session_in_headless_chromium() {
    let dir = TempDir::new("sec-browser");
    let keys = secured_dir(&dir.0, &[("browser", &[])]);
    let server = start(ServerConfig::new(&dir.0));
    let url = server.base_url();
    let c = Client::new(&url, None);
    let a = c.ingest("/v1/traces", Some(&keys[0]), &traces_of(&["svc-web"], 0x71));
    assert_eq!(a.status, 200, "{}", a.body);

    let Some(browser) = viewer_support::Browser::start() else {
        eprintln!(
            "SKIPPED the browser part of security: chromium and chromedriver are not \
             installed (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let wait = Duration::from_secs(30);
    // The page without a session lands on the login form.
    browser.goto(&format!("{url}/"));
    browser.wait_for(
        "the login page",
        wait,
        "return location.pathname === '/login' && document.getElementById('login-user');",
    );
    let user = browser.find("#login-user");
    let password = browser.find("#login-password");
    browser.send_keys(&user, ADMIN.0);
    browser.send_keys(&password, "not the password\u{E007}");
    let error = browser.wait_for(
        "the error of a wrong password",
        wait,
        "return document.getElementById('login-error').textContent;",
    );
    assert_eq!(error, "Wrong user name or password.");
    let password = browser.find("#login-password");
    browser.send_keys(&password, &format!("{}\u{E007}", ADMIN.1));
    // Logged in: the viewer shows the user and the stored transaction.
    let who = browser.wait_for(
        "the viewer with the user's name",
        wait,
        "const w = document.getElementById('session-user');
         return location.pathname === '/' && w && w.textContent;",
    );
    assert_eq!(who, format!("{} (admin)", ADMIN.0));
    browser.wait_for(
        "the scatter's dot",
        wait,
        "const c = document.getElementById('xlog');
         return document.body.dataset.ready && c.dataset.dots == '1';",
    );
    // The session cookie is out of the page's reach (HttpOnly).
    let cookies = browser.js("return document.cookie;", json!([]));
    assert!(
        !cookies.as_str().unwrap_or("").contains("osprey_session"),
        "{cookies}"
    );
    // The page's own CSRF token lets it log out; then the page is closed again.
    browser.click(&browser.find("#logout"));
    browser.wait_for(
        "the login page after logout",
        wait,
        "return location.pathname === '/login' && document.getElementById('login-user');",
    );
    browser.goto(&format!("{url}/"));
    browser.wait_for(
        "the login page again",
        wait,
        "return location.pathname === '/login';",
    );
    let status = browser.js(
        "return fetch('/api/status').then((r) => r.status);",
        json!([]),
    );
    assert_eq!(status, 401);
    server.stop();
}

/// The first frame the server sends after the HTTP/2 preface.
fn first_h2_frame(mut s: impl Read + Write) -> [u8; 9] {
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    head
}

#[test]
fn http2_is_spoken_by_prior_knowledge_next_to_http1() {
    let dir = TempDir::new("sec-h2c");
    let server = start(ServerConfig::new(&dir.0));
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = first_h2_frame(s);
    // A SETTINGS frame (type 4) on stream 0.
    assert_eq!((head[3], &head[5..9]), (4, &[0u8, 0, 0, 0][..]), "{head:?}");
    // HTTP/1.1 on the same port as before.
    assert_eq!(
        get_status(&format!("{}/api/status", server.base_url())).0,
        200
    );
    server.stop();
}

#[test]
fn sessions_expire() {
    let dir = TempDir::new("sec-ttl");
    secured_dir(&dir.0, &[]);
    let mut cfg = ServerConfig::new(&dir.0);
    cfg.auth.session_ttl = Duration::from_millis(300);
    let server = start(cfg);
    let c = Client::new(&server.base_url(), None);
    let (cookie, _) = c.session(VIEWER);
    // Past its expiry (whatever the machine's speed) the session is gone.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(c.get("/api/status", Some(&cookie)).status, 401);
    assert_eq!(c.get("/", Some(&cookie)).status, 303);
    server.stop();
}
