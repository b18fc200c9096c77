//! What the example programs share: printing what a run left in the local
//! store.

use std::path::Path;

use osprey::export::console::format_transaction;
use osprey::export::store::StoreReader;

/// Which call trees [`print_store`] prints besides the one-line summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trees {
    /// Every transaction's tree.
    All,
    /// Only the tree of the slowest transaction that kept one.
    Slowest,
}

/// Prints the transactions of the local store at `dir` that started at or
/// after `since_unix_ns` (one line each, in start order, at most `lines` of
/// them, then a count per endpoint when some were left out) and their call
/// trees as `trees` says; returns how many there were.
pub fn print_store(
    dir: &Path,
    since_unix_ns: u64,
    trees: Trees,
    lines: usize,
) -> std::io::Result<usize> {
    let reader = StoreReader::open(dir)?;
    let (stored, issues) = reader.transactions();
    for issue in issues {
        eprintln!("store: {issue:?}");
    }
    let mut run: Vec<_> = stored
        .iter()
        .filter(|t| t.record.start_unix_ns >= since_unix_ns)
        .collect();
    run.sort_by_key(|t| t.record.start_unix_ns);
    println!(
        "{} transactions read back from {} ({} stored in all):\n",
        run.len(),
        dir.display(),
        stored.len()
    );
    for t in run.iter().take(lines) {
        let text = format_transaction(&t.record, &|id| t.name(id).to_owned(), trees == Trees::All);
        println!("{}", text.trim_end());
    }
    if run.len() > lines {
        println!("… and {} more; all of them by endpoint:", run.len() - lines);
        let mut by_endpoint = std::collections::BTreeMap::<String, (usize, usize)>::new();
        for t in &run {
            let entry = by_endpoint
                .entry(t.name(t.record.name).to_owned())
                .or_default();
            entry.0 += 1;
            entry.1 += usize::from(t.record.error.is_some());
        }
        for (endpoint, (count, errors)) in by_endpoint {
            println!("  {count:>8}  {endpoint}  ({errors} errors)");
        }
    }
    if trees == Trees::Slowest
        && let Some(t) = run
            .iter()
            .filter(|t| !t.record.steps.is_empty())
            .max_by_key(|t| t.record.elapsed_ns)
    {
        println!("\nThe call tree of the slowest one:\n");
        let text = format_transaction(&t.record, &|id| t.name(id).to_owned(), true);
        println!("{}", text.trim_end());
    }
    Ok(run.len())
}
