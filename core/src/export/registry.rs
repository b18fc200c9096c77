//! The one table of built-in exporters.
//!
//! Each exporter module owns its settings type, its `prefix.*` keys, its
//! environment variables and how it is built, and describes them in one
//! [`ExporterEntry`]. [`EXPORTERS`] lists the entries compiled in; the
//! collector's [`Config`](crate::Config) reads only this table and the
//! [`ExporterSettings`] trait, never an exporter by name. Adding an exporter
//! is one module and one line here.
//!
//! ```
//! use osprey::export::EXPORTERS;
//!
//! let names: Vec<&str> = EXPORTERS.iter().map(|e| e.name).collect();
//! assert!(names.contains(&"otlp"));
//! let otlp = EXPORTERS.iter().find(|e| e.name == "otlp").unwrap();
//! assert!(otlp.keys.contains(&"otlp.endpoint"));
//! ```

use std::fmt;

use crate::config_error::ConfigError;
use crate::export::{ExportError, Exporter};

/// The settings of one built-in exporter while the configuration is being
/// assembled: keys are set on it, then [`ExporterSettings::build`] makes the
/// exporter when Osprey starts.
///
/// Implemented by `OtlpConfig`, `ZipkinConfig`, `StoreConfig` and
/// `ConsoleConfig`; pass any of them to
/// [`Config::exporter_spec`](crate::Config::exporter_spec).
pub trait ExporterSettings: fmt::Debug + Send + 'static {
    /// The exporter's name in `exporter=` and the prefix of its keys.
    fn name(&self) -> &'static str;

    /// Sets one of its `name.*` keys; unknown keys are
    /// [`ConfigError::UnknownKey`].
    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError>;

    /// Builds the exporter (fails on an unusable endpoint or directory).
    fn build(self: Box<Self>) -> Result<Box<dyn Exporter>, ExportError>;

    /// A boxed copy, so configurations can be cloned.
    fn clone_box(&self) -> Box<dyn ExporterSettings>;
}

/// Reads an exporter's standard environment variables through the getter;
/// `Some` when one of them selects the exporter (as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` selects OTLP).
pub type FromEnv =
    fn(&dyn Fn(&str) -> Option<String>) -> Result<Option<Box<dyn ExporterSettings>>, ConfigError>;

/// One row of the table: everything the configuration needs to know about a
/// built-in exporter.
pub struct ExporterEntry {
    /// Name in `exporter=` (`"otlp"`); its keys start with `name.`.
    pub name: &'static str,
    /// Every key it accepts (`OSPREY_<KEY>` variables are derived from them).
    pub keys: &'static [&'static str],
    /// Settings with their defaults.
    pub settings: fn() -> Box<dyn ExporterSettings>,
    /// Its standard environment variables, if it has any.
    pub from_env: Option<FromEnv>,
    /// Started when no exporter at all is configured.
    pub is_default: bool,
}

impl fmt::Debug for ExporterEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterEntry")
            .field("name", &self.name)
            .field("keys", &self.keys)
            .field("is_default", &self.is_default)
            .finish_non_exhaustive()
    }
}

/// The built-in exporters compiled into this build (Cargo features `otlp`,
/// `zipkin`, `store`, `console`).
pub const EXPORTERS: &[ExporterEntry] = &[
    #[cfg(feature = "otlp")]
    crate::export::otlp::ENTRY,
    #[cfg(feature = "zipkin")]
    crate::export::zipkin::ENTRY,
    #[cfg(feature = "store")]
    crate::export::store::ENTRY,
    #[cfg(feature = "console")]
    crate::export::console::ENTRY,
];

/// The entry named `name`.
pub fn find(name: &str) -> Option<&'static ExporterEntry> {
    EXPORTERS.iter().find(|e| e.name == name)
}

/// The entry whose keys start with `key`'s prefix (`otlp` for `otlp.endpoint`).
pub fn for_key(key: &str) -> Option<&'static ExporterEntry> {
    let (prefix, _) = key.split_once('.')?;
    find(prefix)
}

/// The names of the compiled-in exporters, for error messages.
pub fn names() -> Vec<&'static str> {
    EXPORTERS.iter().map(|e| e.name).collect()
}

/// Implements [`ExporterSettings`] for a settings type with an inherent
/// `set` method and an exporter whose `new` takes the settings. Used by the
/// exporters behind features: without any, it is not compiled.
#[cfg(any(
    feature = "otlp",
    feature = "zipkin",
    feature = "store",
    feature = "console"
))]
macro_rules! exporter_settings {
    ($settings:ty, $name:literal, $build:expr) => {
        impl $crate::export::ExporterSettings for $settings {
            fn name(&self) -> &'static str {
                $name
            }
            fn set(
                &mut self,
                key: &str,
                value: &str,
            ) -> Result<(), $crate::config_error::ConfigError> {
                <$settings>::set(self, key, value)
            }
            fn build(
                self: Box<Self>,
            ) -> Result<Box<dyn $crate::export::Exporter>, $crate::export::ExportError> {
                let build: fn($settings) -> Result<Box<dyn $crate::export::Exporter>, _> = $build;
                build(*self)
            }
            fn clone_box(&self) -> Box<dyn $crate::export::ExporterSettings> {
                Box::new(self.clone())
            }
        }
    };
}
#[cfg(any(
    feature = "otlp",
    feature = "zipkin",
    feature = "store",
    feature = "console"
))]
pub(crate) use exporter_settings;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_owns_keys_under_its_own_prefix() {
        for e in EXPORTERS {
            let s = (e.settings)();
            assert_eq!(s.name(), e.name);
            for key in e.keys {
                assert_eq!(for_key(key).map(|f| f.name), Some(e.name), "{key}");
            }
        }
        assert!(for_key("sample.ratio").is_none());
        assert!(EXPORTERS.iter().filter(|e| e.is_default).count() <= 1);
    }
}
