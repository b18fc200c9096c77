//! The writer: one active segment taking appends, the finished ones behind
//! it, rolling by size and window, retention by total size and age.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::{HEADER_LEN, SegmentFormat};

/// Settings of a [`SegmentLog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Directory holding the segment files (created when missing).
    pub dir: PathBuf,
    /// A new segment starts once the active one holds this many bytes
    /// (default 64 MiB).
    pub segment_bytes: u64,
    /// A new segment starts once the active one is this old (default: none).
    pub segment_window: Option<Duration>,
    /// The oldest finished segments are deleted while all of them hold more
    /// than this (default 1 GiB).
    pub max_bytes: u64,
    /// Finished segments whose last write is older than this are deleted
    /// (default: none).
    pub max_age: Option<Duration>,
    /// `fdatasync` after every append (default off: appended bytes are in
    /// the OS page cache, which survives a killed process but not a power
    /// loss).
    pub fsync: bool,
}

impl LogConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            segment_window: None,
            max_bytes: 1 << 30,
            max_age: None,
            fsync: false,
        }
    }
}

/// A segment file of a [`SegmentLog`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

/// Where an append landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Sequence number of the segment.
    pub segment: u64,
    /// Offset of the buffer's first byte in the segment file.
    pub offset: u64,
}

struct Active {
    file: File,
    info: SegmentInfo,
}

/// The writer of a directory of segments; one per directory.
///
/// Appends go to the active segment, which is never one found at
/// [`open`](SegmentLog::open): a torn tail left by a crash is never written
/// after. A failed write or sync abandons the active segment (it may now
/// end in a partial frame) and the next append starts a new one.
pub struct SegmentLog {
    format: SegmentFormat,
    config: LogConfig,
    active: Option<Active>,
    /// Finished segments, oldest first.
    closed: VecDeque<SegmentInfo>,
    next_seq: u64,
}

impl SegmentLog {
    /// Opens (creating) the directory and lists its segments, oldest first.
    /// Nothing is deleted until [`enforce_retention`](Self::enforce_retention)
    /// or a roll.
    pub fn open(format: SegmentFormat, config: LogConfig) -> io::Result<Self> {
        fs::create_dir_all(&config.dir)?;
        let found = list_segments(&format, &config.dir)?;
        let next_seq = found.last().map_or(0, |s| s.seq + 1);
        Ok(Self {
            format,
            config,
            active: None,
            closed: found.into(),
            next_seq,
        })
    }

    /// The format of the segments.
    pub fn format(&self) -> &SegmentFormat {
        &self.format
    }

    /// The settings.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Every segment, oldest first (the active one last).
    pub fn segments(&self) -> impl Iterator<Item = &SegmentInfo> {
        self.closed
            .iter()
            .chain(self.active.as_ref().map(|a| &a.info))
    }

    /// Path of segment `seq`, if it still exists.
    pub fn segment_path(&self, seq: u64) -> Option<PathBuf> {
        self.segments()
            .find(|s| s.seq == seq)
            .map(|s| self.config.dir.join(&s.name))
    }

    /// Sequence number of the segment taking appends, if one is open.
    pub fn active_seq(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.info.seq)
    }

    /// Bytes held in segments, the active one included.
    pub fn total_bytes(&self) -> u64 {
        self.segments().map(|s| s.bytes).sum()
    }

    /// True when appending `pending` more bytes at `now_ms` should go to a
    /// new segment: none is open, the active one would reach
    /// `segment_bytes`, or it is older than `segment_window`.
    ///
    /// A store that writes something at the start of every segment (name
    /// definitions, a resource) asks this before encoding, and calls
    /// [`roll`](Self::roll) when it says so.
    pub fn roll_due(&self, now_ms: u64, pending: u64) -> bool {
        let Some(active) = &self.active else {
            return true;
        };
        let window = self
            .config
            .segment_window
            .is_some_and(|w| now_ms.saturating_sub(active.info.created_ms) >= w.as_millis() as u64);
        window || active.info.bytes.saturating_add(pending) >= self.config.segment_bytes
    }

    /// Closes the active segment, if any, and starts a new one (its header
    /// written, the directory synced so the file survives a crash), then
    /// applies retention; returns the new segment's sequence number.
    ///
    /// The closed segment is synced; if that fails the error is returned and
    /// no segment is open.
    pub fn roll(&mut self, now_ms: u64) -> io::Result<u64> {
        self.close_active()?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let name = self.format.file_name(now_ms, seq);
        let path = self.config.dir.join(&name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut info = SegmentInfo {
            seq,
            name,
            created_ms: now_ms,
            last_write_ms: now_ms,
            bytes: 0,
        };
        if let Err(e) = file.write_all(&self.format.header()) {
            // It holds nothing but a torn header (a full disk): removed, so
            // a disk that stays full does not collect one empty segment per
            // attempt.
            drop(file);
            if let Err(removed) = fs::remove_file(&path) {
                info.bytes = fs::metadata(&path).map_or(0, |m| m.len());
                if removed.kind() != io::ErrorKind::NotFound {
                    self.closed.push_back(info);
                }
            }
            return Err(e);
        }
        info.bytes = HEADER_LEN;
        sync_dir(&self.config.dir);
        self.active = Some(Active { file, info });
        self.enforce_retention(now_ms);
        Ok(seq)
    }

    /// Appends `frames` (whole frames, see [`super::encode_frame`]) to the
    /// active segment with one `write(2)`, and syncs it when the settings
    /// say `fsync`; opens a segment first when none is open. Never rolls an
    /// open segment: callers check [`roll_due`](Self::roll_due).
    ///
    /// On a failed write or sync the segment is abandoned and the error
    /// returned; the next append starts a new segment.
    pub fn append(&mut self, frames: &[u8], now_ms: u64) -> io::Result<Appended> {
        if self.active.is_none() {
            self.roll(now_ms)?;
        }
        let active = self.active.as_mut().expect("a segment is open");
        let at = Appended {
            segment: active.info.seq,
            offset: active.info.bytes,
        };
        let mut written = active.file.write_all(frames);
        if written.is_ok() && self.config.fsync {
            written = active.file.sync_data();
        }
        if let Err(e) = written {
            self.abandon();
            return Err(e);
        }
        active.info.bytes += frames.len() as u64;
        active.info.last_write_ms = now_ms;
        Ok(at)
    }

    /// Makes the active segment's bytes durable (`fdatasync`).
    pub fn sync(&mut self) -> io::Result<()> {
        match &self.active {
            Some(a) => a.file.sync_data(),
            None => Ok(()),
        }
    }

    /// Closes the active segment (synced); the next append starts a new
    /// one. A failed sync is returned; the segment is closed all the same.
    pub fn close_active(&mut self) -> io::Result<()> {
        match self.active.take() {
            Some(old) => {
                self.closed.push_back(old.info);
                old.file.sync_data()
            }
            None => Ok(()),
        }
    }

    /// Stops appending to the active segment after a failed write: it is
    /// kept as it is on disk (its size read back), never written again.
    fn abandon(&mut self) {
        if let Some(old) = self.active.take() {
            let mut info = old.info;
            info.bytes = old.file.metadata().map_or(info.bytes, |m| m.len());
            self.closed.push_back(info);
        }
    }

    /// Deletes finished segments, oldest first, while the oldest was last
    /// written more than `max_age` before `now_ms` or all segments hold more
    /// than `max_bytes`; returns the sequence numbers deleted. The active
    /// segment is never deleted.
    pub fn enforce_retention(&mut self, now_ms: u64) -> Vec<u64> {
        let max_age = self.config.max_age.map(|a| a.as_millis() as u64);
        let mut total = self.total_bytes();
        let mut deleted = Vec::new();
        while let Some(oldest) = self.closed.front() {
            let too_old = max_age.is_some_and(|a| now_ms.saturating_sub(oldest.last_write_ms) > a);
            if !too_old && total <= self.config.max_bytes {
                break;
            }
            let info = self.closed.pop_front().expect("front exists");
            let path = self.config.dir.join(&info.name);
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                crate::diag::warn(
                    "seglog",
                    &format!("cannot delete segment {}: {e}", path.display()),
                );
            }
            total = total.saturating_sub(info.bytes);
            deleted.push(info.seq);
        }
        deleted
    }

    #[cfg(test)]
    pub(super) fn config_mut(&mut self) -> &mut LogConfig {
        &mut self.config
    }

    #[cfg(test)]
    pub(crate) fn replace_active_file(&mut self, file: File) {
        self.active.as_mut().expect("a segment is open").file = file;
    }
}

/// The segments of `format` in `dir`, oldest first (by sequence number);
/// other files are ignored, a missing directory is an error.
pub fn list_segments(format: &SegmentFormat, dir: &Path) -> io::Result<Vec<SegmentInfo>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((created_ms, seq)) = name.to_str().and_then(|n| format.parse_file_name(n)) else {
            continue;
        };
        let meta = entry.metadata()?;
        let last_write_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(created_ms, |d| d.as_millis() as u64);
        found.push(SegmentInfo {
            seq,
            name: name.to_string_lossy().into_owned(),
            created_ms,
            last_write_ms,
            bytes: meta.len(),
        });
    }
    found.sort_by_key(|s| (s.seq, s.created_ms));
    Ok(found)
}

/// Syncs a directory so a file created in it survives a crash; best effort
/// (some file systems refuse to open or sync directories).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
