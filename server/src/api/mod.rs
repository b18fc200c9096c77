//! The HTTP surface: OTLP/HTTP ingest (`/v1/*`) and the JSON query API
//! (`/api/*`) on one listener. See `server/README.md` for every route.

mod query;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::{ActiveReport, App, ServerConfig};
use crate::ingest::Rejected;
use crate::ingest::otlp::{self, Encoding};

/// The routes over `app`.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config().max_body_bytes;
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/active", post(active_report))
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
        .merge(crate::web::routes())
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app.clone())
        // OTLP/gRPC: tonic services, limited by their own message sizes.
        .merge(crate::ingest::grpc::routes(app))
        // Tells exporters they talk to an Osprey server (summaries on).
        .layer(axum::middleware::from_fn(otlp::announce))
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
    text(r.status, r.message)
}

/// Decodes the body per its headers and hands it to `store` on a
/// blocking thread; 200 only once the record is in the segment file.
async fn ingest<T: Send + 'static>(
    app: Arc<App>,
    headers: HeaderMap,
    body: Bytes,
    parse: fn(Encoding, &[u8]) -> Result<T, Rejected>,
    store: fn(&App, T) -> io::Result<()>,
) -> Response {
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

async fn traces(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(app, headers, body, otlp::parse_traces, App::ingest_spans).await
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(app, headers, body, otlp::parse_metrics, App::ingest_metrics).await
}

async fn active_report(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<ActiveReport>(&body) {
        Ok(r) => {
            app.report_active(r);
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
    /// The state it serves.
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
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
pub fn start(config: ServerConfig, listen: SocketAddr) -> io::Result<Running> {
    let app = App::open(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
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
                let server = axum::serve(listener, router(served)).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                if let Err(e) = server.await {
                    eprintln!("osprey: server stopped: {e}");
                }
                ticker.abort();
            });
        })?;
    Ok(Running {
        addr,
        app,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Query parameters as given.
type Params = HashMap<String, String>;
