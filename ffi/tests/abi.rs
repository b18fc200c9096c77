//! A C program compiled against each `osprey.h` the library has shipped
//! still works against today's library: `osprey_stats` never writes past
//! the struct an older header declared, and the sized call fills today's
//! struct and no more. The older headers are copies from git history
//! (`git show fecf348~1:ffi/include/osprey.h`, before `counted_only`, and
//! `git show fecf348:ffi/include/osprey.h`, with it), committed so the test
//! needs no history.

mod common;

use std::time::Duration;

fn run_against(header_dir: &str, name: &str) {
    let root = common::repo_root();
    let exe = common::compile_with_header(
        &root.join("ffi/tests/c/abi_stats.c"),
        name,
        &root.join(header_dir),
    );
    let out = common::run_ok(&exe, &[], &common::scratch(name), Duration::from_secs(60));
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("abi_stats: "))
        .unwrap_or_else(|| panic!("no summary line in {:?}", out.stdout));
    assert!(summary.ends_with(" 0 failed"), "{summary}\n{}", out.stderr);
}

#[test]
fn a_program_built_against_the_first_header_is_not_overrun() {
    run_against("ffi/tests/abi/v1", "abi_stats_v1");
}

#[test]
fn a_program_built_against_the_header_with_counted_only_is_not_overrun() {
    run_against("ffi/tests/abi/v2", "abi_stats_v2");
}

#[test]
fn a_program_built_against_todays_header_gets_every_field() {
    run_against("ffi/include", "abi_stats_now");
}
