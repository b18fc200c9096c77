//! Encodes batches into records and hands them to the segment log, with
//! the name definitions and the resource every segment carries so it can
//! be read (or deleted) alone.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use super::StoreConfig;
use super::format::{
    self, FORMAT, KIND_ACTIVE, KIND_AGGREGATE, KIND_METRICS, KIND_NAMES, KIND_RESOURCE,
    KIND_TRANSACTION,
};
use crate::export::ExportError;
use crate::model::{ExportBatch, MetricRecord, Resource, TransactionRecord};
use crate::names::{self, NameId};
use crate::seglog::{self, LogConfig, SegmentLog};

/// Owns the data directory's segment files.
pub(super) struct SegmentWriter {
    log: SegmentLog,
    /// The segment that `defined` and `resource_written` describe.
    segment: Option<u64>,
    /// Names already defined in that segment.
    defined: HashSet<NameId>,
    resource_written: bool,
    resource: Option<Arc<Resource>>,
    /// Records encoded for the active segment, not yet appended.
    buf: Vec<u8>,
}

impl SegmentWriter {
    /// Creates the directory if needed, takes stock of existing segments
    /// and applies retention to them.
    pub fn open(config: StoreConfig) -> io::Result<Self> {
        let mut settings = LogConfig::new(config.dir);
        settings.segment_bytes = config.segment_bytes;
        settings.max_bytes = config.max_bytes;
        let mut log = SegmentLog::open(FORMAT, settings)?;
        log.enforce_retention(seglog::now_ms());
        Ok(Self {
            log,
            segment: None,
            defined: HashSet::new(),
            resource_written: false,
            resource: None,
            buf: Vec::new(),
        })
    }

    /// Writes a batch: its transactions (with the names they use),
    /// aggregates, metrics and active snapshots, one `write(2)` per segment
    /// it touches. The records encoded before an error are still written; on
    /// an I/O error the segment log abandons the active segment, so the next
    /// batch starts a fresh one.
    pub fn write_batch(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        let changed = match &self.resource {
            Some(r) => !Arc::ptr_eq(r, &batch.resource) && **r != *batch.resource,
            None => true,
        };
        if changed {
            self.resource = Some(batch.resource.clone());
            self.resource_written = false;
        }
        let now = seglog::now_ms();
        let encoded = self.encode_all(batch, now);
        let written = self.flush_buf(now);
        self.log.enforce_retention(now);
        encoded?;
        Ok(written?)
    }

    fn encode_all(&mut self, batch: &ExportBatch, now: u64) -> Result<(), ExportError> {
        for txn in &batch.transactions {
            self.prepare_segment(now)?;
            self.encode_names(txn)?;
            self.encode(KIND_TRANSACTION, txn)?;
        }
        for agg in &batch.aggregates {
            self.prepare_segment(now)?;
            self.encode(KIND_AGGREGATE, agg)?;
        }
        if !batch.metrics.is_empty() {
            self.prepare_segment(now)?;
            self.encode_metric_names(&batch.metrics)?;
            self.encode(KIND_METRICS, &batch.metrics)?;
        }
        for snapshot in &batch.active {
            self.prepare_segment(now)?;
            self.encode(KIND_ACTIVE, snapshot)?;
        }
        Ok(())
    }

    fn encode<T: serde::Serialize + ?Sized>(
        &mut self,
        kind: u8,
        value: &T,
    ) -> Result<(), ExportError> {
        format::encode_record(kind, value, &mut self.buf).map_err(ExportError::Encode)
    }

    /// Makes the bytes written durable (`fdatasync`).
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync()
    }

    /// Starts a new segment when none is open or the active one is full
    /// (counting what is encoded but not yet appended), and writes the
    /// resource where the segment lacks it.
    fn prepare_segment(&mut self, now: u64) -> Result<(), ExportError> {
        if self.log.roll_due(now, self.buf.len() as u64) {
            self.flush_buf(now)?;
            self.log.roll(now)?;
        }
        let active = self.log.active_seq();
        if self.segment != active {
            self.segment = active;
            self.defined.clear();
            self.resource_written = false;
        }
        if !self.resource_written
            && let Some(resource) = self.resource.clone()
        {
            self.encode(KIND_RESOURCE, &*resource)?;
            self.resource_written = true;
        }
        Ok(())
    }

    /// Appends the encoded records to the active segment.
    fn flush_buf(&mut self, now: u64) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let appended = self.log.append(&self.buf, now);
        self.buf.clear();
        appended.map(|_| ())
    }

    /// Adds a names record for every name `txn` uses that the active
    /// segment has not defined yet.
    fn encode_names(&mut self, txn: &TransactionRecord) -> Result<(), ExportError> {
        let mut ids = vec![txn.name];
        ids.extend(txn.attributes.iter().map(|a| a.key));
        for step in &txn.steps {
            ids.push(step.name);
            ids.extend(step.attributes.iter().map(|a| a.key));
        }
        self.define_names(ids)
    }

    /// Adds a names record for the metric names, units and attribute keys
    /// the active segment has not defined yet.
    fn encode_metric_names(&mut self, metrics: &[MetricRecord]) -> Result<(), ExportError> {
        let mut ids = Vec::new();
        for m in metrics {
            ids.extend([m.name, m.unit]);
            ids.extend(m.attributes.iter().map(|a| a.key));
        }
        self.define_names(ids)
    }

    fn define_names(&mut self, ids: Vec<NameId>) -> Result<(), ExportError> {
        let mut fresh: Vec<(u32, Arc<str>)> = Vec::new();
        for id in ids {
            if self.defined.insert(id) {
                fresh.push((id.0, names::resolve(id)));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let borrowed: Vec<(u32, &str)> = fresh.iter().map(|(id, n)| (*id, &**n)).collect();
        let encoded = self.encode(KIND_NAMES, &borrowed);
        if encoded.is_err() {
            // Not written: later records must define them again.
            for (id, _) in &fresh {
                self.defined.remove(&NameId(*id));
            }
        }
        encoded
    }

    /// Bytes held in segment files, the active one included.
    pub fn total_bytes(&self) -> u64 {
        self.log.total_bytes()
    }
}
