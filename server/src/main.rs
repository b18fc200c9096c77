//! The `osprey` binary; see `osprey --help` and `server/README.md`.

use clap::Parser;

fn main() {
    let cli = osprey_server::cli::Cli::parse();
    if let Err(e) = osprey_server::cli::run(cli) {
        eprintln!("osprey: {e}");
        std::process::exit(1);
    }
}
