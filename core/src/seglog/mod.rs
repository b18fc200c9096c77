//! The segment log: append-only files of CRC-framed records in one
//! directory, shared by the agent's local store
//! ([`crate::export::store`]) and the server's store.
//!
//! ```text
//! segment = header frame*
//! header  = magic (8 bytes) | format version (u32 LE)
//! frame   = payload length (u32 LE) | CRC-32 of payload (u32 LE) | payload
//! payload = kind (u8) | body
//! ```
//!
//! A store describes its files with a [`SegmentFormat`] (magic, file name
//! prefix and suffix, the version it writes and the oldest it reads) and
//! owns what goes inside a payload; this module owns the rest of a
//! segment's life:
//!
//! - [`frame`]: encoding a frame (length, CRC, kind byte, body) into a
//!   buffer, [`MAX_PAYLOAD_BYTES`];
//! - [`SegmentLog`]: the writer. It lists a directory's segments oldest
//!   first, appends a buffer of frames with one `write(2)` (and an optional
//!   `fdatasync`), never appends after a failed write (the segment is
//!   abandoned: it may end in a torn frame), rolls by size and optionally by
//!   wall-clock window, and deletes the oldest segments past a total size
//!   and optionally an age;
//! - [`SegmentReader`], [`scan_segment`], [`read_frame_at`]: reading frames
//!   back. Damage is reported as a [`FrameIssue`], never fatal: a bad
//!   header or version skips the file, a CRC mismatch skips one frame, a
//!   torn tail or an impossible length ends the scan of that file.
//!
//! Segment files are named `<prefix><unix ms, 16 digits>-<sequence, 10
//! digits><suffix>`, so names sort by creation; the sequence number
//! identifies a segment within its directory.
//!
//! ```
//! use osprey::seglog::{self, LogConfig, SegmentFormat, SegmentLog};
//!
//! const FORMAT: SegmentFormat = SegmentFormat {
//!     magic: *b"EXAMPLE1",
//!     prefix: "ex-",
//!     suffix: ".log",
//!     version: 1,
//!     min_version: 1,
//! };
//! let dir = std::env::temp_dir().join(format!("seglog-doc-{}", std::process::id()));
//! let mut log = SegmentLog::open(FORMAT, LogConfig::new(&dir))?;
//!
//! let mut frames = Vec::new();
//! seglog::encode_frame(7, &mut frames, |out| {
//!     out.extend_from_slice(b"hello");
//!     Ok::<(), std::convert::Infallible>(())
//! })
//! .expect("a small frame");
//! let at = log.append(&frames, seglog::now_ms())?;
//!
//! let path = log.segment_path(at.segment).expect("the segment exists");
//! assert_eq!(seglog::read_frame_at(&path, at.offset)?, b"\x07hello");
//! let mut read = Vec::new();
//! let issues = seglog::scan_segment(&FORMAT, &path, |f| read.push(f.payload));
//! assert!(issues.is_empty());
//! assert_eq!(read, [b"\x07hello".to_vec()]);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod frame;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use frame::{FRAME_HEADER_LEN, FrameError, MAX_PAYLOAD_BYTES, encode_frame};
pub use reader::{Frame, FrameIssue, FrameProblem, SegmentReader, read_frame_at, scan_segment};
pub use writer::{Appended, LogConfig, SegmentInfo, SegmentLog, list_segments};

/// Bytes of a segment header: the magic and the format version.
pub const HEADER_LEN: u64 = 12;

/// What distinguishes one store's segment files from another's.
///
/// Two stores sharing a directory never mistake each other's files: the
/// names differ by prefix and suffix, the headers by magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentFormat {
    /// First eight bytes of every segment.
    pub magic: [u8; 8],
    /// Start of every segment file name (`seg-`).
    pub prefix: &'static str,
    /// End of every segment file name (`.osp`).
    pub suffix: &'static str,
    /// Version written into new segments' headers.
    pub version: u32,
    /// Oldest version a reader still reads; older and newer segments are
    /// skipped as a whole.
    pub min_version: u32,
}

impl SegmentFormat {
    /// The header of a new segment.
    pub fn header(&self) -> [u8; HEADER_LEN as usize] {
        self.header_of_version(self.version)
    }

    /// The header of a segment of `version` (tests write old segments with it).
    pub fn header_of_version(&self, version: u32) -> [u8; HEADER_LEN as usize] {
        let mut h = [0u8; HEADER_LEN as usize];
        h[..8].copy_from_slice(&self.magic);
        h[8..].copy_from_slice(&version.to_le_bytes());
        h
    }

    /// The version a header declares, or why the segment cannot be read.
    pub fn check_header(&self, header: &[u8; HEADER_LEN as usize]) -> Result<u32, FrameProblem> {
        if header[..8] != self.magic {
            return Err(FrameProblem::BadMagic);
        }
        let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if !(self.min_version..=self.version).contains(&version) {
            return Err(FrameProblem::UnsupportedVersion(version));
        }
        Ok(version)
    }

    /// File name of segment `seq` created at `unix_ms`:
    /// `<prefix><unix ms, 16 digits>-<seq, 10 digits><suffix>`.
    pub fn file_name(&self, unix_ms: u64, seq: u64) -> String {
        format!("{}{unix_ms:016}-{seq:010}{}", self.prefix, self.suffix)
    }

    /// The `(unix_ms, seq)` of a segment file name; `None` for other files.
    pub fn parse_file_name(&self, name: &str) -> Option<(u64, u64)> {
        let core = name.strip_prefix(self.prefix)?.strip_suffix(self.suffix)?;
        let (ms, seq) = core.split_once('-')?;
        Some((ms.parse().ok()?, seq.parse().ok()?))
    }
}

/// The current UNIX time in milliseconds (0 before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
