//! [`ConfigError`]: the one error type of configuration, shared by the
//! collector's settings and every exporter's own keys (so exporters depend on
//! this module, not on the collector).

use std::fmt;

/// A configuration error; names the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The key is not one Osprey knows.
    UnknownKey(String),
    /// The key is known but its value does not parse.
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A `key=value` item had no `=`.
    Malformed(String),
    /// An exporter could not be built (bad endpoint, unreadable directory).
    Exporter(String),
    /// `exporter=` named an exporter this build does not have.
    UnknownExporter {
        /// The name given.
        name: String,
        /// The exporters compiled in (see [`crate::export::EXPORTERS`]).
        known: Vec<&'static str>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(k) => write!(f, "unknown configuration key `{k}`"),
            Self::InvalidValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "invalid value `{value}` for `{key}`: expected {expected}"
            ),
            Self::Malformed(item) => write!(
                f,
                "malformed configuration item `{item}`: expected key=value"
            ),
            Self::Exporter(e) => write!(f, "cannot create exporter: {e}"),
            Self::UnknownExporter { name, known } => write!(
                f,
                "unknown exporter `{name}` in `exporter`: expected {} or none",
                known.join(", ")
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
