//! # osprey-web
//!
//! Osprey for Rust web services, on top of the `async` API of
//! [`osprey::future`]:
//!
//! - [`OspreyServerLayer`]: a `tower` layer for axum and hyper servers. Each
//!   request is one SERVER transaction, named `METHOD route` with the route
//!   from axum's `MatchedPath` (feature `axum`), carrying the response
//!   status, and continuing an inbound W3C `traceparent`/`tracestate` or B3
//!   (single `b3` or `X-B3-*`) trace.
//! - [`OspreyMiddleware`] (feature `reqwest`): a `reqwest-middleware`
//!   middleware that records each outgoing call as a CLIENT step of the
//!   transaction being polled and injects `traceparent` (and `tracestate`).
//! - [`postgres::Client`] (feature `tokio-postgres`): a tokio-postgres client
//!   recording each statement as a SQL step, literals replaced by `?`.
//! - Feature `sqlx`: `osprey::layer::OspreyLayer` turns sqlx's statement
//!   events into SQL steps (sqlx opens no span per statement; it logs one
//!   event, target `sqlx::query`, when a statement finishes).
//!
//! A separate crate rather than features of `osprey`: the recorder is also
//! the C ABI's and the Java agent's, which should never resolve axum or
//! reqwest, and web framework majors move faster than the recorder.

mod server;
pub use server::{OspreyServerLayer, OspreyServerService, ResponseFuture};

#[cfg(feature = "tokio-postgres")]
pub mod postgres;

#[cfg(feature = "reqwest")]
mod client;
#[cfg(feature = "reqwest")]
pub use client::OspreyMiddleware;

/// The W3C trace context request header.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C vendor trace state request header.
pub const TRACESTATE: &str = "tracestate";

/// A `'static` name for an HTTP method (step names are not copied).
pub(crate) fn method_name(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::TRACE => "TRACE",
        http::Method::CONNECT => "CONNECT",
        _ => "HTTP",
    }
}

/// The error of a failed HTTP exchange: the status (`kind`) and its reason.
pub(crate) fn status_error(status: http::StatusCode) -> osprey::ErrorInfo {
    osprey::ErrorInfo {
        kind: status.as_u16().to_string(),
        message: status.canonical_reason().unwrap_or("").to_owned(),
        stack: String::new(),
    }
}

/// The error of an exchange that failed without a response.
pub(crate) fn failure(error: &dyn std::fmt::Display) -> osprey::ErrorInfo {
    osprey::ErrorInfo {
        kind: String::new(),
        message: error.to_string(),
        stack: String::new(),
    }
}
