//! The server side: one transaction per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use osprey::future::AsyncTransaction;
use osprey::propagation::{self, RemoteParent};

/// A `tower` layer recording every request as a SERVER transaction.
///
/// With axum, add it with `Router::layer` (it then runs after routing, so
/// the transaction is named by the matched route, `GET /users/{id}`):
///
/// ```
/// use axum::{Router, routing::get};
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "ok" }))
///     .layer(osprey_web::OspreyServerLayer::new());
/// ```
///
/// Requests without a route (a 404, or hyper without axum) are named by
/// their method alone, so that raw paths do not flood the name table.
#[derive(Clone, Debug, Default)]
pub struct OspreyServerLayer {
    _private: (),
}

impl OspreyServerLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> tower_layer::Layer<S> for OspreyServerLayer {
    type Service = OspreyServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OspreyServerService { inner }
    }
}

/// The service [`OspreyServerLayer`] wraps around an inner service.
#[derive(Clone, Debug)]
pub struct OspreyServerService<S> {
    inner: S,
}

impl<S, B, RB> tower_service::Service<Request<B>> for OspreyServerService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = crate::method_name(req.method());
        let route = route(&req);
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let headers = req.headers();
        let mut builder = osprey::transaction(name)
            .server()
            .remote_parent(remote_parent(headers));
        if let Some(state) = header(headers, crate::TRACESTATE) {
            builder = builder.tracestate(state);
        }
        let txn = builder.begin_async();
        txn.attr("http.request.method", req.method().as_str());
        txn.attr("url.path", req.uri().path());
        if let Some(route) = route {
            txn.attr("http.route", route);
        }
        let mut txn = txn;
        let inner = {
            // The handler's future is often built here: steps it begins
            // right away belong to the request too.
            let _entered = txn.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            txn: Some(txn),
        }
    }
}

#[cfg(feature = "axum")]
fn route<B>(req: &Request<B>) -> Option<String> {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
}

#[cfg(not(feature = "axum"))]
fn route<B>(_req: &Request<B>) -> Option<String> {
    None
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The inbound parent: W3C `traceparent`, else B3 single (`b3`), else B3
/// multi (`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`). An invalid header
/// starts a new trace.
fn remote_parent(headers: &HeaderMap) -> Option<RemoteParent> {
    if let Some(parent) =
        header(headers, crate::TRACEPARENT).and_then(propagation::parse_traceparent)
    {
        return Some(parent);
    }
    if let Some(parent) = header(headers, "b3").and_then(propagation::parse_b3) {
        return Some(parent);
    }
    let trace = header(headers, "x-b3-traceid")?;
    let span = header(headers, "x-b3-spanid")?;
    let sampled = match header(headers, "x-b3-sampled") {
        Some("0") => "0",
        _ => "1",
    };
    propagation::parse_b3(&format!("{trace}-{span}-{sampled}"))
}

pin_project_lite::pin_project! {
    /// The response future of [`OspreyServerService`]: polls the handler
    /// with the transaction as its async context, ends it with the status.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        txn: Option<AsyncTransaction>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response: the client went away.
            if let Some(txn) = this.project().txn.take() {
                txn.cancel();
            }
        }
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(txn) = this.txn.as_mut() else {
            return this.inner.poll(cx);
        };
        let out = {
            let _entered = txn.enter();
            this.inner.poll(cx)
        };
        if let Poll::Ready(result) = &out
            && let Some(txn) = this.txn.take()
        {
            match result {
                Ok(response) => {
                    let status = response.status();
                    txn.attr("http.response.status_code", i64::from(status.as_u16()));
                    if status.is_server_error() {
                        txn.error(crate::status_error(status));
                    }
                }
                Err(e) => {
                    txn.error(crate::failure(e));
                }
            }
            txn.end();
        }
        out
    }
}
