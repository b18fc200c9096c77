//! Prints what the local store holds: one line per transaction and the
//! call tree of the slowest (`--all-trees`: every tree).
//!
//! Run: `cargo run -p osprey-examples --bin store_report -- DIR [--all-trees]`
//! (`DIR` defaults to `./osprey-data`, the store's default directory).

use std::path::PathBuf;

use osprey_examples::{Trees, print_store};

fn main() {
    let mut dir = PathBuf::from("osprey-data");
    let mut trees = Trees::Slowest;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--all-trees" => trees = Trees::All,
            "-h" | "--help" => {
                println!("usage: store_report [DIR] [--all-trees]");
                return;
            }
            _ => dir = PathBuf::from(arg),
        }
    }
    match print_store(&dir, 0, trees) {
        Ok(0) => {
            eprintln!("no transactions in {}", dir.display());
            std::process::exit(1);
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("cannot read the store at {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}
