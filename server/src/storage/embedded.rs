//! Today's backend: every acknowledged request in the segment store
//! ([`crate::store`]), transaction summaries, server-map calls and metric
//! series in the capped in-memory indexes ([`crate::index`]), rebuilt from
//! the segments at open; call trees read back from disk by position.
//! Active-services reports are kept in memory, the latest per service.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::Path;

use osprey::model::{SpanId, TraceId};
use parking_lot::{Mutex, RwLock};

use super::{
    ActiveReport, AppendAck, EdgeJson, IngestBatch, InstanceJson, RetentionReport, SecondStats,
    SeriesJson, SeriesQuery, Status, Storage, StorageError, StorageResult, TxnFilter, TxnPage,
    TxnRow,
};
use crate::index::Index;
use crate::record::{Batch, SpanRec};
use crate::store::{self, Issue, Store};
/// The backend's settings: segments and retention, and in-memory caps.
pub use crate::{index::IndexConfig, store::StoreConfig};

/// Limits of the active-services board.
const MAX_ACTIVE_SERVICES: usize = 256;
const MAX_ACTIVE_PER_SERVICE: usize = 1_000;
/// Most damage reports kept after start-up.
const MAX_ISSUES: usize = 1_000;

/// The segment store and the in-memory indexes behind [`Storage`].
pub struct EmbeddedStorage {
    store_config: StoreConfig,
    store: Mutex<Store>,
    index: RwLock<Index>,
    issues: Mutex<Vec<Issue>>,
    active: Mutex<BTreeMap<String, ActiveReport>>,
    written: Mutex<u64>,
}

impl EmbeddedStorage {
    /// Opens the store in `store.dir`, applies retention and rebuilds the
    /// indexes from its segments; damaged segments and records are
    /// skipped, reported in the status and logged.
    pub fn open(store: StoreConfig, index: IndexConfig) -> io::Result<Self> {
        let mut segments = Store::open(store.clone())?;
        segments.enforce_retention(Store::now_ms());
        let mut idx = Index::new(index);
        let mut issues = Vec::new();
        for seg in segments.segments() {
            let path = store.dir.join(&seg.name);
            let seq = seg.seq;
            let found = store::scan_segment(&path, |f| match store::decode_payload(&f.payload) {
                Ok(Batch::Spans(s)) => idx.add_spans(
                    store::Loc {
                        segment: seq,
                        offset: f.offset,
                    },
                    &s,
                ),
                Ok(Batch::Metrics(m)) => idx.add_metrics(&m),
                Ok(Batch::Active(_)) => {}
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
        Ok(Self {
            store_config: store,
            store: Mutex::new(segments),
            index: RwLock::new(idx),
            issues: Mutex::new(issues),
            active: Mutex::new(BTreeMap::new()),
            written: Mutex::new(0),
        })
    }

    /// One record per trace (in first-seen order), then one for the
    /// metrics: one record per trace keeps call-tree reads small.
    fn records(batch: IngestBatch) -> Vec<Batch> {
        let mut order: Vec<TraceId> = Vec::new();
        let mut by_trace: HashMap<TraceId, Vec<SpanRec>> = HashMap::new();
        for s in batch.spans {
            by_trace
                .entry(s.trace_id)
                .or_insert_with(|| {
                    order.push(s.trace_id);
                    Vec::new()
                })
                .push(s);
        }
        let mut records: Vec<Batch> = order
            .iter()
            .filter_map(|t| by_trace.remove(t))
            .map(Batch::Spans)
            .collect();
        if !batch.metrics.is_empty() {
            records.push(Batch::Metrics(batch.metrics));
        }
        records
    }

    fn note_issue(&self, path: &Path, offset: u64, problem: String) {
        let segment = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("osprey: store: {segment} @{offset}: {problem}");
        let mut issues = self.issues.lock();
        if issues.len() < MAX_ISSUES {
            issues.push(Issue {
                segment,
                offset,
                problem,
            });
        }
    }
}

impl Storage for EmbeddedStorage {
    fn backend(&self) -> &'static str {
        "segment-log"
    }

    /// All records of the batch go in one write; the indexes are updated
    /// after it, under the store lock, so ingest order is index order.
    fn append(&self, batch: IngestBatch) -> StorageResult<AppendAck> {
        let mut ack = AppendAck {
            records: 0,
            spans: batch.spans.len() as u64,
            metric_points: batch.metrics.len() as u64,
        };
        let records = Self::records(batch);
        if records.is_empty() {
            return Ok(ack);
        }
        let mut store = self.store.lock();
        let locs = store.append_all(&records)?;
        ack.records = records.len() as u64;
        *self.written.lock() += ack.records;
        let mut index = self.index.write();
        for (loc, record) in locs.into_iter().zip(&records) {
            match record {
                Batch::Spans(s) => index.add_spans(loc, s),
                Batch::Metrics(m) => index.add_metrics(m),
                Batch::Active(_) => {}
            }
        }
        Ok(ack)
    }

    fn transactions(&self, filter: &TxnFilter, limit: usize) -> StorageResult<TxnPage> {
        let index = self.index.read();
        Ok(TxnPage {
            cursor: index.cursor(),
            transactions: index
                .transactions(filter, limit)
                .into_iter()
                .map(|t| t.row())
                .collect(),
        })
    }

    fn since(&self, cursor: u64, limit: usize) -> StorageResult<TxnPage> {
        let index = self.index.read();
        Ok(TxnPage {
            cursor: index.cursor(),
            transactions: index
                .since(cursor, limit)
                .into_iter()
                .map(|t| t.row())
                .collect(),
        })
    }

    fn transaction(&self, id: SpanId) -> StorageResult<Option<TxnRow>> {
        Ok(self.index.read().by_span(id).map(|t| t.row()))
    }

    fn trace_transactions(&self, trace: TraceId) -> StorageResult<Vec<TxnRow>> {
        let index = self.index.read();
        Ok(index.of_trace(trace).into_iter().map(|t| t.row()).collect())
    }

    fn trace_spans(&self, trace: TraceId) -> StorageResult<Vec<SpanRec>> {
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
                Ok(Ok(Batch::Metrics(_) | Batch::Active(_))) => {}
                Ok(Err(e)) => self.note_issue(&path, offset, e),
                Err(e) => self.note_issue(&path, offset, e.to_string()),
            }
        }
        Ok(out)
    }

    fn seconds(&self, from_s: u64, to_s: u64, window_s: u64) -> StorageResult<Vec<SecondStats>> {
        Ok(self.index.read().seconds(from_s, to_s, window_s))
    }

    fn server_map(&self, from_ns: u64, to_ns: u64) -> StorageResult<Vec<EdgeJson>> {
        Ok(self.index.read().server_map(from_ns, to_ns))
    }

    fn series(&self, q: &SeriesQuery) -> StorageResult<Vec<SeriesJson>> {
        Ok(self.index.read().series(q))
    }

    fn instances(&self, service: Option<&str>) -> StorageResult<Vec<InstanceJson>> {
        Ok(self.index.read().instances(service))
    }

    /// Kept in memory only; at most 256 services and 1,000 transactions
    /// each (a new service past the cap is ignored).
    fn report_active(&self, mut report: ActiveReport) -> StorageResult<()> {
        report.transactions.truncate(MAX_ACTIVE_PER_SERVICE);
        let mut board = self.active.lock();
        if board.len() >= MAX_ACTIVE_SERVICES && !board.contains_key(&report.service) {
            return Ok(());
        }
        board.insert(report.service.clone(), report);
        Ok(())
    }

    fn active(&self) -> StorageResult<Vec<ActiveReport>> {
        Ok(self.active.lock().values().cloned().collect())
    }

    fn active_at(&self, _second: u64) -> StorageResult<Vec<ActiveReport>> {
        Err(StorageError::Unsupported(
            "active services per second (only the latest report is kept)",
        ))
    }

    /// Deletes whole segments (by age of their last write, then by total
    /// size) and forgets what was in them, and every transaction, call
    /// and metric point that ended before the age limit.
    fn apply_retention(&self, now_ms: u64) -> StorageResult<RetentionReport> {
        let mut store = self.store.lock();
        let deleted = store.enforce_retention(now_ms);
        let oldest = store.segments().next().map_or(0, |s| s.seq);
        let cutoff = now_ms
            .saturating_sub(self.store_config.max_age.as_millis() as u64)
            .saturating_mul(1_000_000);
        self.index.write().evict_older(oldest, cutoff);
        Ok(RetentionReport {
            partitions_removed: deleted.len() as u64,
        })
    }

    fn status(&self) -> Status {
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
}
