//! Prints what the local store holds: one line per transaction (`--lines N`:
//! the first N, then a count per endpoint) and the call tree of the slowest
//! (`--all-trees`: every tree).
//!
//! Run: `cargo run -p osprey-examples --bin store_report -- DIR [--all-trees] [--lines N]`
//! (`DIR` defaults to `./osprey-data`, the store's default directory).

use std::path::PathBuf;

use osprey_examples::{Trees, print_store};

fn main() {
    let mut dir = PathBuf::from("osprey-data");
    let mut trees = Trees::Slowest;
    let mut lines = usize::MAX;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all-trees" => trees = Trees::All,
            "--lines" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => lines = n,
                None => {
                    eprintln!("--lines needs a count");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: store_report [DIR] [--all-trees] [--lines N]");
                return;
            }
            _ => dir = PathBuf::from(arg),
        }
    }
    match print_store(&dir, 0, trees, lines) {
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
