//! Runs `tests/c/bad_input.c`, a C program feeding libosprey NULL
//! pointers, invalid UTF-8, 100 KB names, unbalanced calls, bad kinds,
//! small buffers, double init, unknown config keys and calls after
//! shutdown, checking the exact result code of each. Needs no exporter
//! beyond the console one.

mod common;

use std::time::Duration;

#[test]
fn c_program_with_bad_input_gets_exact_codes_and_never_crashes() {
    let source = common::repo_root().join("ffi/tests/c/bad_input.c");
    let exe = common::compile(&source, "bad_input");
    let out = common::run_ok(
        &exe,
        &[],
        &common::scratch("bad_input"),
        Duration::from_secs(60),
    );
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("bad_input: "))
        .unwrap_or_else(|| panic!("no summary line in {:?}", out.stdout));
    assert!(summary.ends_with(" checks, 0 failed"), "{summary}");
    let checks: u32 = summary
        .trim_start_matches("bad_input: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("check count");
    assert!(checks >= 150, "only {checks} checks ran");
    assert!(
        !out.stderr.contains("panicked"),
        "a panic was caught at the boundary:\n{}",
        out.stderr
    );
}
