//! W3C Trace Context `traceparent` (version 00) and B3 single-header parsing
//! and formatting, for continuing traces across processes.

use crate::model::{SpanId, TraceId};

/// The remote parent of a transaction, taken from a request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteParent {
    /// Trace to continue.
    pub trace_id: TraceId,
    /// The caller's span, which becomes the transaction's parent.
    pub span_id: SpanId,
    /// The caller's sampled flag.
    pub sampled: bool,
}

/// Parses a `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
///
/// Follows the W3C rules: version `ff` and all-zero ids are invalid; a
/// future version is accepted when its first four fields parse.
pub fn parse_traceparent(header: &str) -> Option<RemoteParent> {
    let header = header.trim();
    let mut parts = header.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version.eq_ignore_ascii_case("ff") || flags.len() != 2 {
        return None;
    }
    let version = u8::from_str_radix(version, 16).ok()?;
    if version == 0 && parts.next().is_some() {
        return None;
    }
    if !is_lower_hex(trace) || !is_lower_hex(span) || !is_lower_hex(flags) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).filter(TraceId::is_valid)?;
    let span_id = SpanId::from_hex(span).filter(SpanId::is_valid)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(RemoteParent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

/// Formats a version-00 `traceparent` naming `span_id` as the parent.
pub fn format_traceparent(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    format!(
        "00-{}-{}-{}",
        trace_id.to_hex(),
        span_id.to_hex(),
        if sampled { "01" } else { "00" }
    )
}

/// Parses an inbound parent: a W3C `traceparent`, else a B3 single header.
pub fn parse_inbound(header: &str) -> Option<RemoteParent> {
    parse_traceparent(header).or_else(|| parse_b3(header))
}

/// Parses a B3 single header (`{trace}-{span}[-{sampled}[-{parent}]]`);
/// 64-bit trace ids are left-padded with zeroes.
pub fn parse_b3(header: &str) -> Option<RemoteParent> {
    let mut parts = header.trim().split('-');
    let trace = parts.next()?;
    let span = parts.next()?;
    let sampled = match parts.next() {
        None | Some("1") | Some("d") => true,
        Some("0") => false,
        Some(_) => return None,
    };
    let trace_id = match trace.len() {
        32 => TraceId::from_hex(trace)?,
        16 => {
            let low = SpanId::from_hex(trace)?;
            let mut bytes = [0u8; 16];
            bytes[8..].copy_from_slice(&low.0);
            TraceId(bytes)
        }
        _ => return None,
    };
    let span_id = SpanId::from_hex(span)?;
    (trace_id.is_valid() && span_id.is_valid()).then_some(RemoteParent {
        trace_id,
        span_id,
        sampled,
    })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_takes_traceparent_or_b3() {
        let w3c = parse_inbound(EXAMPLE).unwrap();
        let b3 = parse_inbound("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1").unwrap();
        assert_eq!(w3c.trace_id, b3.trace_id);
        assert_eq!(w3c.span_id, b3.span_id);
        assert!(parse_inbound("garbage").is_none());
    }

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_w3c_example_and_formats_it_back() {
        let p = parse_traceparent(EXAMPLE).unwrap();
        assert!(p.sampled);
        assert_eq!(p.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(format_traceparent(p.trace_id, p.span_id, true), EXAMPLE);
    }

    #[test]
    fn rejects_invalid_headers() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        // A future version may carry more fields.
        assert!(parse_traceparent(&format!("01{}-more", &EXAMPLE[2..])).is_some());
    }

    #[test]
    fn parses_b3_single_header() {
        let p = parse_b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1").unwrap();
        assert!(p.sampled);
        let short = parse_b3("a3ce929d0e0e4736-00f067aa0ba902b7-0").unwrap();
        assert!(!short.sampled);
        assert_eq!(short.trace_id.0[..8], [0; 8]);
        assert_eq!(parse_b3("nonsense"), None);
    }
}
