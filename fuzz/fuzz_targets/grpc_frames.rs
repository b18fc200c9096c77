//! OTLP/gRPC calls through the server's router: the first byte picks the
//! service and gzip (bits 0–1) and whether the rest is the whole body (bit
//! 2 clear) or edits a real, framed traces request (bit 3: its compressed
//! flag set). Every answer is HTTP 200 with a gRPC status.
#![no_main]

#[allow(dead_code)]
#[path = "../../server/tests/support/inputs.rs"]
mod inputs;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let h = inputs::shared();
    if selector & 4 == 0 {
        h.check_grpc(selector, rest);
    } else {
        let framed = inputs::frame(selector & 8 != 0, &h.samples.request);
        h.check_grpc(selector & 1, &inputs::edit(&framed, rest));
    }
});
