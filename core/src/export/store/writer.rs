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

/// Encoded records are appended once this many bytes wait (and at the end
/// of every batch): one `write(2)` per 64 KiB, and memory bounded as a
/// 64 KiB `BufWriter` would bound it.
const FLUSH_BYTES: usize = 64 * 1024;

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
    /// aggregates, metrics and active snapshots, one `write(2)` per
    /// [`FLUSH_BYTES`] and per segment it touches. The records encoded
    /// before an error are still written; on
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
        } else if self.buf.len() >= FLUSH_BYTES {
            self.flush_buf(now)?;
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
        if self.buf.capacity() > 4 * FLUSH_BYTES {
            // One large record passed: give its memory back.
            self.buf.shrink_to(FLUSH_BYTES);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::store::StoreReader;
    use crate::model::{SpanId, SpanKind, TraceId};

    fn txn(endpoint: &str) -> TransactionRecord {
        TransactionRecord {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: None,
            kind: SpanKind::Server,
            name: names::intern(endpoint),
            start_unix_ns: 1_700_000_000_000_000_000,
            elapsed_ns: 5_000,
            busy_ns: None,
            error: None,
            attributes: Vec::new(),
            steps: Vec::new(),
            dropped_steps: 0,
            repaired: false,
            sampled: false,
            thread_id: 1,
        }
    }

    fn batch(t: TransactionRecord) -> ExportBatch {
        ExportBatch {
            resource: Arc::new(Resource {
                service_name: "svc".into(),
                attributes: Vec::new(),
            }),
            transactions: vec![t],
            aggregates: Vec::new(),
            metrics: Vec::new(),
            active: Vec::new(),
        }
    }

    #[test]
    fn after_a_failed_write_the_next_segment_defines_its_names_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SegmentWriter::open(StoreConfig {
            dir: dir.path().to_owned(),
            ..StoreConfig::default()
        })
        .unwrap();
        writer.write_batch(&batch(txn("GET /a"))).unwrap();
        let first = writer.log.segment_path(0).unwrap();
        // A read-only descriptor: the next write(2) fails.
        writer
            .log
            .replace_active_file(std::fs::File::open(&first).unwrap());
        assert!(writer.write_batch(&batch(txn("GET /a"))).is_err());
        writer.write_batch(&batch(txn("GET /a"))).unwrap();
        writer.sync().unwrap();

        let reader = StoreReader::open(dir.path()).unwrap();
        assert_eq!(reader.segments().len(), 2, "{:?}", reader.segments());
        let (txns, issues) = reader.transactions();
        assert!(issues.is_empty(), "{issues:?}");
        let endpoints: Vec<&str> = txns.iter().map(|t| t.endpoint()).collect();
        assert_eq!(
            endpoints,
            ["GET /a", "GET /a"],
            "names and resource in both"
        );
        assert!(txns.iter().all(|t| t.resource.is_some()));
    }
}
