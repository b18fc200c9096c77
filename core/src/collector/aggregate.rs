//! Per-second aggregates of every transaction, sampled or not.

use std::collections::BTreeMap;

use crate::model::{SecondAggregate, TransactionRecord};

/// Open seconds, keyed by UNIX second of the transaction's end.
#[derive(Default)]
pub(crate) struct Aggregator {
    open: BTreeMap<u64, SecondAggregate>,
}

impl Aggregator {
    /// Counts one transaction.
    pub fn add(&mut self, txn: &TransactionRecord) {
        let second = txn.end_unix_ns() / 1_000_000_000;
        // Nearly every transaction lands in the newest open second.
        if let Some(mut newest) = self.open.last_entry()
            && *newest.key() == second
        {
            newest.get_mut().add(txn.elapsed_ns, txn.is_error());
            return;
        }
        self.open
            .entry(second)
            .or_insert_with(|| SecondAggregate::new(second))
            .add(txn.elapsed_ns, txn.is_error());
    }

    /// Removes and returns the seconds before `before_second` (all with
    /// `u64::MAX`), oldest first.
    pub fn take_before(&mut self, before_second: u64) -> Vec<SecondAggregate> {
        let later = self.open.split_off(&before_second);
        std::mem::replace(&mut self.open, later)
            .into_values()
            .collect()
    }
}
