//! [`Config`]: everything `osprey::init` needs, built in code, from
//! `key=value` pairs (the C ABI and the Java agent) or from the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::config_error::ConfigError;
use crate::export::registry::{self, ExporterEntry};
use crate::export::{Exporter, ExporterSettings};
use crate::model::{AttrValue, Resource};

/// A built-in exporter to start, with its settings: any type that
/// implements [`ExporterSettings`] (`OtlpConfig`, `ZipkinConfig`,
/// `StoreConfig`, `ConsoleConfig`) converts into one.
///
/// ```
/// use osprey::export::otlp::OtlpConfig;
/// use osprey::Config;
///
/// let config = Config::default()
///     .exporter_spec(OtlpConfig::default().endpoint("http://127.0.0.1:4318"));
/// # drop(config);
/// ```
#[derive(Debug)]
pub struct ExporterSpec(Box<dyn ExporterSettings>);

impl ExporterSpec {
    /// The exporter's name (`"otlp"`).
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl Clone for ExporterSpec {
    fn clone(&self) -> Self {
        Self(self.0.clone_box())
    }
}

impl<T: ExporterSettings> From<T> for ExporterSpec {
    fn from(settings: T) -> Self {
        Self(Box::new(settings))
    }
}

/// Osprey's configuration. Start from [`Config::default`] (local store,
/// everything sampled) or [`Config::from_env`].
#[must_use]
pub struct Config {
    pub(crate) resource: Resource,
    pub(crate) queue_capacity: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) max_steps: usize,
    pub(crate) batch_size: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) batch_delay: Duration,
    pub(crate) sample_ratio: f64,
    pub(crate) trees_per_second: Option<u32>,
    pub(crate) sanitize: bool,
    pub(crate) cpu_time: bool,
    pub(crate) slow_threshold: Duration,
    pub(crate) exporter_queue_batches: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) specs: Vec<ExporterSpec>,
    pub(crate) custom: Vec<Box<dyn Exporter>>,
    pub(crate) runtime: Option<crate::resource::Runtime>,
    pub(crate) host: crate::host::HostConfig,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("resource", &self.resource)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("max_steps", &self.max_steps)
            .field("batch_size", &self.batch_size)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("batch_delay", &self.batch_delay)
            .field("sample_ratio", &self.sample_ratio)
            .field("trees_per_second", &self.trees_per_second)
            .field("sanitize", &self.sanitize)
            .field("cpu_time", &self.cpu_time)
            .field("slow_threshold", &self.slow_threshold)
            .field("specs", &self.specs)
            .field("custom_exporters", &self.custom.len())
            .field("runtime", &self.runtime)
            .field("host", &self.host)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resource: Resource {
                service_name: "unknown_service".into(),
                attributes: Vec::new(),
            },
            queue_capacity: 2048,
            max_queue_bytes: 8 << 20,
            max_steps: 2048,
            batch_size: 512,
            max_batch_bytes: 4 << 20,
            batch_delay: Duration::from_secs(1),
            sample_ratio: 1.0,
            trees_per_second: None,
            sanitize: true,
            cpu_time: false,
            slow_threshold: Duration::from_secs(1),
            exporter_queue_batches: 4,
            shutdown_timeout: Duration::from_secs(5),
            specs: Vec::new(),
            custom: Vec::new(),
            runtime: Some(crate::resource::Runtime::rust()),
            host: crate::host::HostConfig::default(),
        }
    }
}

/// The collector's own keys. [`Config::set`] also accepts each exporter's
/// keys, listed in [`crate::export::EXPORTERS`]; [`keys`] gives them all.
pub const KEYS: &[&str] = &[
    "service.name",
    "resource.attributes",
    "queue.capacity",
    "queue.max_bytes",
    "steps.max",
    "batch.size",
    "batch.max_bytes",
    "batch.delay_ms",
    "sample.ratio",
    "sample.slow_ms",
    "sample.trees_per_second",
    "sanitize",
    "txn.cpu_time",
    "exporter",
    "exporter.queue_batches",
    "shutdown.timeout_ms",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "host.metrics",
    "host.top_processes",
    "host.detail_interval_s",
];

/// Every key [`Config::set`] accepts: [`KEYS`], then each compiled-in
/// exporter's keys.
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .chain(registry::EXPORTERS.iter().flat_map(|e| e.keys))
        .copied()
}

impl Config {
    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.resource.service_name = name.into();
        self
    }

    /// Adds a resource attribute (`host.name`, `service.version`, ...).
    /// `host.name`, `service.instance.id` and `process.pid` are detected
    /// when Osprey starts unless set here or in `OTEL_RESOURCE_ATTRIBUTES`
    /// (see [`crate::resource`]).
    pub fn resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<AttrValue>,
    ) -> Self {
        self.resource.attributes.push((key.into(), value.into()));
        self
    }

    /// Transactions queued for the collector before new ones are dropped
    /// (default 2048).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }

    /// Memory the queued transactions may use before new ones are dropped
    /// (default 8 MiB). With the batch and export-queue bounds this keeps
    /// Osprey's buffers under 36 MiB by default: this queue, the batch being
    /// filled, four batches queued for the exporter, the one it is sending
    /// and the one it sent, until the collector frees it (4 MiB each); and
    /// at most 8 MiB of emptied buffers and 2 MiB of records' vectors
    /// kept for reuse, and 8 MiB of transactions waiting for work they
    /// handed to other threads.
    pub fn max_queue_bytes(mut self, n: usize) -> Self {
        self.max_queue_bytes = n.max(4096);
        self
    }

    /// Steps kept per transaction (default 2048); more are counted, not kept.
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n.clamp(1, u32::MAX as usize);
        self
    }

    /// Transactions per export call (default 512).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// A batch is exported once its records reach this estimated size
    /// (default 4 MiB), even below the batch size.
    pub fn max_batch_bytes(mut self, n: usize) -> Self {
        self.max_batch_bytes = n.max(4096);
        self
    }

    /// Longest wait before a partial batch is exported (default 1 s).
    pub fn batch_delay(mut self, d: Duration) -> Self {
        // Zero would make the collector spin; one millisecond is the floor.
        self.batch_delay = d.max(Duration::from_millis(1));
        self
    }

    /// Fraction of ordinary transactions whose call tree is kept (default 1.0).
    /// Errors and slow transactions are always kept.
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = ratio.clamp(0.0, 1.0);
        self
    }

    /// Most ordinary call trees kept per second (default `None`: no limit).
    /// Beyond it a transaction is still counted and delivered, without its
    /// steps; errors, slow and upstream-sampled transactions always keep
    /// theirs. Key `sample.trees_per_second` (`unlimited` or a count).
    pub fn trees_per_second(mut self, limit: Option<u32>) -> Self {
        self.trees_per_second = limit;
        self
    }

    /// Whether SQL literals, URL query values and credential attributes are
    /// replaced before export (default true; see [`crate::collector::sanitize`]).
    pub fn sanitize(mut self, on: bool) -> Self {
        self.sanitize = on;
        self
    }

    /// Measures each transaction's CPU time on its thread (`osprey.cpu_time_ms`;
    /// default off: two `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` system calls
    /// per transaction, none per step). Key `txn.cpu_time`.
    pub fn cpu_time(mut self, on: bool) -> Self {
        self.cpu_time = on;
        self
    }

    /// Transactions at least this slow are always kept (default 1 s).
    pub fn slow_threshold(mut self, d: Duration) -> Self {
        self.slow_threshold = d;
        self
    }

    /// Batches waiting per exporter before the oldest policy drops new ones
    /// (default 4).
    pub fn exporter_queue_batches(mut self, n: usize) -> Self {
        self.exporter_queue_batches = n.max(1);
        self
    }

    /// Longest time the guard's drop and `shutdown` wait (default 5 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Adds a built-in exporter with its settings: `OtlpConfig`,
    /// `ZipkinConfig`, `StoreConfig`, `ConsoleConfig` or an [`ExporterSpec`].
    pub fn exporter_spec(mut self, spec: impl Into<ExporterSpec>) -> Self {
        let spec = spec.into();
        self.specs.push(spec);
        self
    }

    /// Adds an exporter of your own.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.custom.push(Box::new(exporter));
        self
    }

    /// True when no exporter was configured; `init` then uses the local store.
    pub fn has_exporters(&self) -> bool {
        !self.specs.is_empty() || !self.custom.is_empty()
    }

    /// Builds a configuration from `key=value` items separated by `;` or
    /// newlines (the C ABI's and Java agent's format; commas stay inside
    /// values such as `otlp.headers`). Unknown keys are an error naming the key.
    pub fn from_pairs_str(text: &str) -> Result<Self, ConfigError> {
        Self::default().with_pairs_str(text)
    }

    /// Applies `key=value` items (as for [`Config::from_pairs_str`]) on top
    /// of this configuration, e.g. after [`Config::from_env`].
    pub fn with_pairs_str(mut self, text: &str) -> Result<Self, ConfigError> {
        for item in text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::Malformed(item.to_owned()))?;
            self.set(key.trim(), value.trim())?;
        }
        Ok(self)
    }

    /// Reads `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_EXPORTER_OTLP_*` (which select the OTLP exporter) and
    /// `OSPREY_<KEY>` variables (`OSPREY_SAMPLE_RATIO` for `sample.ratio`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::default().with_env(|k| std::env::var(k).ok())
    }

    /// Like [`Config::from_env`], reading variables through `get`
    /// (testable without touching the process environment).
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            self.set("resource.attributes", &v)?;
        }
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            self.set("service.name", &v)?;
        }
        for key in keys() {
            let var = format!("OSPREY_{}", key.to_ascii_uppercase().replace('.', "_"));
            if let Some(v) = get(&var) {
                self.set(key, &v)?;
            }
        }
        for entry in registry::EXPORTERS {
            if let Some(from_env) = entry.from_env
                && let Some(settings) = from_env(&get)?
            {
                *self.settings_mut(entry) = settings;
            }
        }
        Ok(self)
    }

    /// Sets one key; see [`KEYS`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |expected| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        };
        let num = |expected| value.parse::<u64>().map_err(|_| invalid(expected));
        match key {
            "service.name" => self.resource.service_name = value.to_owned(),
            "resource.attributes" => {
                for pair in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (k, v) = pair.split_once('=').ok_or_else(|| invalid("k=v,k=v"))?;
                    if k.trim() == "service.name" {
                        self.resource.service_name = v.trim().to_owned();
                    } else {
                        self.resource
                            .attributes
                            .push((k.trim().to_owned(), AttrValue::Str(v.trim().to_owned())));
                    }
                }
            }
            "queue.capacity" => {
                *self = std::mem::take(self).queue_capacity(num("a count")? as usize)
            }
            "queue.max_bytes" => {
                *self = std::mem::take(self).max_queue_bytes(num("a size in bytes")? as usize)
            }
            "steps.max" => *self = std::mem::take(self).max_steps(num("a count")? as usize),
            "batch.size" => *self = std::mem::take(self).batch_size(num("a count")? as usize),
            "batch.max_bytes" => {
                *self = std::mem::take(self).max_batch_bytes(num("a size in bytes")? as usize)
            }
            "batch.delay_ms" => {
                *self =
                    std::mem::take(self).batch_delay(Duration::from_millis(num("milliseconds")?))
            }
            "sample.ratio" => {
                let r: f64 = value.parse().map_err(|_| invalid("a number from 0 to 1"))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(invalid("a number from 0 to 1"));
                }
                self.sample_ratio = r;
            }
            "sample.trees_per_second" => {
                self.trees_per_second = match value {
                    "unlimited" => None,
                    _ => Some(
                        value
                            .parse()
                            .map_err(|_| invalid("a count of call trees or unlimited"))?,
                    ),
                };
            }
            "sanitize" => {
                self.sanitize = value.parse().map_err(|_| invalid("true or false"))?;
            }
            "txn.cpu_time" => {
                self.cpu_time = value.parse().map_err(|_| invalid("true or false"))?;
            }
            "sample.slow_ms" => self.slow_threshold = Duration::from_millis(num("milliseconds")?),
            "exporter.queue_batches" => {
                self.exporter_queue_batches = (num("a count")? as usize).max(1)
            }
            "shutdown.timeout_ms" => {
                self.shutdown_timeout = Duration::from_millis(num("milliseconds")?)
            }
            "process.runtime.name" => self.runtime_mut().name = value.to_owned(),
            "process.runtime.version" => self.runtime_mut().version = value.to_owned(),
            "process.runtime.description" => self.runtime_mut().description = value.to_owned(),
            "host.metrics" => {
                self.host.enabled = value.parse().map_err(|_| invalid("true or false"))?;
            }
            "host.top_processes" => self.host.top_processes = num("a count")? as usize,
            "host.detail_interval_s" => {
                self.host.detail_every =
                    u32::try_from(num("seconds")?.max(1)).map_err(|_| invalid("seconds"))?
            }
            "exporter" => {
                for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    self.enable_exporter(name)?;
                }
            }
            _ => self.set_exporter_key(key, value)?,
        }
        Ok(())
    }

    /// The runtime reported as `process.runtime.*` (Rust's by default;
    /// `None` for none, as the C library does). Detected attributes never
    /// replace ones set through `resource.attributes`.
    pub fn process_runtime(mut self, runtime: Option<crate::resource::Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Host and container metrics on the collector thread, once a second
    /// (`host.metrics`, off by default; see [`crate::host`]).
    pub fn host_metrics(mut self, on: bool) -> Self {
        self.host.enabled = on;
        self
    }

    /// How many processes the host metrics list by CPU and by memory
    /// (`host.top_processes`; 0 lists none and skips the process scan).
    pub fn host_top_processes(mut self, n: usize) -> Self {
        self.host.top_processes = n;
        self
    }

    /// TCP states and top processes every `seconds` host samples
    /// (`host.detail_interval_s`, 5 by default; 1 for every second).
    pub fn host_detail_interval(mut self, seconds: u32) -> Self {
        self.host.detail_every = seconds.max(1);
        self
    }

    /// A runtime set key by key starts empty (not from Rust's).
    fn runtime_mut(&mut self) -> &mut crate::resource::Runtime {
        let rust = crate::resource::Runtime::rust();
        let r = self.runtime.get_or_insert_with(Default::default);
        if *r == rust {
            *r = Default::default();
        }
        r
    }

    fn enable_exporter(&mut self, name: &str) -> Result<(), ConfigError> {
        if name == "none" {
            self.specs.clear();
            return Ok(());
        }
        let entry = registry::find(name).ok_or_else(|| ConfigError::UnknownExporter {
            name: name.to_owned(),
            known: registry::names(),
        })?;
        self.settings_mut(entry);
        Ok(())
    }

    fn set_exporter_key(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match registry::for_key(key) {
            Some(entry) => self.settings_mut(entry).set(key, value),
            None => Err(ConfigError::UnknownKey(key.to_owned())),
        }
    }

    /// The settings of `entry`'s exporter, added with its defaults when
    /// this configuration does not start it yet.
    fn settings_mut(&mut self, entry: &ExporterEntry) -> &mut Box<dyn ExporterSettings> {
        let at = match self.specs.iter().position(|s| s.name() == entry.name) {
            Some(i) => i,
            None => {
                self.specs.push(ExporterSpec((entry.settings)()));
                self.specs.len() - 1
            }
        };
        &mut self.specs[at].0
    }

    /// Builds the exporters: the configured ones and your own, or the
    /// default one (the local store) when nothing at all is configured.
    pub(crate) fn build_exporters(&mut self) -> Result<Vec<Box<dyn Exporter>>, ConfigError> {
        let mut out = std::mem::take(&mut self.custom);
        let mut specs: Vec<Box<dyn ExporterSettings>> = std::mem::take(&mut self.specs)
            .into_iter()
            .map(|s| s.0)
            .collect();
        if specs.is_empty() && out.is_empty() {
            specs.extend(
                registry::EXPORTERS
                    .iter()
                    .filter(|e| e.is_default)
                    .map(|e| (e.settings)()),
            );
        }
        for settings in specs {
            out.push(
                settings
                    .build()
                    .map_err(|e| ConfigError::Exporter(e.to_string()))?,
            );
        }
        Ok(out)
    }
}

/// The data directory used when nothing else is configured:
/// `$OSPREY_DATA_DIR`, else `./osprey-data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("OSPREY_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("osprey-data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_set_known_keys() {
        let c =
            Config::from_pairs_str("service.name=shop; sample.ratio=0.25\nsteps.max=10").unwrap();
        assert_eq!(c.resource.service_name, "shop");
        assert_eq!(c.sample_ratio, 0.25);
        assert_eq!(c.max_steps, 10);
        assert_eq!(c.trees_per_second, None, "no budget by default");
        let c = Config::from_pairs_str("sample.trees_per_second=250").unwrap();
        assert_eq!(c.trees_per_second, Some(250));
        let c = c
            .with_pairs_str("sample.trees_per_second=unlimited")
            .unwrap();
        assert_eq!(c.trees_per_second, None);
    }

    #[test]
    fn pairs_apply_on_top_of_the_environment() {
        let env = |k: &str| match k {
            "OTEL_SERVICE_NAME" => Some("from-env".to_owned()),
            "OSPREY_BATCH_SIZE" => Some("64".to_owned()),
            _ => None,
        };
        let c = Config::default()
            .with_env(env)
            .unwrap()
            .with_pairs_str("batch.size=8")
            .unwrap();
        assert_eq!(c.resource.service_name, "from-env");
        assert_eq!(c.batch_size, 8);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_pairs_str("service.name=a;sampel.ratio=1").unwrap_err();
        assert_eq!(err, ConfigError::UnknownKey("sampel.ratio".into()));
        assert!(err.to_string().contains("sampel.ratio"));
        let err = Config::from_pairs_str("otlp.endpoit=x").unwrap_err();
        assert_eq!(err, ConfigError::UnknownKey("otlp.endpoit".into()));
    }

    #[test]
    fn bad_values_and_items_are_errors() {
        assert!(matches!(
            Config::from_pairs_str("sample.ratio=2"),
            Err(ConfigError::InvalidValue { .. })
        ));
        for budget in ["-1", "lots", "1.5"] {
            let err = Config::from_pairs_str(&format!("sample.trees_per_second={budget}"));
            assert!(
                matches!(err, Err(ConfigError::InvalidValue { .. })),
                "{budget}"
            );
        }
        assert!(matches!(
            Config::from_pairs_str("steps.max"),
            Err(ConfigError::Malformed(_))
        ));
        let err = Config::from_pairs_str("exporter=carrier-pigeon").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownExporter { name, known }
                if name == "carrier-pigeon" && known.contains(&"otlp")),
            "{err}"
        );
        assert!(err.to_string().contains("otlp"), "{err}");
    }

    #[test]
    fn env_reads_otel_and_osprey_variables() {
        let env = |k: &str| match k {
            "OTEL_SERVICE_NAME" => Some("checkout".to_owned()),
            "OTEL_RESOURCE_ATTRIBUTES" => {
                Some("service.name=ignored,deployment.environment=prod".to_owned())
            }
            "OSPREY_BATCH_SIZE" => Some("64".to_owned()),
            _ => None,
        };
        let c = Config::default().with_env(env).unwrap();
        assert_eq!(c.resource.service_name, "checkout");
        assert_eq!(c.batch_size, 64);
        assert_eq!(
            c.resource.attributes,
            vec![(
                "deployment.environment".into(),
                AttrValue::Str("prod".into())
            )]
        );
    }

    #[test]
    fn exporter_keys_come_from_the_registry() {
        let mut c = Config::from_pairs_str(
            "exporter=console;console.tree=true;otlp.endpoint=http://127.0.0.1:9;exporter=console",
        )
        .unwrap();
        let names: Vec<&str> = c.specs.iter().map(ExporterSpec::name).collect();
        assert_eq!(
            names,
            ["console", "otlp"],
            "one spec per exporter, in order"
        );
        assert!(keys().any(|k| k == "otlp.headers"));
        assert!(keys().any(|k| k == "sample.ratio"));
        let built = c.build_exporters().unwrap();
        let built: Vec<&str> = built.iter().map(|e| e.name()).collect();
        assert_eq!(built, ["console", "otlp"]);
        let none = Config::from_pairs_str("exporter=console;exporter=none").unwrap();
        assert!(!none.has_exporters());
        let defaults: Vec<&str> = registry::EXPORTERS
            .iter()
            .filter(|e| e.is_default)
            .map(|e| e.name)
            .collect();
        assert_eq!(
            defaults,
            ["store"],
            "the local store when nothing is configured"
        );
    }

    #[test]
    fn otlp_environment_selects_the_otlp_exporter() {
        let env = |k: &str| {
            (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:4318".to_owned())
        };
        let c = Config::default().with_env(env).unwrap();
        let names: Vec<&str> = c.specs.iter().map(ExporterSpec::name).collect();
        assert_eq!(names, ["otlp"]);
        let err = Config::default()
            .with_env(|k: &str| (k == "OSPREY_OTLP_TIMEOUT_MS").then(|| "soon".to_owned()))
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err}");
    }
}
