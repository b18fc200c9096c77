//! Empty transaction buffers on their way back to recording threads.
//!
//! The collector returns the buffers it is done with to a [`Pool`] a
//! [`PoolBatch`] at a time, and a recording thread keeps the rest of the
//! batch it took as its [`Stash`]: most transactions then take their buffer
//! with no atomic operation and no cache line another thread wrote (one
//! pool receive per [`POOL_BATCH`] transactions instead of one each). Two
//! kinds go round this way: thread-local transactions' raw buffers, and
//! shared transactions' own allocations (which the collector would
//! otherwise free, on its thread, memory the application's threads
//! allocated: `malloc` then trims and refaults their heaps).
//!
//! What threads keep is bounded for the process, not per thread (a
//! thread-per-request server has thousands of them): each thread counts the
//! most it keeps at once in its pool's [`Pool::stashed`], and that sum
//! never exceeds [`MAX_STASHED`] of each kind. A thread that finds the
//! total spent keeps none: it takes one of a batch and sends the rest back.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded};

/// Buffers the collector returns to a pool at a time.
pub(crate) const POOL_BATCH: usize = 8;

/// Most of each kind all threads' stashes hold together. A raw buffer
/// holds at most [`RawTransaction::recycle`](super::raw::RawTransaction::recycle)'s
/// pooled capacity (about 10 KiB) and a shared transaction 768 bytes plus
/// up to four overflow chunks of 960, so this adds at most 2.5 MiB and
/// 1.2 MiB to the memory bound.
pub(crate) const MAX_STASHED: usize = 256;

/// A pool of empty buffers of one kind: batches for threads to take, the
/// way in, and what threads keep.
#[derive(Debug)]
pub(crate) struct Pool<T> {
    /// Batches ready to take.
    pub rx: Receiver<PoolBatch<T>>,
    /// The way in: the collector's, and a thread's that took more than it
    /// may keep (a full pool frees what is sent).
    pub tx: Sender<PoolBatch<T>>,
    /// What threads' stashes may hold, summed (at most [`MAX_STASHED`]).
    pub stashed: AtomicUsize,
}

impl<T> Pool<T> {
    /// An empty pool of `batches` batches.
    pub fn new(batches: usize) -> Self {
        let (tx, rx) = bounded(batches);
        Self {
            rx,
            tx,
            stashed: AtomicUsize::new(0),
        }
    }
}

/// Up to [`POOL_BATCH`] empty buffers, moved by value: handing a batch
/// over allocates nothing.
pub(crate) struct PoolBatch<T> {
    buffers: [Option<T>; POOL_BATCH],
    len: usize,
}

impl<T> Default for PoolBatch<T> {
    fn default() -> Self {
        Self {
            buffers: std::array::from_fn(|_| None),
            len: 0,
        }
    }
}

impl<T> PoolBatch<T> {
    /// True when it holds [`POOL_BATCH`] buffers.
    pub fn is_full(&self) -> bool {
        self.len == POOL_BATCH
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `buffer`, or gives it back when full.
    pub fn push(&mut self, buffer: T) -> Result<(), T> {
        match self.buffers.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(buffer);
                self.len += 1;
                Ok(())
            }
            None => Err(buffer),
        }
    }

    /// Adds `buffer`, and sends the batch to `pool` once full (a full pool
    /// frees it).
    pub fn give(&mut self, buffer: T, pool: &Sender<PoolBatch<T>>) {
        let pushed = self.push(buffer);
        debug_assert!(pushed.is_ok(), "a full batch is sent at once");
        if self.is_full() {
            self.send(pool);
        }
    }

    /// Sends what it holds to `pool` (a full pool frees it), if anything.
    pub fn send(&mut self, pool: &Sender<PoolBatch<T>>) {
        if !self.is_empty() {
            let _ = pool.try_send(std::mem::take(self));
        }
    }

    /// Removes the last buffer added.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        self.len = last;
        self.buffers[last].take()
    }
}

impl<T> std::fmt::Debug for PoolBatch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBatch").field("len", &self.len).finish()
    }
}

/// A thread's kept buffers of one kind, and its share of [`Pool::stashed`].
/// Its owner gives the share back ([`Stash::release`]) when the thread
/// exits or the pool is replaced.
#[derive(Debug)]
pub(crate) struct Stash<T> {
    buffers: PoolBatch<T>,
    /// What this thread counts in its pool's `stashed`: the most it may
    /// keep.
    share: usize,
}

impl<T> Default for Stash<T> {
    fn default() -> Self {
        Self {
            buffers: PoolBatch::default(),
            share: 0,
        }
    }
}

impl<T> Stash<T> {
    /// An empty buffer: a kept one, else one of a batch from `pool`
    /// (keeping the rest, as far as this thread's share allows).
    #[inline]
    pub fn take(&mut self, pool: &Pool<T>) -> Option<T> {
        if let Some(buffer) = self.buffers.pop() {
            return Some(buffer);
        }
        self.refill(pool)
    }

    #[cold]
    fn refill(&mut self, pool: &Pool<T>) -> Option<T> {
        let mut batch = pool.rx.try_recv().ok()?;
        let first = batch.pop();
        if batch.len > self.share {
            self.share += reserve(pool, batch.len - self.share);
        }
        if batch.len > self.share {
            let mut rest = PoolBatch::default();
            while batch.len > self.share {
                if let Some(buffer) = batch.pop() {
                    let _ = rest.push(buffer);
                }
            }
            // A full pool frees them instead.
            let _ = pool.tx.try_send(rest);
        }
        self.buffers = batch;
        first
    }

    /// Gives this thread's share back to `pool` (and frees the kept
    /// buffers); the stash is empty afterwards.
    pub fn release(&mut self, pool: &Pool<T>) {
        self.buffers = PoolBatch::default();
        if self.share > 0 {
            pool.stashed.fetch_sub(self.share, Ordering::Relaxed);
            self.share = 0;
        }
    }
}

/// Adds up to `want` to `pool`'s stashed total without passing
/// [`MAX_STASHED`]; returns what was added.
fn reserve<T>(pool: &Pool<T>, want: usize) -> usize {
    let mut granted = 0;
    let _ = pool
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
    use crate::collector::handoff::{Handoff, Wired};
    use crate::local::raw::RawTransaction;

    /// A full batch of distinguishable buffers (their `seq` is 1..=8).
    fn full_batch() -> PoolBatch<Box<RawTransaction>> {
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
        let mut stash: Stash<Box<RawTransaction>> = Stash::default();
        let taken: Vec<u32> = (0..POOL_BATCH)
            .map(|_| stash.take(&handoff.buffers).expect("a buffer").seq)
            .collect();
        assert_eq!(taken, [8, 7, 6, 5, 4, 3, 2, 1], "one batch served all");
        assert_eq!(
            handoff.buffers.stashed.load(Ordering::Relaxed),
            POOL_BATCH - 1
        );
        assert!(
            stash.take(&handoff.buffers).is_none(),
            "pool and stash are empty"
        );
        stash.release(&handoff.buffers);
        assert_eq!(handoff.buffers.stashed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn what_threads_keep_stays_under_the_cap_and_the_rest_goes_back() {
        let Wired { handoff, pool, .. } = Handoff::wired(1, 4);
        handoff
            .buffers
            .stashed
            .store(MAX_STASHED - 3, Ordering::Relaxed);
        pool.send(full_batch()).unwrap();
        let mut stash: Stash<Box<RawTransaction>> = Stash::default();
        assert_eq!(stash.take(&handoff.buffers).unwrap().seq, 8);
        assert_eq!(handoff.buffers.stashed.load(Ordering::Relaxed), MAX_STASHED);
        // Three kept (1, 2, 3); the other four back in the pool, whole.
        let mut back = handoff.buffers.rx.try_recv().expect("the rest went back");
        let mut returned = Vec::new();
        while let Some(buffer) = back.pop() {
            returned.push(buffer.seq);
        }
        assert_eq!(returned, [4, 5, 6, 7]);
        for seq in [3, 2, 1] {
            assert_eq!(stash.take(&handoff.buffers).unwrap().seq, seq);
        }
        // A thread arriving now keeps nothing, and takes one per batch.
        pool.send(full_batch()).unwrap();
        let mut other: Stash<Box<RawTransaction>> = Stash::default();
        assert_eq!(other.take(&handoff.buffers).unwrap().seq, 8);
        assert_eq!(handoff.buffers.rx.try_recv().expect("seven back").len, 7);
        other.release(&handoff.buffers);
        stash.release(&handoff.buffers);
        assert_eq!(
            handoff.buffers.stashed.load(Ordering::Relaxed),
            MAX_STASHED - 3
        );
    }

    #[test]
    fn a_share_once_granted_is_kept_across_batches() {
        let Wired { handoff, pool, .. } = Handoff::wired(1, 4);
        let mut stash: Stash<Box<RawTransaction>> = Stash::default();
        for _ in 0..3 {
            pool.send(full_batch()).unwrap();
            for _ in 0..POOL_BATCH {
                assert!(stash.take(&handoff.buffers).is_some());
            }
        }
        assert_eq!(
            handoff.buffers.stashed.load(Ordering::Relaxed),
            POOL_BATCH - 1
        );
        assert!(handoff.buffers.rx.is_empty(), "nothing was sent back");
    }
}
