//! Property tests of the server's handling of bad input, run in CI: the
//! store's readers (segment and index files), OTLP/gRPC frames and the
//! query API's parameters, with arbitrary bytes and with edits of real
//! samples. The same checks are the libFuzzer targets in `fuzz/` (long
//! runs, RELIABILITY.md). `OSPREY_PROPTEST_CASES` sets the cases per
//! property (default 256).

#[path = "support/inputs.rs"]
mod inputs;

use inputs::{Harness, edit, frame};
use proptest::prelude::*;

fn harness() -> &'static Harness {
    inputs::shared()
}

fn config() -> ProptestConfig {
    let cases = std::env::var("OSPREY_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Edits: a mode byte and up to 16 three-byte overwrites.
fn edits() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..49)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn segment_files_of_any_bytes_are_read_or_reported(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        harness().check_segment(&bytes);
    }

    #[test]
    fn edited_segment_files_are_read_or_reported(e in edits()) {
        // Mode 1: the rest edits the sample (what the fuzz target does).
        harness().segment_input(&[&[1u8][..], &e].concat());
    }

    #[test]
    fn index_files_of_any_bytes_open_or_fail(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        harness().check_index(&bytes);
    }

    #[test]
    fn edited_index_files_answer_or_fail(e in edits()) {
        harness().index_input(&[&[1u8][..], &e].concat());
    }

    #[test]
    fn grpc_bodies_of_any_bytes_get_a_status(selector in any::<u8>(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        harness().check_grpc(selector, &bytes);
    }

    #[test]
    fn edited_grpc_frames_get_a_status(selector in any::<u8>(), e in edits(), compressed in any::<bool>()) {
        let h = harness();
        let body = edit(&frame(compressed, &h.samples.request), &e);
        h.check_grpc(selector & 1, &body);
    }

    #[test]
    fn query_parameters_never_get_a_server_error(
        selector in any::<u8>(),
        query in "((from|to|t|limit|service|name|trace|cursor|min_ms|max_ms|errors|window|metric|instance|id)=[-0-9a-zA-Z%._:+]{0,24}&?){0,4}",
    ) {
        harness().check_query(selector, query.as_bytes());
    }

    #[test]
    fn query_bytes_never_get_a_server_error(selector in any::<u8>(), bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        harness().check_query(selector, &bytes);
    }
}

/// The samples are what a real store wrote, so the edits start from valid
/// files and requests; and the checks can tell good from bad.
#[test]
fn samples_are_valid_and_bad_input_is_refused() {
    let h = harness();
    assert_eq!(h.check_segment(&h.samples.segment).1, 0, "no issue");
    assert!(h.check_segment(&h.samples.segment).0 > 0, "frames decode");
    assert!(h.check_segment(b"not a segment").1 > 0);
    assert!(h.check_index(&h.samples.index).unwrap() > 0, "rows listed");
    assert_eq!(h.check_index(b"not an index"), None);
    assert_eq!(h.check_grpc(0, &frame(false, &h.samples.request)), 0, "OK");
    assert_ne!(h.check_grpc(0, &frame(false, b"\xff\xff\xff")), 0);
    assert_eq!(h.check_query(0, b"limit=5"), 200);
    assert_eq!(h.check_query(0, b"limit=many"), 400);
}
