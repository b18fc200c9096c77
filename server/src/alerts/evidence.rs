//! The evidence of an alert: the worst transactions of its window
//! (failed first for an error rule, then the slowest), linked to the viewer.

use super::history::Evidence;
use super::rules::{Checked, Kind};
use crate::storage::{Storage, StorageResult, TxnFilter};

/// Transactions shown per alert.
pub const SHOWN: usize = 5;
/// Transactions of the window looked at (the newest ones).
const LOOKED_AT: usize = 2_000;

/// The viewer's link to transaction `id`.
pub fn link(id: &str) -> String {
    format!("/?txn={id}")
}

/// The worst transactions ending in `from_ms..to_ms` in the rule's scope
/// (`service` when the rule has none: the worst subject's).
pub fn worst(
    storage: &dyn Storage,
    rule: &Checked,
    service: Option<&str>,
    from_ms: u64,
    to_ms: u64,
) -> StorageResult<Vec<Evidence>> {
    let r = &rule.rule;
    let filter = TxnFilter {
        from_ns: Some(from_ms * 1_000_000),
        to_ns: Some(to_ms * 1_000_000),
        service: r.service.clone().or(service.map(str::to_owned)),
        instance: r.instance.clone(),
        endpoint: r.endpoint.clone(),
        error_only: r.kind == Kind::ErrorRate,
        ..TxnFilter::default()
    };
    let mut rows = storage.transactions(&filter, LOOKED_AT)?.transactions;
    rows.sort_by(|a, b| b.error.cmp(&a.error).then(b.elapsed_ns.cmp(&a.elapsed_ns)));
    Ok(rows
        .into_iter()
        .take(SHOWN)
        .map(|t| {
            let j = t.to_json();
            Evidence {
                link: link(&j.id),
                id: j.id,
                trace_id: j.trace_id,
                service: j.service,
                endpoint: j.endpoint,
                elapsed_ms: j.elapsed_ms,
                error: j.error,
                end_ms: j.end_ms,
            }
        })
        .collect())
}
