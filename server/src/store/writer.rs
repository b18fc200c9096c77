//! The server's writer over the core's segment log: one record per batch,
//! all of a request in one `write(2)`; segments rolled by time window and
//! size, deleted by age and total size.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use osprey::seglog::{LogConfig, SegmentLog};

use super::{FORMAT, Loc, encode_batch};
use crate::record::Batch;
use crate::time::now_ms;

pub use osprey::seglog::SegmentInfo;

/// Store settings.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Data directory.
    pub dir: PathBuf,
    /// A segment covers at most this much wall-clock time (default 1 h).
    pub segment_window: Duration,
    /// A new segment starts past this size (default 64 MiB).
    pub segment_bytes: u64,
    /// Segments whose last write is older than this are deleted (default 7 days).
    pub max_age: Duration,
    /// Oldest segments are deleted while the total exceeds this (default 4 GiB).
    pub max_bytes: u64,
    /// `fdatasync` every record before acknowledging it (default off: a
    /// record is in the OS page cache before the answer, which survives a
    /// killed process but not a power loss).
    pub fsync: bool,
}

impl StoreConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_window: Duration::from_secs(3_600),
            segment_bytes: 64 << 20,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 4 << 30,
            fsync: false,
        }
    }

    fn log_config(&self) -> LogConfig {
        LogConfig {
            dir: self.dir.clone(),
            segment_bytes: self.segment_bytes,
            segment_window: Some(self.segment_window),
            max_bytes: self.max_bytes,
            max_age: Some(self.max_age),
            fsync: self.fsync,
        }
    }
}

/// The writer side of the store; one per data directory.
pub struct Store {
    config: StoreConfig,
    log: SegmentLog,
    buf: Vec<u8>,
}

impl Store {
    /// Opens (creating) the directory and lists its segments, oldest first.
    /// Appends always go to a new segment, so a torn tail left by a crash is
    /// never written after.
    pub fn open(config: StoreConfig) -> io::Result<Self> {
        Ok(Self {
            log: SegmentLog::open(FORMAT, config.log_config())?,
            config,
            buf: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Path of segment `seq`, if it still exists.
    pub fn segment_path(&self, seq: u64) -> Option<PathBuf> {
        self.log.segment_path(seq)
    }

    /// Every segment, oldest first (the active one last).
    pub fn segments(&self) -> impl Iterator<Item = &SegmentInfo> {
        self.log.segments()
    }

    /// Sequence number of the segment taking writes, if one is open.
    pub fn active_seq(&self) -> Option<u64> {
        self.log.active_seq()
    }

    /// Closes the segment taking writes (synced); the next append starts
    /// a new one.
    pub fn close_active(&mut self) {
        if let Err(e) = self.log.close_active() {
            eprintln!("osprey: store: cannot sync the closed segment: {e}");
        }
    }

    /// Bytes held in segments.
    pub fn total_bytes(&self) -> u64 {
        self.log.total_bytes()
    }

    /// Appends `batch` as one record and returns where it lies. The bytes
    /// are handed to the OS (and synced with `fsync`) before this returns.
    pub fn append(&mut self, batch: &Batch) -> io::Result<Loc> {
        Ok(self.append_all(std::slice::from_ref(batch))?[0])
    }

    /// Appends one record per batch with a single `write(2)` (and at most
    /// one `fdatasync`); returns where each lies, in order. All records go
    /// to the same segment.
    pub fn append_all(&mut self, batches: &[Batch]) -> io::Result<Vec<Loc>> {
        self.buf.clear();
        let mut offsets = Vec::with_capacity(batches.len());
        for batch in batches {
            offsets.push(self.buf.len() as u64);
            encode_batch(batch, &mut self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        let now = now_ms();
        if self.log.roll_due(now, 0) {
            self.log.roll(now)?;
        }
        let at = self.log.append(&self.buf, now)?;
        Ok(offsets
            .into_iter()
            .map(|o| Loc {
                segment: at.segment,
                offset: at.offset + o,
            })
            .collect())
    }

    /// Deletes closed segments older than `max_age` or beyond `max_bytes`,
    /// oldest first; returns the sequence numbers deleted. The active
    /// segment is never deleted.
    pub fn enforce_retention(&mut self, now_ms: u64) -> Vec<u64> {
        self.log.enforce_retention(now_ms)
    }

    /// Current UNIX time in ms, as the store sees it.
    pub fn now_ms() -> u64 {
        now_ms()
    }
}
