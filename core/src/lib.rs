//! # Osprey
//!
//! A low-overhead APM recorder. Each thread records its transaction (the root
//! span) and the transaction's steps into a buffer of its own — no lock, no
//! atomic read-modify-write, no allocation on step enter/exit — and when the
//! transaction ends its whole call tree goes to a background collector in
//! one message. The collector samples, keeps per-second aggregates and feeds
//! the exporters: OTLP/HTTP, Zipkin v2, an embedded local store (the default)
//! and the console.
//!
//! ## Getting started
//!
//! ```
//! use std::time::Duration;
//!
//! // In `main`: keep the guard alive; dropping it flushes and shuts down.
//! let _osprey = osprey::init(
//!     osprey::Config::default()
//!         .service_name("checkout")
//!         .exporter(osprey::export::NullExporter),
//! )
//! .expect("osprey starts");
//!
//! let txn = osprey::transaction("GET /cart").server().begin();
//! txn.attr("http.request.method", "GET");
//! {
//!     let step = osprey::step("load_cart");
//!     step.attr("cart.items", 3i64);
//! }
//! txn.end();
//! assert!(osprey::flush(Duration::from_secs(5)));
//! ```
//!
//! ## In libraries
//!
//! Call [`step`] (or use `tracing` spans with [`layer::OspreyLayer`]); when no
//! transaction is open on the thread, or Osprey is not initialised, a step
//! costs one thread-local check.
//!
//! ## In `async` code
//!
//! Wrap a request's future with
//! [`in_transaction`](future::FutureExt::in_transaction) and its parts with
//! [`in_step`](future::FutureExt::in_step) (see [`future`]), or use
//! `#[instrument]`ed functions with [`layer::OspreyLayer`]: either way a
//! request is one transaction, whatever threads poll it.
//!
//! ## In applications
//!
//! Call [`init`] once with a [`Config`]; [`Config::from_env`] reads the
//! standard `OTEL_*` variables. With no exporter configured, transactions go
//! to the local store under `./osprey-data` (or `$OSPREY_DATA_DIR`).
//!
//! ## Features
//!
//! `enable` (default) switches recording on at compile time; without it every
//! recording call compiles to nothing. `otlp`, `zipkin`, `store`, `console`
//! and `layer` select the exporters and the `tracing` layer; `seglog` (part
//! of `store`) the segment log the local store shares with the server.

// Without `enable` the recorder internals are compiled but never called.
#![cfg_attr(not(feature = "enable"), allow(dead_code))]

pub mod active;
mod api;
pub mod capped;
pub mod clock;
pub mod collector;
mod config_error;
mod diag;
pub mod export;
pub mod future;
pub mod host;
#[cfg(feature = "layer")]
pub mod layer;
mod local;
pub mod metrics;
pub mod model;
pub mod names;
pub mod propagation;
pub mod resource;
mod rng;
#[cfg(feature = "seglog")]
pub mod seglog;

use std::time::Duration;

pub use api::{
    StepGuard, TransactionBuilder, TransactionGuard, current_ids, raw, step, step_of_kind,
    traceparent, transaction,
};
pub use collector::{Config, ConfigError, ExporterSpec, ExporterStats, InitError, Stats};
pub use local::{
    DeferredEnd, DetachError, Fork, Handover, MAX_DETACHED, MAX_FORKS, MAX_OUTSTANDING, RawName,
    RecordError,
};
pub use model::{AttrValue, ErrorInfo, SpanKind, StepKind};

/// Keeps Osprey running; dropping it flushes and shuts down (bounded by the
/// configured shutdown timeout).
#[must_use = "Osprey shuts down when this guard is dropped"]
#[derive(Debug)]
pub struct OspreyGuard {
    timeout: Duration,
    instance: u64,
}

impl OspreyGuard {
    /// Shuts down now, waiting at most `timeout`; false if time ran out.
    pub fn shutdown(self, timeout: Duration) -> bool {
        let done = collector::shutdown_instance(self.instance, timeout);
        std::mem::forget(self);
        done
    }
}

impl Drop for OspreyGuard {
    fn drop(&mut self) {
        collector::shutdown_instance(self.instance, self.timeout);
    }
}

/// Starts the collector and exporters. Fails when already running or when
/// an exporter cannot be built.
pub fn init(config: Config) -> Result<OspreyGuard, InitError> {
    let timeout = config.shutdown_timeout;
    let instance = collector::start(config)?;
    Ok(OspreyGuard { timeout, instance })
}

/// Starts Osprey without a guard (for the C ABI and the Java agent); stop
/// it with [`shutdown`].
pub fn start(config: Config) -> Result<(), InitError> {
    collector::start(config).map(drop)
}

/// Stops Osprey: recording stops at once, queued transactions are exported,
/// exporters shut down; waits at most `timeout`. False when Osprey was not
/// running or time ran out.
pub fn shutdown(timeout: Duration) -> bool {
    collector::shutdown(timeout)
}

/// Exports everything recorded so far, waiting at most `timeout`.
pub fn flush(timeout: Duration) -> bool {
    collector::flush(timeout)
}

/// Delivery statistics: produced, dropped, delivered per exporter.
pub fn stats() -> Stats {
    collector::stats()
}

/// True between a successful [`init`]/[`start`] and [`shutdown`].
pub fn is_running() -> bool {
    collector::is_running()
}
