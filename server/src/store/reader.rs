//! Reads segment files: a full scan at start-up and single records by
//! position for call trees. Damage is reported, never fatal.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Serialize;

use super::{HEADER_LEN, MAGIC, MIN_VERSION, VERSION};
use osprey::export::store::format::{FRAME_HEADER_LEN, MAX_PAYLOAD_BYTES};

/// A damaged part of a segment, as shown by `/api/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Segment file name.
    pub segment: String,
    /// Byte offset of the damage.
    pub offset: u64,
    /// What was wrong and what was skipped.
    pub problem: String,
}

/// One intact frame found by [`scan_segment`].
pub struct ReadFrame {
    /// Offset of the frame.
    pub offset: u64,
    /// Its payload (kind byte first).
    pub payload: Vec<u8>,
}

/// Reads every intact frame of `path` in order, calling `each` for it.
/// Returns the issues met: a bad header skips the file, a checksum
/// mismatch skips one record, a torn tail or impossible length ends the
/// scan of that file.
pub fn scan_segment(path: &Path, mut each: impl FnMut(ReadFrame)) -> Vec<Issue> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let issue = |offset: u64, problem: String| Issue {
        segment: name.clone(),
        offset,
        problem,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return vec![issue(0, format!("cannot open: {e}"))],
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::with_capacity(256 * 1024, file);
    let mut head = [0u8; HEADER_LEN as usize];
    if len < HEADER_LEN || r.read_exact(&mut head).is_err() {
        return vec![issue(0, "segment shorter than its header; skipped".into())];
    }
    if head[..8] != MAGIC {
        return vec![issue(0, "not a server segment (bad magic); skipped".into())];
    }
    let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return vec![issue(0, format!("unsupported version {version}; skipped"))];
    }
    let mut issues = Vec::new();
    let mut offset = HEADER_LEN;
    loop {
        let remaining = len - offset;
        if remaining == 0 {
            break;
        }
        let mut fh = [0u8; FRAME_HEADER_LEN as usize];
        if remaining < FRAME_HEADER_LEN || r.read_exact(&mut fh).is_err() {
            issues.push(issue(
                offset,
                "torn tail (crash mid-write); rest skipped".into(),
            ));
            break;
        }
        let plen = u32::from_le_bytes([fh[0], fh[1], fh[2], fh[3]]);
        let crc = u32::from_le_bytes([fh[4], fh[5], fh[6], fh[7]]);
        if plen == 0 || plen > MAX_PAYLOAD_BYTES {
            issues.push(issue(
                offset,
                format!("impossible length {plen}; rest skipped"),
            ));
            break;
        }
        if u64::from(plen) > remaining - FRAME_HEADER_LEN {
            issues.push(issue(
                offset,
                "torn tail (crash mid-write); rest skipped".into(),
            ));
            break;
        }
        let mut payload = vec![0u8; plen as usize];
        if let Err(e) = r.read_exact(&mut payload) {
            issues.push(issue(offset, format!("read error: {e}")));
            break;
        }
        if crc32(&payload) == crc {
            each(ReadFrame { offset, payload });
        } else {
            issues.push(issue(offset, "checksum mismatch; record skipped".into()));
        }
        offset += FRAME_HEADER_LEN + u64::from(plen);
    }
    issues
}

/// Reads the frame at `offset` of `path` and checks its checksum.
pub fn read_frame_at(path: &Path, offset: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut fh = [0u8; FRAME_HEADER_LEN as usize];
    file.read_exact_at(&mut fh, offset)?;
    let plen = u32::from_le_bytes([fh[0], fh[1], fh[2], fh[3]]);
    let crc = u32::from_le_bytes([fh[4], fh[5], fh[6], fh[7]]);
    if plen == 0 || plen > MAX_PAYLOAD_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
    }
    let mut payload = vec![0u8; plen as usize];
    file.read_exact_at(&mut payload, offset + FRAME_HEADER_LEN)?;
    if crc32(&payload) != crc {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "checksum mismatch",
        ));
    }
    Ok(payload)
}

fn crc32(data: &[u8]) -> u32 {
    // Same polynomial as the core's frames (crc32fast / IEEE).
    crc32fast::hash(data)
}
