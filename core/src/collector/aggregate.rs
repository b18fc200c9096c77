//! Per-second aggregates of every transaction, sampled or not.

use std::collections::BTreeMap;

use crate::model::{SecondAggregate, TransactionRecord};

/// Open seconds, keyed by UNIX second of the transaction's end. Each second
/// is emitted once: a transaction arriving after its second was emitted (a
/// late one, or one ending in the second a flush emitted early) is counted
/// in the oldest second still open, so emitted intervals never overlap.
#[derive(Default)]
pub(crate) struct Aggregator {
    open: BTreeMap<u64, SecondAggregate>,
    /// Every second before this one has been emitted.
    emitted_before: u64,
}

impl Aggregator {
    /// Counts one transaction.
    pub fn add(&mut self, txn: &TransactionRecord) {
        self.add_one(txn.end_unix_ns(), txn.elapsed_ns, txn.is_error());
    }

    /// Counts a transaction that ended at `end_unix_ns` after `elapsed_ns`.
    pub fn add_one(&mut self, end_unix_ns: u64, elapsed_ns: u64, error: bool) {
        let second = (end_unix_ns / 1_000_000_000).max(self.emitted_before);
        // Nearly every transaction lands in the newest open second.
        if let Some(mut newest) = self.open.last_entry()
            && *newest.key() == second
        {
            newest.get_mut().add(elapsed_ns, error);
            return;
        }
        self.open
            .entry(second)
            .or_insert_with(|| SecondAggregate::new(second))
            .add(elapsed_ns, error);
    }

    /// Removes and returns the seconds before `before_second` (all with
    /// `u64::MAX`), oldest first.
    pub fn take_before(&mut self, before_second: u64) -> Vec<SecondAggregate> {
        self.emitted_before = self.emitted_before.max(before_second);
        let later = self.open.split_off(&before_second);
        std::mem::replace(&mut self.open, later)
            .into_values()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanId, SpanKind, TraceId};
    use crate::names::NameId;

    fn ending_at(second: u64) -> TransactionRecord {
        TransactionRecord {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: None,
            kind: SpanKind::Internal,
            name: NameId(0),
            start_unix_ns: second * 1_000_000_000,
            elapsed_ns: 1_000,
            busy_ns: None,
            error: None,
            attributes: Vec::new(),
            steps: Vec::new(),
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 1,
        }
    }

    #[test]
    fn each_second_is_emitted_once_and_late_transactions_move_forward() {
        let mut agg = Aggregator::default();
        agg.add(&ending_at(10));
        agg.add(&ending_at(11));
        let first = agg.take_before(11); // second 10 is complete
        assert_eq!(
            first
                .iter()
                .map(|a| (a.unix_second, a.count))
                .collect::<Vec<_>>(),
            [(10, 1)]
        );
        agg.add(&ending_at(10)); // late: 10 was emitted
        let flushed = agg.take_before(12); // a flush emits 11 early
        assert_eq!(
            flushed
                .iter()
                .map(|a| (a.unix_second, a.count))
                .collect::<Vec<_>>(),
            [(11, 2)]
        );
        agg.add(&ending_at(11)); // ends in the flushed second
        let next = agg.take_before(u64::MAX);
        assert_eq!(
            next.iter()
                .map(|a| (a.unix_second, a.count))
                .collect::<Vec<_>>(),
            [(12, 1)]
        );
    }
}
