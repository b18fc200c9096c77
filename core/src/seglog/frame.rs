//! The frame codec: `payload length (u32 LE) | CRC-32 (u32 LE) | payload`,
//! where the payload is a kind byte followed by a body the store encodes.

use std::fmt;

/// Bytes of a frame's length and checksum fields.
pub const FRAME_HEADER_LEN: u64 = 8;
/// Largest payload a writer writes and a reader accepts; a larger length
/// field means corruption.
pub const MAX_PAYLOAD_BYTES: u32 = 256 << 20;

/// Why a frame was not encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError<E> {
    /// The body encoder failed.
    Body(E),
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    TooLarge {
        /// Payload bytes (kind byte included).
        bytes: usize,
    },
}

impl<E: fmt::Display> fmt::Display for FrameError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body(e) => e.fmt(f),
            Self::TooLarge { bytes } => write!(f, "record of {bytes} bytes is too large"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for FrameError<E> {}

/// Appends one frame of `kind` to `out`; `body` appends the body after the
/// kind byte. On error `out` is left as it was.
///
/// ```
/// let mut out = Vec::new();
/// osprey::seglog::encode_frame(3, &mut out, |b| {
///     b.extend_from_slice(b"xy");
///     Ok::<(), String>(())
/// })
/// .unwrap();
/// assert_eq!(out[..4], 3u32.to_le_bytes()); // kind byte + 2 body bytes
/// assert_eq!(out[8..], *b"\x03xy");
/// ```
pub fn encode_frame<E>(
    kind: u8,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), FrameError<E>> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN as usize]);
    out.push(kind);
    let framed = body(out).map_err(FrameError::Body).and_then(|()| {
        let payload = &out[start + FRAME_HEADER_LEN as usize..];
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| *l <= MAX_PAYLOAD_BYTES)
            .ok_or(FrameError::TooLarge {
                bytes: payload.len(),
            })?;
        let crc = crc32fast::hash(payload);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    });
    if framed.is_err() {
        out.truncate(start);
    }
    framed
}

/// The `(payload length, CRC)` of a frame header.
pub(super) fn parse_header(head: &[u8; FRAME_HEADER_LEN as usize]) -> (u32, u32) {
    (
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
        u32::from_le_bytes([head[4], head[5], head[6], head[7]]),
    )
}

/// True when a length field can belong to a frame.
pub(super) fn plausible_len(len: u32) -> bool {
    len != 0 && len <= MAX_PAYLOAD_BYTES
}

/// True when `payload` is what the checksum was computed over.
pub(super) fn crc_matches(payload: &[u8], crc: u32) -> bool {
    crc32fast::hash(payload) == crc
}
