//! Zipkin v2 JSON exporter (`POST /api/v2/spans`).

use crate::collector::ConfigError;
use crate::export::{ExportError, Exporter};
use crate::model::ExportBatch;
use std::time::Duration;

/// Settings of the Zipkin exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct ZipkinConfig {
    /// Full URL (default `http://localhost:9411/api/v2/spans`).
    pub endpoint: String,
    /// Timeout of one request (default 10 s).
    pub timeout: Duration,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:9411/api/v2/spans".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl ZipkinConfig {
    /// Sets one `zipkin.*` key of the Osprey configuration.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "zipkin.endpoint" => self.endpoint = value.to_owned(),
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }
}

/// Sends batches to a Zipkin server.
pub struct ZipkinExporter {
    config: ZipkinConfig,
}

impl ZipkinExporter {
    /// Builds the exporter.
    pub fn new(config: ZipkinConfig) -> Result<Self, ExportError> {
        Ok(Self { config })
    }
}

impl Exporter for ZipkinExporter {
    fn name(&self) -> &'static str {
        "zipkin"
    }

    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        let _ = &self.config;
        Err(ExportError::Transport("not implemented yet".into()))
    }
}
