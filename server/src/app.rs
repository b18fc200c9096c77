//! The server's state: its configuration and its [`Storage`] backend,
//! with the operations the HTTP layer, the gRPC services and the CLI call.
//! Everything that reads or writes data goes through the trait.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use osprey::model::{SpanId, TraceId};

use crate::record::{MetricPoint, SpanRec};
use crate::storage::embedded::{EmbeddedStorage, IndexConfig, StoreConfig};
use crate::storage::{IngestBatch, ReadView, Storage, StorageResult};
// Moved to `storage`; re-exported for existing callers.
pub use crate::storage::{ActiveReport, ActiveTxn, Status};
use crate::tree::{self, TreeJson};

/// Everything `osprey serve` is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Data directory, and the embedded backend's segments and retention.
    pub store: StoreConfig,
    /// The embedded backend's in-memory caps.
    pub index: IndexConfig,
    /// Largest request body accepted, as sent (default 16 MiB); more is 413.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression (default 64 MiB); more is 413.
    pub max_decompressed_bytes: usize,
    /// API keys, users and sessions (see [`crate::auth`]).
    pub auth: crate::auth::AuthConfig,
    /// TLS, connection cap and read timeouts of the listener.
    pub net: crate::api::NetConfig,
    /// Store in ClickHouse instead of the embedded store (`--storage`).
    pub clickhouse: Option<crate::storage::clickhouse::ClickHouseConfig>,
    /// Alert rules and notifiers (see [`crate::alerts`]).
    pub alerts: crate::alerts::AlertConfig,
}

impl ServerConfig {
    /// Defaults with data in `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            store: StoreConfig::new(dir),
            index: IndexConfig::default(),
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            auth: crate::auth::AuthConfig::default(),
            net: crate::api::NetConfig::default(),
            clickhouse: None,
            alerts: crate::alerts::AlertConfig::default(),
        }
    }
}

/// The shared server state.
pub struct App {
    config: ServerConfig,
    storage: Arc<dyn Storage>,
    /// Requests being decompressed and decoded at once (memory bound).
    ingest_slots: tokio::sync::Semaphore,
}

impl App {
    /// Opens the backend `config` names: ClickHouse when
    /// `config.clickhouse` is set (its schema must exist), else the
    /// embedded backend in `config.store.dir` (the segment store and the
    /// indexes rebuilt from it; damaged segments are skipped, reported in
    /// the status and logged).
    pub fn open(config: ServerConfig) -> io::Result<Arc<Self>> {
        if let Some(ch) = config.clickhouse.clone() {
            let storage = crate::storage::clickhouse::ClickHouseStorage::open(ch)
                .map_err(|e| io::Error::other(e.to_string()))?;
            return Ok(Self::with_storage(config, Arc::new(storage)));
        }
        let storage = EmbeddedStorage::open(config.store.clone(), config.index.clone())?;
        Ok(Self::with_storage(config, Arc::new(storage)))
    }

    /// Serves `storage` (any backend) with `config`'s limits.
    pub fn with_storage(config: ServerConfig, storage: Arc<dyn Storage>) -> Arc<Self> {
        Arc::new(Self {
            config,
            storage,
            ingest_slots: tokio::sync::Semaphore::new(Self::INGEST_SLOTS),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The storage backend.
    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// Stores `spans`; when this returns `Ok`, they are durable (see
    /// [`Storage::append`]) and queryable.
    pub fn ingest_spans(&self, spans: Vec<SpanRec>) -> StorageResult<()> {
        self.storage
            .append(IngestBatch {
                spans,
                metrics: Vec::new(),
            })
            .map(drop)
    }

    /// Stores metric points.
    pub fn ingest_metrics(&self, points: Vec<MetricPoint>) -> StorageResult<()> {
        self.storage
            .append(IngestBatch {
                spans: Vec::new(),
                metrics: points,
            })
            .map(drop)
    }

    /// Replaces the active-services report of one service, stamped with
    /// the time it arrived.
    pub fn report_active(&self, mut report: ActiveReport) -> StorageResult<()> {
        report.received_ms = crate::time::now_ms();
        self.storage.report_active(report)
    }

    /// Runs `f` with the storage's queries, which panic on a backend
    /// error: for tests and benchmarks (the server uses [`App::storage`]).
    pub fn read<R>(&self, f: impl FnOnce(&ReadView<'_>) -> R) -> R {
        f(&ReadView(&*self.storage))
    }

    /// Call trees: for a 16-hex-digit id, that transaction; for a
    /// 32-hex-digit id, every transaction of the trace. `None` when unknown.
    pub fn find_trees(&self, id: &str) -> StorageResult<Option<Vec<TreeJson>>> {
        let (trace, txns) = if let Some(span) = SpanId::from_hex(id) {
            match self.storage.transaction(span)? {
                Some(t) => (t.trace_id, vec![t.to_json()]),
                None => return Ok(None),
            }
        } else {
            let Some(trace) = TraceId::from_hex(id) else {
                return Ok(None);
            };
            let t: Vec<_> = self
                .storage
                .trace_transactions(trace)?
                .iter()
                .map(|t| t.to_json())
                .collect();
            if t.is_empty() {
                return Ok(None);
            }
            (trace, t)
        };
        let spans = self.storage.trace_spans(trace)?;
        Ok(Some(
            txns.into_iter().map(|t| tree::build(t, &spans)).collect(),
        ))
    }

    /// [`App::find_trees`] for tests and benchmarks.
    ///
    /// # Panics
    /// When the backend fails.
    pub fn trees(&self, id: &str) -> Option<Vec<TreeJson>> {
        self.find_trees(id)
            .unwrap_or_else(|e| panic!("storage query failed: {e}"))
    }

    /// Applies retention; called at start and every few seconds. A
    /// failure is logged and retried at the next call.
    pub fn maintain(&self) {
        if let Err(e) = self.storage.apply_retention(crate::time::now_ms()) {
            eprintln!("osprey: retention: {e}");
        }
    }

    /// Status for `/api/status`.
    pub fn status(&self) -> Status {
        self.storage.status()
    }

    /// At most this many requests are decompressed and decoded at once;
    /// others wait with their (size-capped) bodies.
    pub const INGEST_SLOTS: usize = 4;

    /// Waits for a decoding slot; hold the permit while decoding.
    pub async fn ingest_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.ingest_slots.acquire().await.ok()
    }

    /// How often [`App::maintain`] runs.
    pub const MAINTAIN_EVERY: Duration = Duration::from_secs(5);
}
