//! `osprey host`: host and container metrics of this machine, once a
//! second, sent over OTLP to a server — for machines without an
//! instrumented application. The sampling and export are the core's
//! (`osprey::host` on the collector thread, the OTLP exporter), started
//! with no transactions to record.

use std::time::Duration;

use osprey::Config;
use osprey::export::otlp::OtlpConfig;

use super::CliError;

/// `osprey host` options.
#[derive(clap::Args, Debug, Clone)]
pub struct HostArgs {
    /// The server's OTLP/HTTP base URL (`/v1/metrics` is appended).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    pub server: String,
    /// `service.name` the metrics are filed under.
    #[arg(long, default_value = "osprey-host")]
    pub service: String,
    /// Processes listed by CPU and by memory each second (0: none).
    #[arg(long, default_value_t = 5)]
    pub top_processes: usize,
    /// Seconds between the two costly parts: TCP states and the process scan.
    #[arg(long, default_value_t = 5)]
    pub detail_interval_s: u32,
    /// Header carrying the ingest key read from `OSPREY_API_KEY` (never
    /// from the command line); `authorization` sends `Bearer <key>`.
    #[arg(long, default_value = "authorization")]
    pub api_key_header: String,
    /// Stop after this long (`90s`, `30m`; default: run until killed).
    #[arg(long, value_parser = super::parse_duration)]
    pub duration: Option<Duration>,
}

/// The core configuration `osprey host` starts with: the environment
/// (`OTEL_*`, `OSPREY_*`) first, then the options; no runtime attributes
/// (the process is a collector, not an application).
pub fn config(args: &HostArgs, api_key: Option<&str>) -> Result<Config, CliError> {
    let bad = |e: osprey::ConfigError| CliError::bad("configuration", e.to_string().as_str());
    let mut otlp = OtlpConfig::default().endpoint(&args.server);
    if let Some(key) = api_key {
        otlp = if args.api_key_header.eq_ignore_ascii_case("authorization") {
            otlp.header("authorization", &format!("Bearer {key}"))
        } else {
            otlp.header(&args.api_key_header, key)
        };
    }
    Ok(Config::from_env()
        .map_err(bad)?
        .process_runtime(None)
        .service_name(&args.service)
        .host_metrics(true)
        .host_top_processes(args.top_processes)
        .host_detail_interval(args.detail_interval_s)
        .exporter_spec(otlp))
}

/// Runs until killed (or for `--duration`), then flushes what is left.
pub fn run(args: HostArgs) -> Result<(), CliError> {
    let key = std::env::var("OSPREY_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let guard = osprey::init(config(&args, key.as_deref())?)
        .map_err(|e| CliError::bad("cannot start", e.to_string().as_str()))?;
    println!(
        "osprey host: sending host and container metrics to {} every second as service {}",
        args.server, args.service
    );
    match args.duration {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    }
    drop(guard);
    Ok(())
}
