//! The server's OTLP/HTTP ingest decoding: content encoding (none or gzip,
//! bounded), then a protobuf or JSON traces or metrics request, then the
//! conversion to stored spans and points. Never panics, never allocates
//! past the body limit; bad input is a `Rejected` with a status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey_server::ingest::otlp::{self, Encoding};

/// The server's default body limit is larger; a small one keeps the
/// fuzzer fast and still exercises the gzip-bomb check.
const MAX_BODY: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = if selector & 1 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let content_encoding = if selector & 2 == 0 { None } else { Some("gzip") };
    let body = match otlp::decode_content(content_encoding, body, MAX_BODY) {
        Ok(body) => body,
        Err(rejected) => {
            assert!(rejected.status >= 400);
            return;
        }
    };
    assert!(body.len() <= MAX_BODY);
    if selector & 4 == 0 {
        if let Err(rejected) = otlp::parse_traces(encoding, &body) {
            assert!(rejected.status >= 400);
        }
    } else if let Err(rejected) = otlp::parse_metrics(encoding, &body) {
        assert!(rejected.status >= 400);
    }
});
