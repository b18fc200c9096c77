//! The embedded local store: bincode records in rolling segment files under
//! a data directory, and a reader that survives a torn last record.
//!
//! The store keeps every transaction, sampled or not (the XLog), with its
//! call tree when it was sampled, plus the per-second aggregates and the
//! sampled metrics (the JVM inspector's). Segment
//! files are named `seg-<unix ms>-<sequence>.osp` and sort by creation; a new
//! one starts once the active one passes `segment_bytes`, and the oldest are
//! deleted while the directory holds more than `max_bytes`. Each segment
//! defines the names it uses, so it can be read (or deleted) alone. The
//! files, frames, rolling and retention are [`crate::seglog`]'s; see
//! [`format`](mod@format) for the records and [`StoreReader`] to read them back.

pub mod format;
mod reader;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

pub use reader::{
    Problem, ReadIssue, RecordPosition, Records, StoreReader, StoredMetrics, StoredRecord,
    StoredTransaction,
};

use crate::config_error::ConfigError;
use crate::export::registry::{ExporterEntry, exporter_settings};
use crate::export::{ExportError, Exporter};
use crate::model::ExportBatch;
use writer::SegmentWriter;

/// Settings of the local store.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// Directory holding the segment files (default `./osprey-data`).
    pub dir: PathBuf,
    /// A new segment is started past this size (default 64 MiB).
    pub segment_bytes: u64,
    /// Oldest segments are deleted past this total (default 1 GiB).
    pub max_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            dir: crate::collector::default_data_dir(),
            segment_bytes: 64 << 20,
            max_bytes: 1 << 30,
        }
    }
}

impl StoreConfig {
    /// Sets one `store.*` key of the Osprey configuration.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let bytes = || {
            value.parse::<u64>().map_err(|_| ConfigError::InvalidValue {
                key: key.to_owned(),
                value: value.to_owned(),
                expected: "a size in bytes",
            })
        };
        match key {
            "store.dir" => self.dir = PathBuf::from(value),
            "store.segment_bytes" => self.segment_bytes = bytes()?.max(4096),
            "store.max_bytes" => self.max_bytes = bytes()?,
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }
}

exporter_settings!(StoreConfig, "store", |c| Ok(Box::new(StoreExporter::new(
    c
)?)));

/// The local store's row in [`crate::export::EXPORTERS`]: the exporter
/// started when nothing else is configured.
pub(crate) const ENTRY: ExporterEntry = ExporterEntry {
    name: "store",
    keys: &["store.dir", "store.segment_bytes", "store.max_bytes"],
    settings: || Box::new(StoreConfig::default()),
    from_env: None,
    is_default: true,
};

/// Appends batches to segment files.
pub struct StoreExporter {
    writer: SegmentWriter,
}

impl StoreExporter {
    /// Opens (creating) the data directory and applies retention to the
    /// segments already there. New records go to a new segment.
    pub fn new(config: StoreConfig) -> Result<Self, ExportError> {
        Ok(Self {
            writer: SegmentWriter::open(config)?,
        })
    }

    /// Bytes currently held in segment files.
    pub fn total_bytes(&self) -> u64 {
        self.writer.total_bytes()
    }
}

impl Exporter for StoreExporter {
    fn name(&self) -> &'static str {
        "store"
    }

    fn export(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        self.writer.write_batch(batch)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(self.writer.sync()?)
    }

    fn shutdown(&mut self, _timeout: Duration) -> Result<(), ExportError> {
        self.flush()
    }
}
