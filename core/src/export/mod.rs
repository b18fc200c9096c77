//! Where finished transactions go.
//!
//! The core only knows the [`Exporter`] trait. Each exporter runs on a worker
//! thread of its own, fed through a bounded queue by the collector, so a slow
//! or dead collector never delays recording or the other exporters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// should reach this exporter, as it starts. When no exporter wants them
    /// the collector builds no record for them and counts them in the
    /// per-second aggregates only (`Stats::counted_only`). An exporter whose
    /// answer can change while it runs says so through
    /// [`Exporter::attach_demand`].
    fn wants_unsampled(&self) -> bool {
        true
    }

    /// Called once before the first batch with this exporter's share of the
    /// collector's demand for transactions without a call tree, set to the
    /// [`Exporter::wants_unsampled`] answer. An exporter that learns more
    /// while running (the OTLP exporter, on finding out whether it talks to
    /// an Osprey server) keeps `demand` and calls
    /// [`UnsampledDemand::set`]; the collector sees the change with one
    /// atomic load per transaction. The default drops it: the first answer
    /// stands.
    fn attach_demand(&mut self, demand: UnsampledDemand) {
        drop(demand);
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
    fn attach_demand(&mut self, demand: UnsampledDemand) {
        (**self).attach_demand(demand)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        (**self).flush()
    }
    fn shutdown(&mut self, timeout: Duration) -> Result<(), ExportError> {
        (**self).shutdown(timeout)
    }
}

/// One exporter's say in whether the collector builds records for the
/// transactions that kept no call tree: the collector builds them while at
/// least one exporter wants them. Dropping it leaves the last answer in
/// place.
#[derive(Debug)]
pub struct UnsampledDemand {
    /// Exporters wanting them, shared with the collector.
    wanting: Arc<AtomicUsize>,
    /// This exporter's current answer.
    wants: bool,
}

impl UnsampledDemand {
    /// This exporter's share of `wanting`, counted there when `wants`.
    pub(crate) fn new(wanting: &Arc<AtomicUsize>, wants: bool) -> Self {
        if wants {
            wanting.fetch_add(1, Ordering::Relaxed);
        }
        Self {
            wanting: wanting.clone(),
            wants,
        }
    }

    /// Changes this exporter's answer; transactions ending from about now
    /// on follow it (those already converted keep the old one).
    pub fn set(&mut self, wants: bool) {
        if wants != self.wants {
            if wants {
                self.wanting.fetch_add(1, Ordering::Relaxed);
            } else {
                self.wanting.fetch_sub(1, Ordering::Relaxed);
            }
            self.wants = wants;
        }
    }

    /// This exporter's current answer.
    pub fn get(&self) -> bool {
        self.wants
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
