//! OTLP/gRPC calls through the server's router: the first byte picks the
//! service and gzip (bits 0–1) and whether the rest is the whole body (bit
//! 2 clear) or edits a real, framed traces request (bit 3: its compressed
//! flag set). Every answer is HTTP 200 with a gRPC status.
#![no_main]

#[path = "../../server/tests/support/inputs.rs"]
mod inputs;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn harness() -> &'static inputs::Harness {
    static H: OnceLock<inputs::Harness> = OnceLock::new();
    H.get_or_init(inputs::Harness::new)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    if selector & 4 == 0 {
        h.check_grpc(selector, rest);
    } else {
        let request = &h.samples.request;
        let mut framed = vec![u8::from(selector & 8 != 0)];
        framed.extend_from_slice(&(request.len() as u32).to_be_bytes());
        framed.extend_from_slice(request);
        h.check_grpc(selector & 1, &inputs::edit(&framed, rest));
    }
});
