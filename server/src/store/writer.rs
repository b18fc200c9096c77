//! Appends framed records to the active segment; rolls segments by time
//! window and size; deletes the oldest by age and total size.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::{Loc, encode_batch, header, parse_segment_name, segment_name};
use crate::record::Batch;

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
}

/// A segment file known to the store.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentInfo {
    /// Sequence number.
    pub seq: u64,
    /// File name.
    pub name: String,
    /// Creation time, UNIX ms (from the name).
    pub created_ms: u64,
    /// Last write, UNIX ms.
    pub last_write_ms: u64,
    /// Size in bytes.
    pub bytes: u64,
}

struct Active {
    file: File,
    info: SegmentInfo,
}

/// The writer side of the store; one per data directory.
pub struct Store {
    config: StoreConfig,
    active: Option<Active>,
    closed: VecDeque<SegmentInfo>,
    next_seq: u64,
    buf: Vec<u8>,
}

use crate::time::now_ms;

impl Store {
    /// Opens (creating) the directory and lists its segments, oldest first.
    /// Appends always go to a new segment, so a torn tail left by a crash is
    /// never written after.
    pub fn open(config: StoreConfig) -> io::Result<Self> {
        fs::create_dir_all(&config.dir)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(&config.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((ms, seq)) = parse_segment_name(&name) {
                let meta = entry.metadata()?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(ms, |d| d.as_millis() as u64);
                found.push(SegmentInfo {
                    seq,
                    name,
                    created_ms: ms,
                    last_write_ms: modified,
                    bytes: meta.len(),
                });
            }
        }
        found.sort_by_key(|s| s.seq);
        let next_seq = found.last().map_or(0, |s| s.seq + 1);
        Ok(Self {
            config,
            active: None,
            closed: found.into(),
            next_seq,
            buf: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Path of segment `seq`, if it still exists.
    pub fn segment_path(&self, seq: u64) -> Option<PathBuf> {
        self.segments()
            .find(|s| s.seq == seq)
            .map(|s| self.config.dir.join(&s.name))
    }

    /// Every segment, oldest first (the active one last).
    pub fn segments(&self) -> impl Iterator<Item = &SegmentInfo> {
        self.closed
            .iter()
            .chain(self.active.as_ref().map(|a| &a.info))
    }

    /// Sequence number of the segment taking writes, if one is open.
    pub fn active_seq(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.info.seq)
    }

    /// Closes the segment taking writes (synced); the next append starts
    /// a new one.
    pub fn close_active(&mut self) {
        if let Some(old) = self.active.take() {
            let _ = old.file.sync_data();
            self.closed.push_back(old.info);
        }
    }

    /// Bytes held in segments.
    pub fn total_bytes(&self) -> u64 {
        self.segments().map(|s| s.bytes).sum()
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
        let roll = self.active.as_ref().is_none_or(|a| {
            a.info.bytes >= self.config.segment_bytes
                || now.saturating_sub(a.info.created_ms)
                    >= self.config.segment_window.as_millis() as u64
        });
        if roll {
            self.roll(now)?;
        }
        let active = self.active.as_mut().expect("a segment is open after roll");
        let (segment, base) = (active.info.seq, active.info.bytes);
        if let Err(e) = active.file.write_all(&self.buf) {
            // The segment may now end in a partial frame: never append to it again.
            self.abandon();
            return Err(e);
        }
        if self.config.fsync
            && let Err(e) = active.file.sync_data()
        {
            self.abandon();
            return Err(e);
        }
        active.info.bytes += self.buf.len() as u64;
        active.info.last_write_ms = now;
        Ok(offsets
            .into_iter()
            .map(|o| Loc {
                segment,
                offset: base + o,
            })
            .collect())
    }

    fn abandon(&mut self) {
        if let Some(old) = self.active.take() {
            let mut info = old.info;
            info.bytes = old.file.metadata().map_or(info.bytes, |m| m.len());
            self.closed.push_back(info);
        }
    }

    fn roll(&mut self, now: u64) -> io::Result<()> {
        self.close_active();
        let seq = self.next_seq;
        self.next_seq += 1;
        let name = segment_name(now, seq);
        let path = self.config.dir.join(&name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(&header())?;
        sync_dir(&self.config.dir);
        self.active = Some(Active {
            file,
            info: SegmentInfo {
                seq,
                name,
                created_ms: now,
                last_write_ms: now,
                bytes: header().len() as u64,
            },
        });
        self.enforce_retention(now);
        Ok(())
    }

    /// Deletes closed segments older than `max_age` or beyond `max_bytes`,
    /// oldest first; returns the sequence numbers deleted. The active
    /// segment is never deleted.
    pub fn enforce_retention(&mut self, now_ms: u64) -> Vec<u64> {
        let max_age = self.config.max_age.as_millis() as u64;
        let mut total = self.total_bytes();
        let mut deleted = Vec::new();
        while let Some(oldest) = self.closed.front() {
            let too_old = now_ms.saturating_sub(oldest.last_write_ms) > max_age;
            if !too_old && total <= self.config.max_bytes {
                break;
            }
            let info = self.closed.pop_front().expect("front exists");
            if let Err(e) = fs::remove_file(self.config.dir.join(&info.name))
                && e.kind() != io::ErrorKind::NotFound
            {
                eprintln!("osprey: cannot delete segment {}: {e}", info.name);
            }
            total = total.saturating_sub(info.bytes);
            deleted.push(info.seq);
        }
        deleted
    }

    /// Current UNIX time in ms, as the store sees it.
    pub fn now_ms() -> u64 {
        now_ms()
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
