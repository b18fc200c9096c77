//! The HTTP surface: OTLP/HTTP ingest (`/v1/*`, behind API keys) and the
//! JSON query API (`/api/*`) and viewer (behind a login) on one listener
//! ([`listen`]). See `server/README.md` for every route.

mod dashboards;
pub mod listen;
mod query;
mod report;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::app::{App, ServerConfig};
use crate::auth::{self, Auth, Grant};
use crate::ingest::Rejected;
use crate::ingest::otlp::{self, Encoding};
use crate::storage::{ActiveReport, StorageResult};
pub use listen::{NetConfig, TlsFiles};

/// How a request body is read: at most `max` bytes within `timeout`.
#[derive(Clone, Copy)]
struct BodyRead {
    max: usize,
    timeout: Duration,
}

/// Reads the whole body before the handler runs: slower than the body
/// timeout is 408 (and the connection closes), larger than the limit 413.
async fn read_body(State(limits): State<BodyRead>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, limits.max).collect();
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(Ok(collected)) => {
            next.run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => text(
            413,
            format!("request body larger than {} bytes", limits.max),
        ),
        Ok(Err(e)) => text(400, format!("cannot read the request body: {e}")),
        Err(_) => {
            let mut resp = text(408, "request body too slow".into());
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            resp
        }
    }
}

/// The routes over `app`, guarded by `auth`; `/metrics` and the alerts
/// API over `live`.
pub fn router(app: Arc<App>, auth: Arc<Auth>, live: Arc<crate::live::Live>) -> Router {
    let limit = app.config().max_body_bytes;
    let body = BodyRead {
        max: limit,
        timeout: app.config().net.body_timeout,
    };
    let read = || middleware::from_fn_with_state(body, read_body);
    let ingest = Router::new()
        .route(
            "/v1/traces",
            otlp_route(OtlpRoute {
                parse: otlp::parse_traces,
                services: span_services,
                store: App::ingest_spans,
            }),
        )
        .route(
            "/v1/metrics",
            otlp_route(OtlpRoute {
                parse: otlp::parse_metrics,
                services: metric_services,
                store: App::ingest_metrics,
            }),
        )
        .route("/v1/active", post(active_report))
        .layer(read())
        .layer(middleware::from_fn_with_state(
            auth.clone(),
            auth::http::require_key,
        ));
    let viewer = Router::new()
        .route("/api/status", get(query::status))
        .route("/api/transactions", get(query::transactions))
        .route("/api/xlog", get(query::xlog))
        .route("/api/tree/{id}", get(query::tree))
        .route("/api/aggregates", get(query::aggregates))
        .route("/api/servermap", get(query::servermap))
        .route("/api/at", get(query::at))
        .route("/api/metrics", get(query::metrics))
        .route("/api/active", get(query::active))
        .route("/api/instances", get(query::instances))
        .merge(crate::alerts::api::routes(live.clone()))
        .route("/api/report", get(report::report))
        .merge(dashboards::routes(&app.config().store.dir))
        .merge(crate::web::routes())
        .merge(auth::http::session_routes(auth.clone()))
        .layer(middleware::from_fn_with_state(app.clone(), mark_partial))
        .layer(read())
        .layer(middleware::from_fn_with_state(
            auth.clone(),
            auth::http::require_session,
        ));
    Router::new()
        .merge(ingest)
        .merge(viewer)
        .merge(auth::http::public_routes(auth.clone()).layer(read()))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app.clone())
        .merge(crate::prom::routes(live, auth.clone()))
        // OTLP/gRPC: tonic services behind the same keys, limited by their
        // own message sizes.
        .merge(crate::ingest::grpc::routes(app, auth))
        // Tells exporters they talk to an Osprey server (summaries on).
        .layer(axum::middleware::from_fn(otlp::announce))
}

/// The header naming what an answer leaves out (a sharded storage's
/// shards that are down): `x-osprey-partial: shard 2 (http://h:8123)`.
pub const PARTIAL_HEADER: &str = "x-osprey-partial";

/// Adds [`PARTIAL_HEADER`] to answers given while part of the storage is
/// unreachable.
async fn mark_partial(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    let missing = app.storage().missing();
    if !missing.is_empty()
        && let Ok(v) = axum::http::HeaderValue::from_str(&missing.join("; "))
    {
        resp.headers_mut().insert(PARTIAL_HEADER, v);
    }
    resp
}

fn text(status: u16, message: String) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

fn rejected(r: Rejected) -> Response {
    let mut resp = text(r.status, r.message);
    if r.status == 503 {
        // The storage is full or down: OTLP exporters retry after this.
        resp.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(1));
    }
    resp
}

/// Decodes the body per its headers and hands it to `store` on a
/// blocking thread; 200 only once the record is in the segment file.
/// Data of a service the key may not send is refused whole (403): nothing
/// of the request is stored.
async fn ingest<T: Send + 'static>(
    app: Arc<App>,
    grant: Grant,
    headers: HeaderMap,
    body: Bytes,
    route: OtlpRoute<T>,
) -> Response {
    let OtlpRoute {
        parse,
        services,
        store,
    } = route;
    let h = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (ct, ce) = (h(header::CONTENT_TYPE), h(header::CONTENT_ENCODING));
    let max = app.config().max_decompressed_bytes;
    let slots = app.clone();
    let _permit = slots.ingest_slot().await;
    let result = tokio::task::spawn_blocking(move || {
        let encoding = Encoding::from_content_type(ct.as_deref())?;
        let raw = otlp::decode_content(ce.as_deref(), &body, max)?;
        let items = parse(encoding, &raw)?;
        grant.check_services(services(&items))?;
        store(&app, items).map_err(|e| Rejected {
            status: 503,
            message: format!("cannot store the data: {e}"),
        })?;
        Ok::<Encoding, Rejected>(encoding)
    })
    .await;
    match result {
        Ok(Ok(Encoding::Json)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
        Ok(Ok(Encoding::Protobuf)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::new(),
        )
            .into_response(),
        Ok(Err(r)) => rejected(r),
        Err(e) => text(500, format!("ingest failed: {e}")),
    }
}

// `&Vec`: these fill `ingest`'s `fn(&T)` slot with T = `Vec<_>`.
#[allow(clippy::ptr_arg)]
fn span_services(spans: &Vec<crate::record::SpanRec>) -> Vec<&str> {
    spans.iter().map(|s| s.service.as_str()).collect()
}

#[allow(clippy::ptr_arg)]
fn metric_services(points: &Vec<crate::record::MetricPoint>) -> Vec<&str> {
    points.iter().map(|p| p.service.as_str()).collect()
}

/// One OTLP route: how its body is decoded, which services it holds,
/// where it is stored.
struct OtlpRoute<T> {
    parse: fn(Encoding, &[u8]) -> Result<T, Rejected>,
    services: fn(&T) -> Vec<&str>,
    store: fn(&App, T) -> StorageResult<()>,
}

impl<T> Clone for OtlpRoute<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for OtlpRoute<T> {}

fn otlp_route<T: Send + 'static>(route: OtlpRoute<T>) -> MethodRouter<Arc<App>> {
    post(
        move |State(app): State<Arc<App>>,
              Extension(grant): Extension<Grant>,
              headers: HeaderMap,
              body: Bytes| ingest(app, grant, headers, body, route),
    )
}

async fn active_report(
    State(app): State<Arc<App>>,
    Extension(grant): Extension<Grant>,
    body: Bytes,
) -> Response {
    match serde_json::from_slice::<ActiveReport>(&body) {
        Ok(r) => {
            if let Err(e) = grant.check_services([r.service.as_str()]) {
                return rejected(e.into());
            }
            if let Err(e) = app.report_active(r) {
                return text(503, format!("cannot keep the report: {e}"));
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{}",
            )
                .into_response()
        }
        Err(e) => text(400, format!("invalid active-services report: {e}")),
    }
}

/// A running server.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The second address, when [`NetConfig::grpc_listen`] was set.
    pub grpc_addr: Option<SocketAddr>,
    /// The state it serves.
    pub app: Arc<App>,
    /// Its keys, users and sessions.
    pub auth: Arc<Auth>,
    /// The live feed, `/metrics` counters and alert engine.
    pub live: Arc<crate::live::Live>,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// `http://<addr>`, or `https://<addr>` when serving TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Opens the store and serves on `listen` from a background thread with
/// its own runtime (used by `osprey serve`, tests and benchmarks).
pub fn start(mut config: ServerConfig, listen: SocketAddr) -> io::Result<Running> {
    let tls = config
        .net
        .tls
        .as_ref()
        .map(listen::tls_acceptor)
        .transpose()?;
    config.auth.secure_cookies |= tls.is_some();
    let auth = Arc::new(Auth::open(&config.store.dir, config.auth.clone())?);
    let net = config.net.clone();
    let alerts = crate::alerts::Alerts::open(&config.alerts, &config.store.dir)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("alerts: {e}")))?;
    let app = App::open(config)?;
    let live = Arc::new(
        crate::live::Live::new(app.clone(), alerts)
            .map_err(|e| io::Error::other(format!("live feed: {e}")))?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(listen))?;
    let addr = listener.local_addr()?;
    let grpc_listener = match net.grpc_listen {
        Some(a) => Some(rt.block_on(tokio::net::TcpListener::bind(a))?),
        None => None,
    };
    let grpc_addr = grpc_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    let guard = auth.clone();
    let watched = live.clone();
    let secure = tls.is_some();
    let thread = std::thread::Builder::new()
        .name("osprey-server".into())
        .spawn(move || {
            rt.block_on(async move {
                let maint = served.clone();
                let ticker = tokio::spawn(async move {
                    let mut every = tokio::time::interval(App::MAINTAIN_EVERY);
                    loop {
                        every.tick().await;
                        let app = maint.clone();
                        let _ = tokio::task::spawn_blocking(move || app.maintain()).await;
                    }
                });
                let every = watched.clone();
                let evaluator = tokio::spawn(async move {
                    let mut tick = tokio::time::interval(crate::live::Live::EVERY);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    loop {
                        tick.tick().await;
                        let live = every.clone();
                        let _ =
                            tokio::task::spawn_blocking(move || live.step(crate::time::now_ms()))
                                .await;
                    }
                });
                let routes = router(served, guard, watched);
                let slots = listen::connection_slots(&net);
                let (stop_all, stopping) = tokio::sync::watch::channel(());
                let until = |mut rx: tokio::sync::watch::Receiver<()>| async move {
                    let _ = rx.changed().await;
                };
                let main = listen::serve(
                    listener,
                    routes.clone(),
                    net.clone(),
                    tls.clone(),
                    slots.clone(),
                    until(stopping.clone()),
                );
                let second = async {
                    if let Some(l) = grpc_listener {
                        listen::serve(l, routes, net, tls, slots, until(stopping)).await;
                    }
                };
                let stop = async move {
                    let _ = stopped.await;
                    let _ = stop_all.send(());
                };
                tokio::join!(main, second, stop);
                ticker.abort();
                evaluator.abort();
            });
        })?;
    Ok(Running {
        addr,
        grpc_addr,
        app,
        auth,
        live,
        tls: secure,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Query parameters as given.
type Params = HashMap<String, String>;
