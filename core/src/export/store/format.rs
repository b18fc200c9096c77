//! The on-disk format of a segment file.
//!
//! ```text
//! segment = header record*
//! header  = "OSPREYSG" (8 bytes) | format version (u32 LE)
//! record  = payload length (u32 LE) | CRC-32 of payload (u32 LE) | payload
//! payload = kind (u8) | bincode 2 body (serde, standard config)
//! ```
//!
//! Kinds: [`KIND_NAMES`] (`Vec<(u32, String)>`, written before the first
//! use of each name in the segment, so every segment can be read alone),
//! [`KIND_RESOURCE`] ([`Resource`](crate::model::Resource)),
//! [`KIND_TRANSACTION`] ([`TransactionRecord`](crate::model::TransactionRecord))
//! [`KIND_AGGREGATE`] ([`SecondAggregate`](crate::model::SecondAggregate))
//! and, from version 2, [`KIND_METRICS`] (`Vec<`[`MetricRecord`](crate::model::MetricRecord)`>`,
//! the sampled metrics of one batch) and [`KIND_ACTIVE`]
//! ([`ActiveSnapshot`](crate::model::ActiveSnapshot)). Readers skip kinds they do not know.
//!
//! Versions: 1 had kinds 1 to 4; 2 adds kinds 5 and 6 and changes nothing else, so
//! a version-2 reader reads version-1 segments unchanged.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// First bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"OSPREYSG";
/// Version written into the header; bumped whenever the encoding changes.
pub const FORMAT_VERSION: u32 = 2;
/// Oldest version a reader still reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header.
pub const HEADER_LEN: u64 = 12;
/// Bytes of a record's length and checksum fields.
pub const FRAME_HEADER_LEN: u64 = 8;
/// Largest payload a reader accepts; a larger length means corruption.
pub const MAX_PAYLOAD_BYTES: u32 = 256 << 20;

/// Payload kind: interned name definitions.
pub const KIND_NAMES: u8 = 1;
/// Payload kind: the process resource.
pub const KIND_RESOURCE: u8 = 2;
/// Payload kind: one finished transaction.
pub const KIND_TRANSACTION: u8 = 3;
/// Payload kind: one per-second aggregate.
pub const KIND_AGGREGATE: u8 = 4;
/// Payload kind (version 2): the sampled metric points of one batch.
pub const KIND_METRICS: u8 = 5;
/// Payload kind (version 2): the transactions in flight at one moment.
pub const KIND_ACTIVE: u8 = 6;

const PREFIX: &str = "seg-";
const SUFFIX: &str = ".osp";

/// The segment header bytes.
pub fn header() -> [u8; HEADER_LEN as usize] {
    header_of_version(FORMAT_VERSION)
}

/// The header of a segment of `version` (tests write old segments with it).
pub fn header_of_version(version: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&version.to_le_bytes());
    h
}

/// File name of a segment: `seg-<unix ms, 16 digits>-<sequence, 10 digits>.osp`,
/// so names sort by creation.
pub fn segment_file_name(unix_ms: u64, seq: u64) -> String {
    format!("{PREFIX}{unix_ms:016}-{seq:010}{SUFFIX}")
}

/// The `(unix_ms, sequence)` of a segment file name; `None` for other files.
pub fn parse_segment_file_name(name: &str) -> Option<(u64, u64)> {
    let core = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (ms, seq) = core.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Appends one framed record of `kind` holding `value` to `out`.
pub fn encode_record<T: Serialize + ?Sized>(
    kind: u8,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN as usize]);
    out.push(kind);
    bincode::serde::encode_into_std_write(value, out, bincode_config())
        .map_err(|e| e.to_string())?;
    let payload = &out[start + FRAME_HEADER_LEN as usize..];
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| *l <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| format!("record of {} bytes is too large", payload.len()))?;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Decodes a payload body (after the kind byte).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(body, bincode_config())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_then_sequence_and_parse_back() {
        let a = segment_file_name(9, 10);
        let b = segment_file_name(10, 2);
        assert!(a < b);
        assert_eq!(parse_segment_file_name(&b), Some((10, 2)));
        assert_eq!(parse_segment_file_name("notes.txt"), None);
    }

    #[test]
    fn frame_carries_length_and_crc_of_payload() {
        let mut out = Vec::new();
        encode_record(KIND_NAMES, &vec![(1u32, "x")], &mut out).unwrap();
        let len = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(out.len(), 8 + len);
        let crc = u32::from_le_bytes(out[4..8].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&out[8..]));
        assert_eq!(out[8], KIND_NAMES);
        let names: Vec<(u32, String)> = decode_body(&out[9..]).unwrap();
        assert_eq!(names, vec![(1, "x".to_owned())]);
    }
}
