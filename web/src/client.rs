//! The client side: one CLIENT step per outgoing call.

use http::{Extensions, HeaderValue};
use osprey::model::StepKind;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

/// Records each call made through a `reqwest-middleware` client as an
/// `HttpCall` step (exported as a CLIENT span) of the async work being
/// polled — a request under [`crate::OspreyServerLayer`], a future in
/// `in_transaction`, an entered `tracing` span with `OspreyLayer` — and
/// injects `traceparent` naming that step, plus the inbound `tracestate`.
/// Outside any, calls go out untouched.
///
/// ```
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(osprey_web::OspreyMiddleware)
///     .build();
/// # drop(client);
/// ```
///
/// The step's `url.full` leaves out the query and any user info (they can
/// hold secrets). 4xx and 5xx responses and failed calls mark it failed.
#[derive(Clone, Copy, Debug, Default)]
pub struct OspreyMiddleware;

#[async_trait::async_trait]
impl Middleware for OspreyMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let step =
            osprey::future::step_of_kind(StepKind::HttpCall, crate::method_name(req.method()));
        if step.is_recording() {
            if let Some(value) = step
                .traceparent()
                .and_then(|v| HeaderValue::from_str(&v).ok())
            {
                req.headers_mut().insert(crate::TRACEPARENT, value);
            }
            if let Some(value) = step
                .tracestate()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                req.headers_mut().insert(crate::TRACESTATE, value);
            }
            let url = req.url();
            step.attr("http.request.method", req.method().as_str());
            let mut full = format!("{}://", url.scheme());
            full.push_str(url.host_str().unwrap_or(""));
            if let Some(port) = url.port() {
                full.push_str(&format!(":{port}"));
            }
            full.push_str(url.path());
            step.attr("url.full", full);
            if let Some(host) = url.host_str() {
                step.attr("server.address", host);
            }
            if let Some(port) = url.port_or_known_default() {
                step.attr("server.port", i64::from(port));
            }
        }
        let result = next.run(req, extensions).await;
        match &result {
            Ok(response) => {
                let status = response.status();
                step.attr("http.response.status_code", i64::from(status.as_u16()));
                if status.is_client_error() || status.is_server_error() {
                    step.error(crate::status_error(status));
                }
            }
            Err(e) => {
                step.error(crate::failure(e));
            }
        }
        step.end();
        result
    }
}
