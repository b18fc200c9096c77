//! Reading segments back: every intact frame in order, with the damage met
//! on the way, and single frames by position.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
#[cfg(not(unix))]
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::frame::{self, FRAME_HEADER_LEN};
use super::{HEADER_LEN, SegmentFormat};

/// What was wrong with a segment or one of its frames, and what was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameProblem {
    /// The file is shorter than a header (a crash right after creating
    /// it); skipped.
    ShortHeader,
    /// The file does not start with the format's magic; skipped.
    BadMagic,
    /// The header's version is outside the readable range; skipped.
    UnsupportedVersion(u32),
    /// The file ends inside a frame (a crash mid-write, or a writer still
    /// appending); the rest of the file is skipped, earlier frames are intact.
    TornTail,
    /// A frame's checksum does not match; that frame was skipped.
    BadChecksum,
    /// A frame's length field is impossible; the rest of the file is skipped.
    BadLength(u32),
    /// The file could not be opened or read; the rest of it is skipped.
    Io(String),
}

impl FrameProblem {
    /// True when the problem ends the scan of its file.
    pub fn ends_scan(&self) -> bool {
        *self != Self::BadChecksum
    }
}

impl fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShortHeader => f.write_str("segment shorter than its header; skipped"),
            Self::BadMagic => f.write_str("not a segment of this store (bad magic); skipped"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported version {v}; skipped"),
            Self::TornTail => f.write_str("torn tail (crash mid-write); rest skipped"),
            Self::BadChecksum => f.write_str("checksum mismatch; record skipped"),
            Self::BadLength(len) => write!(f, "impossible length {len}; rest skipped"),
            Self::Io(e) => write!(f, "read error: {e}; rest skipped"),
        }
    }
}

/// A damaged part of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameIssue {
    /// Byte offset of the damaged frame (0 for the header or the file).
    pub offset: u64,
    /// What was wrong.
    pub problem: FrameProblem,
}

/// One intact frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the frame in its file.
    pub offset: u64,
    /// Its payload, kind byte first.
    pub payload: Vec<u8>,
}

/// The frames of one segment in write order: an iterator of intact frames
/// and of the damage between them. After an issue that
/// [ends the scan](FrameProblem::ends_scan) it yields nothing more.
#[derive(Debug)]
pub struct SegmentReader {
    path: PathBuf,
    file: BufReader<File>,
    version: u32,
    offset: u64,
    len: u64,
    done: bool,
}

impl SegmentReader {
    /// Opens `path` and checks its header against `format`; the issue says
    /// why the whole segment is unreadable.
    pub fn open(format: &SegmentFormat, path: &Path) -> Result<Self, FrameIssue> {
        let at_start = |problem| FrameIssue { offset: 0, problem };
        let io = |e: io::Error| at_start(FrameProblem::Io(e.to_string()));
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut file = BufReader::with_capacity(256 * 1024, file);
        let mut header = [0u8; HEADER_LEN as usize];
        if len < HEADER_LEN {
            return Err(at_start(FrameProblem::ShortHeader));
        }
        file.read_exact(&mut header).map_err(io)?;
        let version = format.check_header(&header).map_err(at_start)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            version,
            offset: HEADER_LEN,
            len,
            done: false,
        })
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format version in the segment's header.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn read_frame(&mut self) -> Option<Result<Frame, FrameProblem>> {
        let remaining = self.len - self.offset;
        if remaining == 0 {
            return None;
        }
        let mut head = [0u8; FRAME_HEADER_LEN as usize];
        if remaining < FRAME_HEADER_LEN {
            return Some(Err(FrameProblem::TornTail));
        }
        if let Err(e) = self.file.read_exact(&mut head) {
            return Some(Err(FrameProblem::Io(e.to_string())));
        }
        let (len, crc) = frame::parse_header(&head);
        if !frame::plausible_len(len) {
            return Some(Err(FrameProblem::BadLength(len)));
        }
        if u64::from(len) > remaining - FRAME_HEADER_LEN {
            return Some(Err(FrameProblem::TornTail));
        }
        let mut payload = vec![0u8; len as usize];
        if let Err(e) = self.file.read_exact(&mut payload) {
            return Some(Err(FrameProblem::Io(e.to_string())));
        }
        let offset = self.offset;
        self.offset += FRAME_HEADER_LEN + u64::from(len);
        if !frame::crc_matches(&payload, crc) {
            return Some(Err(FrameProblem::BadChecksum));
        }
        Some(Ok(Frame { offset, payload }))
    }
}

impl Iterator for SegmentReader {
    type Item = Result<Frame, FrameIssue>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.offset;
        match self.read_frame() {
            None => {
                self.done = true;
                None
            }
            Some(Ok(frame)) => Some(Ok(frame)),
            Some(Err(problem)) => {
                self.done = problem.ends_scan();
                Some(Err(FrameIssue { offset, problem }))
            }
        }
    }
}

/// Reads every intact frame of `path` in order, calling `each` for it, and
/// returns the issues met (see [`SegmentReader`]).
pub fn scan_segment(
    format: &SegmentFormat,
    path: &Path,
    mut each: impl FnMut(Frame),
) -> Vec<FrameIssue> {
    let reader = match SegmentReader::open(format, path) {
        Ok(r) => r,
        Err(issue) => return vec![issue],
    };
    let mut issues = Vec::new();
    for frame in reader {
        match frame {
            Ok(f) => each(f),
            Err(issue) => issues.push(issue),
        }
    }
    issues
}

/// Reads the frame at `offset` of `path` and checks it; returns its payload
/// (kind byte first). A bad length or checksum is an
/// [`io::ErrorKind::InvalidData`] error.
pub fn read_frame_at(path: &Path, offset: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut head = [0u8; FRAME_HEADER_LEN as usize];
    read_exact_at(&file, &mut head, offset)?;
    let (len, crc) = frame::parse_header(&head);
    if !frame::plausible_len(len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
    }
    let mut payload = vec![0u8; len as usize];
    read_exact_at(&file, &mut payload, offset + FRAME_HEADER_LEN)?;
    if !frame::crc_matches(&payload, crc) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "checksum mismatch",
        ));
    }
    Ok(payload)
}

/// Fills `buf` from `offset` of `file` (`pread(2)` where there is one).
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `offset` of `file`.
#[cfg(not(unix))]
fn read_exact_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
