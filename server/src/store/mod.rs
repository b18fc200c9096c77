//! The server's embedded store: append-only segment files of CRC-framed
//! records (one per trace of each acknowledged request, all of a request in
//! one `write(2)`), rolled by time window and size, deleted by age and
//! total size.
//!
//! ```text
//! segment = header record*
//! header  = "OSPRYSRV" (8 bytes) | format version (u32 LE)
//! record  = payload length (u32 LE) | CRC-32 of payload (u32 LE) | payload
//! payload = kind (u8, 20 = spans, 21 = metrics) | bincode 2 body
//! ```
//!
//! Framing and encoding reuse the core's [`osprey::export::store::format`]
//! helpers; only the header and the file names differ
//! (`srv-<unix ms>-<sequence>.oss`), so the agent's reader never mistakes a
//! server segment for its own.

mod reader;
mod writer;

pub use reader::{Issue, ReadFrame, read_frame_at, scan_segment};
pub use writer::{SegmentInfo, Store, StoreConfig};

use crate::record::Batch;
use osprey::export::store::format;

/// First bytes of every server segment.
pub const MAGIC: [u8; 8] = *b"OSPRYSRV";
/// Format version written in the header.
pub const VERSION: u32 = 1;
/// Header length in bytes.
pub const HEADER_LEN: u64 = 12;
/// Record kind: a batch of spans.
pub const KIND_SPANS: u8 = 20;
/// Record kind: a batch of metric points.
pub const KIND_METRICS: u8 = 21;

/// Where a record lies: segment sequence number and byte offset of its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    /// Sequence number of the segment (from its file name).
    pub segment: u64,
    /// Offset of the frame in the file.
    pub offset: u64,
}

/// File name of segment `seq` created at `unix_ms`.
pub fn segment_name(unix_ms: u64, seq: u64) -> String {
    format!("srv-{unix_ms:016}-{seq:010}.oss")
}

/// `(unix_ms, seq)` of a segment file name.
pub fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let core = name.strip_prefix("srv-")?.strip_suffix(".oss")?;
    let (ms, seq) = core.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The header bytes.
pub fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Appends the framed record for `batch` to `out`.
pub fn encode_batch(batch: &Batch, out: &mut Vec<u8>) -> Result<(), String> {
    let kind = match batch {
        Batch::Spans(_) => KIND_SPANS,
        Batch::Metrics(_) | Batch::Active(_) => KIND_METRICS,
    };
    format::encode_record(kind, batch, out)
}

/// Decodes a payload (kind byte first).
pub fn decode_payload(payload: &[u8]) -> Result<Batch, String> {
    match payload.first() {
        Some(&KIND_SPANS) | Some(&KIND_METRICS) => format::decode_body(&payload[1..]),
        Some(k) => Err(format!("unknown record kind {k}")),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_other_files_are_ignored() {
        assert_eq!(parse_segment_name(&segment_name(5, 7)), Some((5, 7)));
        assert_eq!(
            parse_segment_name("seg-0000000000000005-0000000007.osp"),
            None
        );
        assert!(segment_name(9, 10) < segment_name(10, 2));
    }

    #[test]
    fn batches_round_trip_through_a_frame() {
        let batch = Batch::Metrics(Vec::new());
        let mut out = Vec::new();
        encode_batch(&batch, &mut out).unwrap();
        assert_eq!(decode_payload(&out[8..]).unwrap(), batch);
        assert!(decode_payload(&[99, 1]).is_err());
    }
}
