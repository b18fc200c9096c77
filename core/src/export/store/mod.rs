//! The embedded local store: bincode records in rolling segment files under
//! a data directory, and a reader that survives a torn last record.

use std::path::PathBuf;

use crate::collector::ConfigError;
use crate::export::{ExportError, Exporter};
use crate::model::ExportBatch;

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

/// Appends batches to segment files.
pub struct StoreExporter {
    config: StoreConfig,
}

impl StoreExporter {
    /// Opens (creating) the data directory.
    pub fn new(config: StoreConfig) -> Result<Self, ExportError> {
        Ok(Self { config })
    }
}

impl Exporter for StoreExporter {
    fn name(&self) -> &'static str {
        "store"
    }

    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        let _ = &self.config;
        Err(ExportError::Encode("not implemented yet".into()))
    }
}
