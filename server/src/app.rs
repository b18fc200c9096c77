//! The server's state: the store, the indexes and what the start-up scan
//! found, with the operations the HTTP layer and the CLI call.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use osprey::model::{SpanId, TraceId};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::index::{Index, IndexConfig, IndexStats};
use crate::record::{Batch, MetricPoint, SpanRec};
use crate::store::{self, Issue, SegmentInfo, Store, StoreConfig};
use crate::tree::{self, TreeJson};

/// Everything `osprey serve` is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Store settings (directory, segments, retention).
    pub store: StoreConfig,
    /// In-memory caps.
    pub index: IndexConfig,
    /// Largest request body accepted, as sent (default 16 MiB); more is 413.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression (default 64 MiB); more is 413.
    pub max_decompressed_bytes: usize,
    /// API keys, users and sessions (see [`crate::auth`]).
    pub auth: crate::auth::AuthConfig,
    /// TLS, connection cap and read timeouts of the listener.
    pub net: crate::api::NetConfig,
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
        }
    }
}

/// In-flight transactions of one service, as last reported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ActiveReport {
    /// Service.
    pub service: String,
    /// When the server received the report, UNIX ms (set by the server).
    #[serde(default)]
    pub received_ms: u64,
    /// The transactions in flight.
    pub transactions: Vec<ActiveTxn>,
}

/// One in-flight transaction.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ActiveTxn {
    /// Endpoint.
    pub endpoint: String,
    /// Elapsed so far, ms.
    pub elapsed_ms: f64,
    /// Thread name or id.
    #[serde(default)]
    pub thread: String,
    /// Trace id, if known.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The thread's stack, when captured.
    #[serde(default)]
    pub stack: Option<String>,
}

/// Limits of the active-services board.
const MAX_ACTIVE_SERVICES: usize = 256;
const MAX_ACTIVE_PER_SERVICE: usize = 1_000;

/// What `/api/status` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Segments on disk.
    pub segments: Vec<SegmentInfo>,
    /// Bytes in segments.
    pub store_bytes: u64,
    /// Damage found while reading segments (start-up scan and tree reads).
    pub issues: Vec<Issue>,
    /// Index counters.
    pub index: IndexStats,
    /// Records appended since start (one per trace per request, one per metrics request).
    pub records_written: u64,
}

/// The shared server state.
pub struct App {
    config: ServerConfig,
    store: Mutex<Store>,
    index: RwLock<Index>,
    issues: Mutex<Vec<Issue>>,
    active: Mutex<BTreeMap<String, ActiveReport>>,
    written: Mutex<u64>,
    /// Requests being decompressed and decoded at once (memory bound).
    ingest_slots: tokio::sync::Semaphore,
}

impl App {
    /// Opens the store and rebuilds the indexes from its segments; damaged
    /// segments are skipped, reported in the status and logged.
    pub fn open(config: ServerConfig) -> io::Result<Arc<Self>> {
        let mut store = Store::open(config.store.clone())?;
        store.enforce_retention(Store::now_ms());
        let mut index = Index::new(config.index.clone());
        let mut issues = Vec::new();
        for seg in store.segments() {
            let path = config.store.dir.join(&seg.name);
            let seq = seg.seq;
            let found = store::scan_segment(&path, |f| match store::decode_payload(&f.payload) {
                Ok(Batch::Spans(s)) => index.add_spans(
                    store::Loc {
                        segment: seq,
                        offset: f.offset,
                    },
                    &s,
                ),
                Ok(Batch::Metrics(m)) => index.add_metrics(&m),
                Err(e) => eprintln!(
                    "osprey: {} @{}: undecodable record: {e}",
                    seg.name, f.offset
                ),
            });
            for i in &found {
                eprintln!("osprey: store: {} @{}: {}", i.segment, i.offset, i.problem);
            }
            issues.extend(found);
        }
        Ok(Arc::new(Self {
            config,
            store: Mutex::new(store),
            index: RwLock::new(index),
            issues: Mutex::new(issues),
            active: Mutex::new(BTreeMap::new()),
            written: Mutex::new(0),
            ingest_slots: tokio::sync::Semaphore::new(Self::INGEST_SLOTS),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Stores `spans` (one record per trace, all in one write), then
    /// indexes them. When this returns `Ok`, the records are in the
    /// segment file. One record per trace keeps call-tree reads small.
    pub fn ingest_spans(&self, spans: Vec<SpanRec>) -> io::Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let mut order: Vec<TraceId> = Vec::new();
        let mut by_trace: std::collections::HashMap<TraceId, Vec<SpanRec>> =
            std::collections::HashMap::new();
        for s in spans {
            by_trace
                .entry(s.trace_id)
                .or_insert_with(|| {
                    order.push(s.trace_id);
                    Vec::new()
                })
                .push(s);
        }
        let batches: Vec<Batch> = order
            .iter()
            .filter_map(|t| by_trace.remove(t))
            .map(Batch::Spans)
            .collect();
        let mut store = self.store.lock();
        let locs = store.append_all(&batches)?;
        *self.written.lock() += batches.len() as u64;
        let mut index = self.index.write();
        for (loc, batch) in locs.into_iter().zip(&batches) {
            if let Batch::Spans(s) = batch {
                index.add_spans(loc, s);
            }
        }
        Ok(())
    }

    /// Stores and indexes metric points.
    pub fn ingest_metrics(&self, points: Vec<MetricPoint>) -> io::Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let batch = Batch::Metrics(points);
        let mut store = self.store.lock();
        store.append(&batch)?;
        *self.written.lock() += 1;
        if let Batch::Metrics(m) = &batch {
            self.index.write().add_metrics(m);
        }
        Ok(())
    }

    /// Replaces the active-services report of one service (kept in memory only).
    pub fn report_active(&self, mut report: ActiveReport) {
        report.received_ms = Store::now_ms();
        report.transactions.truncate(MAX_ACTIVE_PER_SERVICE);
        let mut board = self.active.lock();
        if board.len() >= MAX_ACTIVE_SERVICES && !board.contains_key(&report.service) {
            return;
        }
        board.insert(report.service.clone(), report);
    }

    /// The latest active-services report of every service.
    pub fn active(&self) -> Vec<ActiveReport> {
        self.active.lock().values().cloned().collect()
    }

    /// Runs `f` with the indexes read-locked.
    pub fn read<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&self.index.read())
    }

    /// Call trees: for a 16-hex-digit id, that transaction; for a
    /// 32-hex-digit id, every transaction of the trace. `None` when unknown.
    pub fn trees(&self, id: &str) -> Option<Vec<TreeJson>> {
        let (trace, txns) = {
            let index = self.index.read();
            if let Some(span) = SpanId::from_hex(id) {
                let t = index.by_span(span)?;
                (t.trace_id, vec![t.to_json()])
            } else {
                let trace = TraceId::from_hex(id)?;
                let t: Vec<_> = index.of_trace(trace).iter().map(|t| t.to_json()).collect();
                if t.is_empty() {
                    return None;
                }
                (trace, t)
            }
        };
        let spans = self.trace_spans(trace);
        Some(txns.into_iter().map(|t| tree::build(t, &spans)).collect())
    }

    /// Every stored span of `trace` still on disk.
    fn trace_spans(&self, trace: TraceId) -> Vec<SpanRec> {
        let locs = self.index.read().trace_locations(trace);
        let paths: Vec<_> = {
            let store = self.store.lock();
            locs.iter()
                .map(|l| (store.segment_path(l.segment), l.offset))
                .collect()
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (path, offset) in paths {
            let Some(path) = path else { continue };
            match store::read_frame_at(&path, offset).map(|p| store::decode_payload(&p)) {
                Ok(Ok(Batch::Spans(spans))) => out.extend(
                    spans
                        .into_iter()
                        .filter(|s| s.trace_id == trace && seen.insert(s.span_id)),
                ),
                Ok(Ok(Batch::Metrics(_))) => {}
                Ok(Err(e)) => self.note_issue(&path, offset, e),
                Err(e) => self.note_issue(&path, offset, e.to_string()),
            }
        }
        out
    }

    fn note_issue(&self, path: &std::path::Path, offset: u64, problem: String) {
        let segment = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("osprey: store: {segment} @{offset}: {problem}");
        let mut issues = self.issues.lock();
        if issues.len() < 1_000 {
            issues.push(Issue {
                segment,
                offset,
                problem,
            });
        }
    }

    /// Applies retention to the store and the indexes; called every few seconds.
    pub fn maintain(&self) {
        let now = Store::now_ms();
        let mut store = self.store.lock();
        store.enforce_retention(now);
        let oldest = store.segments().next().map_or(0, |s| s.seq);
        let cutoff = now
            .saturating_sub(self.config.store.max_age.as_millis() as u64)
            .saturating_mul(1_000_000);
        self.index.write().evict_older(oldest, cutoff);
    }

    /// Status for `/api/status`.
    pub fn status(&self) -> Status {
        let (segments, store_bytes) = {
            let s = self.store.lock();
            (s.segments().cloned().collect(), s.total_bytes())
        };
        Status {
            segments,
            store_bytes,
            issues: self.issues.lock().clone(),
            index: self.index.read().stats(),
            records_written: *self.written.lock(),
        }
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
