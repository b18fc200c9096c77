//! Active services: snapshots of the transactions in flight, taken by
//! whoever can see them (the Java agent's inspector reads its per-thread
//! registry and the threads' stacks every second) and exported with the
//! next batch: OTLP gauges `osprey.active.count` and `osprey.active.elapsed`
//! (see the OTLP exporter), a store record, a console line.
//!
//! A snapshot travels through the same bounded queue as metric sample
//! sets: never blocks, dropped and counted when full.

use crate::collector::handoff::{self, Sampled};
use crate::metrics::MetricsError;
pub use crate::model::{ActiveSnapshot, ActiveTransaction};

/// Most transactions kept per snapshot; the longest-running are kept.
pub const MAX_PER_SNAPSHOT: usize = 1000;

/// Most snapshots the collector holds for the next batch; more are dropped
/// and counted.
pub const MAX_PENDING_SNAPSHOTS: usize = 64;

/// Longest stack text kept per transaction, bytes.
pub const MAX_STACK_BYTES: usize = 16 * 1024;

/// Hands one snapshot to the collector without blocking. Transactions are
/// sorted longest-running first and cut to [`MAX_PER_SNAPSHOT`]; stacks to
/// [`MAX_STACK_BYTES`].
pub fn report(mut snapshot: ActiveSnapshot) -> Result<(), MetricsError> {
    let Some(handoff) = handoff::current() else {
        return Err(MetricsError::NotRunning);
    };
    snapshot
        .transactions
        .sort_by_key(|t| std::cmp::Reverse(t.elapsed_ns));
    snapshot.transactions.truncate(MAX_PER_SNAPSHOT);
    for t in &mut snapshot.transactions {
        if t.stack.len() > MAX_STACK_BYTES {
            let mut cut = MAX_STACK_BYTES;
            while !t.stack.is_char_boundary(cut) {
                cut -= 1;
            }
            t.stack.truncate(cut);
        }
    }
    if handoff.try_send_sampled(Sampled::Active(snapshot)) {
        Ok(())
    } else {
        Err(MetricsError::QueueFull)
    }
}
