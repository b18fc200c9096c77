//! Transactions the collector took up while work they handed to other
//! threads was still running.
//!
//! A request that waits for a pooled task's result (`future.get()`, a
//! `CompletableFuture`'s `join`) wakes as soon as the task publishes it,
//! which its runner does before it returns: the request can end its
//! transaction, and the collector take it up, while the task's own end is
//! still a few instructions (or, on a busy machine, a time slice) away.
//! Settled then, the task would be an orphan (a transaction of its own)
//! instead of the step it is. So such a transaction waits here until that
//! work ends or [`FORK_GRACE`] passes, whichever is first; then its forks
//! are settled as usual (see [`crate::local::fork`]).
//!
//! The handoff counts a waiting transaction as received (it left the
//! queue); at most [`MAX_AWAITING`] transactions of [`MAX_AWAITING_BYTES`]
//! in all wait at once, and past that a transaction is settled at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::local::fork;
use crate::local::raw::RawTransaction;

/// How long a transaction waits at most for work it handed off that was
/// still running when the collector took it up.
pub(crate) const FORK_GRACE: Duration = Duration::from_millis(100);

/// Transactions waiting at once at most.
pub(crate) const MAX_AWAITING: usize = 1024;

/// Bytes of transactions waiting at once at most (their
/// [`RawTransaction::queued_bytes`]).
pub(crate) const MAX_AWAITING_BYTES: usize = 8 << 20;

/// Transactions waiting for handed-off work, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Awaiting {
    waiting: VecDeque<(Instant, Box<RawTransaction>)>,
    /// The waiting transactions' queued bytes.
    bytes: usize,
}

impl Awaiting {
    /// Keeps `raw` when work it handed off is still running (`None`);
    /// otherwise, or when the bounds are reached, gives it back to be
    /// settled now.
    pub(crate) fn hold(&mut self, raw: Box<RawTransaction>) -> Option<Box<RawTransaction>> {
        if raw.forks.is_empty()
            || self.waiting.len() >= MAX_AWAITING
            || self.bytes + raw.queued_bytes > MAX_AWAITING_BYTES
            || !fork::busy(&raw)
        {
            return Some(raw);
        }
        self.bytes += raw.queued_bytes;
        self.waiting.push_back((Instant::now() + FORK_GRACE, raw));
        None
    }

    /// Moves the transactions done waiting at `now` (their work ended, or
    /// their grace passed; every one with `all`) to `ready`, oldest first.
    // Boxed: each is a pooled buffer, recycled as it is once processed.
    #[allow(clippy::vec_box)]
    pub(crate) fn take_ready(
        &mut self,
        now: Instant,
        all: bool,
        ready: &mut Vec<Box<RawTransaction>>,
    ) {
        // Once round, in place: those still waiting go to the back, in order.
        for _ in 0..self.waiting.len() {
            let Some((until, raw)) = self.waiting.pop_front() else {
                break;
            };
            if all || now >= until || !fork::busy(&raw) {
                self.bytes -= raw.queued_bytes;
                ready.push(raw);
            } else {
                self.waiting.push_back((until, raw));
            }
        }
    }

    /// Whether no transaction waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::fork::{Fork, new_fork};
    use crate::local::raw::NO_STEP;
    use std::sync::Arc;

    fn with_fork() -> (Box<RawTransaction>, Arc<Fork>) {
        let fork = new_fork();
        let mut txn = Box::new(RawTransaction::new());
        txn.forks.push((NO_STEP, fork.clone()));
        (txn, fork)
    }

    #[test]
    fn a_transaction_whose_task_runs_waits_until_the_task_ends() {
        let mut awaiting = Awaiting::default();
        let (txn, fork) = with_fork();
        assert!(fork.start());
        assert!(awaiting.hold(txn).is_none(), "its task is running");
        let mut ready = Vec::new();
        awaiting.take_ready(Instant::now(), false, &mut ready);
        assert!(ready.is_empty(), "still running, grace not passed");
        let mut fragment = Box::new(RawTransaction::new());
        fragment.start = 1;
        fragment.end = 2;
        assert!(fork.finish(fragment).is_none(), "kept for its transaction");
        awaiting.take_ready(Instant::now(), false, &mut ready);
        assert_eq!(ready.len(), 1, "its task ended");
        assert!(awaiting.is_empty());
        let mut txn = ready.pop().unwrap();
        fork::settle_all(&mut txn);
        assert_eq!(txn.steps.len(), 1, "the task is its step");
        assert!(!txn.force_sample, "no orphan to link");
    }

    #[test]
    fn work_still_running_after_the_grace_is_settled_as_an_orphan() {
        let mut awaiting = Awaiting::default();
        let (txn, fork) = with_fork();
        assert!(fork.start());
        assert!(awaiting.hold(txn).is_none());
        let mut ready = Vec::new();
        awaiting.take_ready(Instant::now() + FORK_GRACE, false, &mut ready);
        assert_eq!(ready.len(), 1, "the grace passed");
        let mut txn = ready.pop().unwrap();
        fork::settle_all(&mut txn);
        assert!(txn.force_sample, "the orphan links to it");
        assert!(txn.steps.is_empty());
    }

    #[test]
    fn work_not_begun_or_finished_is_not_waited_for_and_a_flush_takes_all() {
        let mut awaiting = Awaiting::default();
        let (pending, _fork) = with_fork();
        assert!(awaiting.hold(pending).is_some(), "nothing waited for it");
        assert!(awaiting.hold(Box::new(RawTransaction::new())).is_some());
        let (txn, fork) = with_fork();
        assert!(fork.start());
        assert!(awaiting.hold(txn).is_none());
        let mut ready = Vec::new();
        awaiting.take_ready(Instant::now(), true, &mut ready);
        assert_eq!(ready.len(), 1);
        assert!(awaiting.is_empty(), "all taken");
    }

    #[test]
    fn a_task_handed_on_by_a_finished_task_is_waited_for() {
        let (mut txn, first) = with_fork();
        assert!(first.start());
        let second = new_fork();
        assert!(second.start());
        let mut fragment = Box::new(RawTransaction::new());
        fragment.forks.push((NO_STEP, second.clone()));
        assert!(first.finish(fragment).is_none());
        assert!(fork::busy(&txn), "the second task runs");
        assert!(second.finish(Box::new(RawTransaction::new())).is_none());
        assert!(!fork::busy(&txn));
        fork::settle_all(&mut txn);
        assert_eq!(txn.steps.len(), 2, "both tasks are steps");
    }
}
