//! Appends framed records to the active segment, rolls segments by size and
//! deletes the oldest ones past the retention limit.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::StoreConfig;
use super::format::{
    self, KIND_ACTIVE, KIND_AGGREGATE, KIND_METRICS, KIND_NAMES, KIND_RESOURCE, KIND_TRANSACTION,
};
use crate::export::ExportError;
use crate::model::{ExportBatch, MetricRecord, Resource, TransactionRecord};
use crate::names::{self, NameId};

/// The segment being appended to.
struct Active {
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
    /// Names already defined in this segment.
    defined: HashSet<NameId>,
    resource_written: bool,
}

/// Owns the data directory's segment files.
pub(super) struct SegmentWriter {
    config: StoreConfig,
    active: Option<Active>,
    /// Finished segments, oldest first, with their sizes.
    closed: VecDeque<(PathBuf, u64)>,
    next_seq: u64,
    resource: Option<Arc<Resource>>,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
    buf: Vec<u8>,
}

impl SegmentWriter {
    /// Creates the directory if needed and takes stock of existing segments.
    pub fn open(config: StoreConfig) -> io::Result<Self> {
        fs::create_dir_all(&config.dir)?;
        let mut existing = Vec::new();
        for entry in fs::read_dir(&config.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(key) = name.to_str().and_then(format::parse_segment_file_name) {
                existing.push((key, entry.path(), entry.metadata()?.len()));
            }
        }
        existing.sort();
        let next_seq = existing.iter().map(|((_, seq), _, _)| seq + 1).max();
        let mut writer = Self {
            config,
            active: None,
            closed: existing.into_iter().map(|(_, p, len)| (p, len)).collect(),
            next_seq: next_seq.unwrap_or(0),
            resource: None,
            dir_dirty: false,
            buf: Vec::new(),
        };
        writer.enforce_retention();
        Ok(writer)
    }

    /// Writes a batch: its transactions (with the names they use) and
    /// aggregates. On an I/O error the active segment is abandoned, so the
    /// next batch starts a fresh one.
    pub fn write_batch(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        let changed = match &self.resource {
            Some(r) => !Arc::ptr_eq(r, &batch.resource) && **r != *batch.resource,
            None => true,
        };
        if changed {
            self.resource = Some(batch.resource.clone());
            if let Some(active) = &mut self.active {
                active.resource_written = false;
            }
        }
        let result = self.write_all(batch);
        if result.is_err() {
            self.abandon_active();
        }
        result
    }

    fn write_all(&mut self, batch: &ExportBatch) -> Result<(), ExportError> {
        for txn in &batch.transactions {
            self.prepare_segment()?;
            self.encode_names(txn)?;
            format::encode_record(KIND_TRANSACTION, txn, &mut self.buf)
                .map_err(ExportError::Encode)?;
            self.write_buf()?;
        }
        for agg in &batch.aggregates {
            self.prepare_segment()?;
            format::encode_record(KIND_AGGREGATE, agg, &mut self.buf)
                .map_err(ExportError::Encode)?;
            self.write_buf()?;
        }
        if !batch.metrics.is_empty() {
            self.prepare_segment()?;
            self.encode_metric_names(&batch.metrics)?;
            format::encode_record(KIND_METRICS, &batch.metrics, &mut self.buf)
                .map_err(ExportError::Encode)?;
            self.write_buf()?;
        }
        for snapshot in &batch.active {
            self.prepare_segment()?;
            format::encode_record(KIND_ACTIVE, snapshot, &mut self.buf)
                .map_err(ExportError::Encode)?;
            self.write_buf()?;
        }
        if let Some(active) = &mut self.active {
            active.file.flush()?;
        }
        self.enforce_retention();
        Ok(())
    }

    /// Flushes buffered bytes and makes them durable (`fdatasync`).
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(active) = &mut self.active {
            active.file.flush()?;
            active.file.get_ref().sync_data()?;
        }
        if self.dir_dirty {
            #[cfg(unix)]
            File::open(&self.config.dir)?.sync_all()?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Rolls to a new segment when none is open or the active one is full,
    /// and writes the resource where the segment lacks it.
    fn prepare_segment(&mut self) -> Result<(), ExportError> {
        let full = self
            .active
            .as_ref()
            .is_none_or(|a| a.bytes >= self.config.segment_bytes);
        if full {
            self.roll()?;
        }
        let active = self.active.as_mut().expect("a segment is open after roll");
        if !active.resource_written
            && let Some(resource) = &self.resource
        {
            format::encode_record(KIND_RESOURCE, &**resource, &mut self.buf)
                .map_err(ExportError::Encode)?;
            active.resource_written = true;
        }
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        if let Some(mut old) = self.active.take() {
            old.file.flush()?;
            old.file.get_ref().sync_data()?;
            self.closed.push_back((old.path, old.bytes));
        }
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let path = self
            .config
            .dir
            .join(format::segment_file_name(unix_ms, self.next_seq));
        self.next_seq += 1;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut file = BufWriter::with_capacity(64 * 1024, file);
        file.write_all(&format::header())?;
        self.active = Some(Active {
            path,
            file,
            bytes: format::HEADER_LEN,
            defined: HashSet::new(),
            resource_written: false,
        });
        self.dir_dirty = true;
        self.enforce_retention();
        Ok(())
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
        let active = self.active.as_mut().expect("a segment is open");
        let mut fresh: Vec<(u32, Arc<str>)> = Vec::new();
        for id in ids {
            if active.defined.insert(id) {
                fresh.push((id.0, names::resolve(id)));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let borrowed: Vec<(u32, &str)> = fresh.iter().map(|(id, n)| (*id, &**n)).collect();
        format::encode_record(KIND_NAMES, &borrowed, &mut self.buf).map_err(ExportError::Encode)
    }

    fn write_buf(&mut self) -> io::Result<()> {
        let active = self.active.as_mut().expect("a segment is open");
        let result = active.file.write_all(&self.buf);
        active.bytes += self.buf.len() as u64;
        self.buf.clear();
        result
    }

    fn abandon_active(&mut self) {
        self.buf.clear();
        if let Some(old) = self.active.take() {
            let len = fs::metadata(&old.path).map_or(old.bytes, |m| m.len());
            self.closed.push_back((old.path, len));
        }
    }

    /// Deletes the oldest finished segments while the total exceeds
    /// `max_bytes`; the active segment is never deleted.
    fn enforce_retention(&mut self) {
        let active = self.active.as_ref().map_or(0, |a| a.bytes);
        let mut total: u64 = active + self.closed.iter().map(|(_, len)| len).sum::<u64>();
        while total > self.config.max_bytes {
            let Some((path, len)) = self.closed.pop_front() else {
                break;
            };
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => crate::diag::warn(
                    "store",
                    &format!("cannot delete old segment {}: {e}", path.display()),
                ),
            }
            total -= len;
        }
    }

    /// Bytes held in segment files, the active one included.
    pub fn total_bytes(&self) -> u64 {
        self.active.as_ref().map_or(0, |a| a.bytes)
            + self.closed.iter().map(|(_, l)| l).sum::<u64>()
    }
}
