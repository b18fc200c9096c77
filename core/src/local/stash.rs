//! Empty transaction buffers on their way back to recording threads.
//!
//! The collector returns the buffers it is done with to a pool a
//! [`PoolBatch`] at a time, and a recording thread keeps the rest of the
//! batch it took as its [`Stash`]: most transactions then take their buffer
//! with no atomic operation and no cache line another thread wrote (one
//! pool receive per [`POOL_BATCH`] transactions instead of one each).
//!
//! What threads keep is bounded for the process, not per thread (a
//! thread-per-request server has thousands of them): each thread counts the
//! most it keeps at once in its handoff's [`Handoff::stashed`], and that sum
//! never exceeds [`MAX_STASHED`] buffers. A thread that finds the total
//! spent keeps none: it takes one buffer of a batch and sends the rest back.

use std::sync::atomic::Ordering;

use super::raw::RawTransaction;
use crate::collector::handoff::Handoff;

/// Buffers the collector returns to the pool at a time.
pub(crate) const POOL_BATCH: usize = 8;

/// Most buffers all threads' stashes hold together. Each holds at most
/// [`RawTransaction::recycle`]'s pooled capacity (about 10 KiB), so this
/// adds some 2.5 MiB to the memory bound at most.
pub(crate) const MAX_STASHED: usize = 256;

/// Up to [`POOL_BATCH`] empty buffers, moved by value: handing a batch
/// over allocates nothing.
#[derive(Default)]
pub(crate) struct PoolBatch {
    buffers: [Option<Box<RawTransaction>>; POOL_BATCH],
    len: usize,
}

impl PoolBatch {
    /// True when it holds [`POOL_BATCH`] buffers.
    pub fn is_full(&self) -> bool {
        self.len == POOL_BATCH
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `buffer`, or gives it back when full.
    pub fn push(&mut self, buffer: Box<RawTransaction>) -> Result<(), Box<RawTransaction>> {
        match self.buffers.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(buffer);
                self.len += 1;
                Ok(())
            }
            None => Err(buffer),
        }
    }

    /// Removes the last buffer added.
    pub fn pop(&mut self) -> Option<Box<RawTransaction>> {
        let last = self.len.checked_sub(1)?;
        self.len = last;
        self.buffers[last].take()
    }
}

impl std::fmt::Debug for PoolBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBatch").field("len", &self.len).finish()
    }
}

/// A thread's kept buffers, and its share of [`Handoff::stashed`].
/// Dropping it (the thread exits, or the handoff it belongs to is replaced)
/// gives the share back.
#[derive(Debug, Default)]
pub(crate) struct Stash {
    buffers: PoolBatch,
    /// What this thread counts in its handoff's `stashed`: the most it
    /// may keep.
    share: usize,
}

impl Stash {
    /// An empty buffer: a kept one, else one of a batch from `handoff`'s
    /// pool (keeping the rest, as far as this thread's share allows).
    #[inline]
    pub fn take(&mut self, handoff: &Handoff) -> Option<Box<RawTransaction>> {
        if let Some(buffer) = self.buffers.pop() {
            return Some(buffer);
        }
        self.refill(handoff)
    }

    #[cold]
    fn refill(&mut self, handoff: &Handoff) -> Option<Box<RawTransaction>> {
        let mut batch = handoff.pool.try_recv().ok()?;
        let first = batch.pop();
        if batch.len > self.share {
            self.share += reserve(handoff, batch.len - self.share);
        }
        if batch.len > self.share {
            let mut rest = PoolBatch::default();
            while batch.len > self.share {
                if let Some(buffer) = batch.pop() {
                    let _ = rest.push(buffer);
                }
            }
            // A full pool frees them instead.
            let _ = handoff.pool_back.try_send(rest);
        }
        self.buffers = batch;
        first
    }

    /// Gives this thread's share back to `handoff` (and frees the kept
    /// buffers); the stash is empty afterwards.
    pub fn release(&mut self, handoff: &Handoff) {
        self.buffers = PoolBatch::default();
        if self.share > 0 {
            handoff.stashed.fetch_sub(self.share, Ordering::Relaxed);
            self.share = 0;
        }
    }
}

/// Adds up to `want` to `handoff`'s stashed total without passing
/// [`MAX_STASHED`]; returns what was added.
fn reserve(handoff: &Handoff, want: usize) -> usize {
    let mut granted = 0;
    let _ = handoff
        .stashed
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            granted = want.min(MAX_STASHED.saturating_sub(held));
            (granted > 0).then_some(held + granted)
        });
    granted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::handoff::Wired;

    /// A full batch of distinguishable buffers (their `seq` is 1..=8).
    fn full_batch() -> PoolBatch {
        let mut batch = PoolBatch::default();
        for seq in 1..=POOL_BATCH as u32 {
            let mut buffer = Box::new(RawTransaction::new());
            buffer.seq = seq;
            batch.push(buffer).expect("room");
        }
        assert!(batch.is_full());
        assert!(batch.push(Box::new(RawTransaction::new())).is_err());
        batch
    }

    #[test]
    fn a_thread_keeps_the_rest_of_a_batch_and_counts_it() {
        let Wired { handoff, pool, .. } = Handoff::wired(1, 4);
        pool.send(full_batch()).unwrap();
        let mut stash = Stash::default();
        let taken: Vec<u32> = (0..POOL_BATCH)
            .map(|_| stash.take(&handoff).expect("a buffer").seq)
            .collect();
        assert_eq!(taken, [8, 7, 6, 5, 4, 3, 2, 1], "one batch served all");
        assert_eq!(handoff.stashed.load(Ordering::Relaxed), POOL_BATCH - 1);
        assert!(stash.take(&handoff).is_none(), "pool and stash are empty");
        stash.release(&handoff);
        assert_eq!(handoff.stashed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn what_threads_keep_stays_under_the_cap_and_the_rest_goes_back() {
        let Wired { handoff, pool, .. } = Handoff::wired(1, 4);
        handoff.stashed.store(MAX_STASHED - 3, Ordering::Relaxed);
        pool.send(full_batch()).unwrap();
        let mut stash = Stash::default();
        assert_eq!(stash.take(&handoff).unwrap().seq, 8);
        assert_eq!(handoff.stashed.load(Ordering::Relaxed), MAX_STASHED);
        // Three kept (1, 2, 3); the other four back in the pool, whole.
        let mut back = handoff.pool.try_recv().expect("the rest went back");
        let mut returned = Vec::new();
        while let Some(buffer) = back.pop() {
            returned.push(buffer.seq);
        }
        assert_eq!(returned, [4, 5, 6, 7]);
        for seq in [3, 2, 1] {
            assert_eq!(stash.take(&handoff).unwrap().seq, seq);
        }
        // A thread arriving now keeps nothing, and takes one per batch.
        pool.send(full_batch()).unwrap();
        let mut other = Stash::default();
        assert_eq!(other.take(&handoff).unwrap().seq, 8);
        assert_eq!(handoff.pool.try_recv().expect("seven back").len, 7);
        other.release(&handoff);
        stash.release(&handoff);
        assert_eq!(handoff.stashed.load(Ordering::Relaxed), MAX_STASHED - 3);
    }

    #[test]
    fn a_share_once_granted_is_kept_across_batches() {
        let Wired { handoff, pool, .. } = Handoff::wired(1, 4);
        let mut stash = Stash::default();
        for _ in 0..3 {
            pool.send(full_batch()).unwrap();
            for _ in 0..POOL_BATCH {
                assert!(stash.take(&handoff).is_some());
            }
        }
        assert_eq!(handoff.stashed.load(Ordering::Relaxed), POOL_BATCH - 1);
        assert!(handoff.pool.is_empty(), "nothing was sent back");
    }
}
