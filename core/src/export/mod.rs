//! Where finished transactions go.
//!
//! The core only knows the [`Exporter`] trait. Each exporter runs on a worker
//! thread of its own, fed through a bounded queue by the collector, so a slow
//! or dead collector never delays recording or the other exporters.

use std::fmt;
use std::time::Duration;

use crate::model::ExportBatch;

pub use registry::{EXPORTERS, ExporterEntry, ExporterSettings};

#[cfg(feature = "console")]
pub mod console;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod registry;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "zipkin")]
pub mod zipkin;

/// Why an export failed. The worker counts the batch's transactions as
/// dropped; retrying is the exporter's own business (see OTLP).
#[derive(Debug)]
pub enum ExportError {
    /// Could not reach the collector (refused, reset, DNS, TLS).
    Transport(String),
    /// The collector answered with a status that is not retried.
    Rejected {
        /// HTTP status code.
        status: u16,
        /// Start of the response body, for the log line.
        body: String,
    },
    /// No answer within the configured timeout.
    Timeout,
    /// Retries exhausted or the deadline reached.
    RetriesExhausted(String),
    /// Local I/O failed (the file store).
    Io(std::io::Error),
    /// The batch could not be encoded.
    Encode(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport error: {e}"),
            Self::Rejected { status, body } => write!(f, "rejected with HTTP {status}: {body}"),
            Self::Timeout => f.write_str("timed out"),
            Self::RetriesExhausted(e) => write!(f, "gave up after retries: {e}"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Encode(e) => write!(f, "encoding error: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Receives batches of finished transactions and per-second aggregates.
///
/// Called from one dedicated worker thread, never concurrently, never from
/// a recording thread: blocking here (bounded by the exporter's own
/// timeouts) only fills that exporter's queue.
pub trait Exporter: Send + 'static {
    /// Short name for log lines and statistics (`"otlp"`, `"zipkin"`).
    fn name(&self) -> &'static str;

    /// Sends one batch. Transactions with `sampled == false` carry no call
    /// tree; exporters of traces may skip them.
    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError>;

    /// Whether transactions that kept no call tree (`sampled == false`)
    /// should reach this exporter. When no exporter wants them the
    /// collector builds no record for them and counts them in the
    /// per-second aggregates only (`Stats::counted_only`).
    fn wants_unsampled(&self) -> bool {
        true
    }

    /// Makes everything exported so far durable or sent.
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; called once, last, with the time left.
    fn shutdown(&mut self, _timeout: Duration) -> Result<(), ExportError> {
        self.flush()
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn wants_unsampled(&self) -> bool {
        (**self).wants_unsampled()
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        (**self).flush()
    }
    fn shutdown(&mut self, timeout: Duration) -> Result<(), ExportError> {
        (**self).shutdown(timeout)
    }
}

/// Discards every batch; for tests, benchmarks and doc examples.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullExporter;

impl Exporter for NullExporter {
    fn name(&self) -> &'static str {
        "null"
    }

    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        Ok(())
    }
}
