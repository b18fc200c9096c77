//! The one point where recording threads meet the collector: a bounded
//! channel of finished transactions, a pool of recycled buffers and the
//! drop counters. Recording threads find the current [`Handoff`] through a
//! generation number they compare without locking.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::RwLock;

use crate::local::raw::RawTransaction;
use crate::local::shared::EndedTxn;
use crate::local::shared::SharedTxn;
use crate::local::stash::Pool;
use crate::metrics::RawSamples;
use crate::model::ActiveSnapshot;

/// What samplers outside the recorder hand to the collector.
#[derive(Debug)]
pub(crate) enum Sampled {
    /// A metric sample set.
    Metrics(RawSamples),
    /// The transactions in flight at one moment.
    Active(ActiveSnapshot),
}

/// Counters shared by recording threads, the collector and export workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Dropped before the collector saw them: queue full or memory budget.
    pub dropped_queue: AtomicU64,
    /// Received by the collector.
    pub received: AtomicU64,
    /// Received, left without a call tree and wanted by no exporter:
    /// counted in the per-second aggregates only.
    pub counted_only: AtomicU64,
    /// Metric sample sets and active snapshots dropped because their queue
    /// was full.
    pub dropped_metric_sets: AtomicU64,
    /// Steps left out of received transactions (past `steps.max`, or of
    /// work handed to other threads that could not be merged): the sum of
    /// their `dropped_steps`.
    pub dropped_steps: AtomicU64,
}

/// A finished transaction on the queue to the collector.
#[derive(Debug)]
pub(crate) enum Queued {
    /// Assembled by its thread (the thread-local recorder's).
    Raw(Box<RawTransaction>),
    /// A shared transaction, assembled by the collector; with its queued
    /// bytes.
    Shared(EndedTxn, usize),
}

impl Queued {
    /// Its bytes counted against the queue's budget.
    pub fn queued_bytes(&self) -> usize {
        match self {
            Self::Raw(raw) => raw.queued_bytes,
            Self::Shared(_, bytes) => *bytes,
        }
    }
}

/// What a recording thread needs to hand a transaction over.
pub(crate) struct Handoff {
    pub tx: Sender<Queued>,
    /// Thread-local transactions' empty buffers, in batches (see
    /// [`crate::local::stash`]).
    pub buffers: Pool<Box<RawTransaction>>,
    /// Shared transactions' allocations, emptied for reuse.
    pub shared: Pool<Arc<SharedTxn>>,
    pub max_steps: u32,
    /// Measure each transaction's thread CPU time.
    pub cpu_time: bool,
    pub max_queue_bytes: usize,
    pub queued_bytes: AtomicUsize,
    pub counters: Arc<Counters>,
    /// Metric sample sets and active-transaction snapshots (bounded).
    pub samples: Sender<Sampled>,
    /// Wakes the collector early. It polls the queue rather than waiting
    /// on it, so that a send never has to wake a thread (a system call on
    /// the application's thread); senders ring this only once the queue
    /// holds [`Handoff::wake_at`] transactions or bytes.
    pub wake: Sender<()>,
    /// Queued transactions, and queued bytes, at which a sender rings `wake`.
    pub wake_at: (usize, usize),
}

impl Handoff {
    /// Queues `txn` unless the queue or the memory budget is full; never
    /// blocks. Gives the transaction back when it was dropped (and counted).
    pub fn try_send(&self, mut txn: Queued) -> Result<(), Queued> {
        let bytes = match &mut txn {
            Queued::Raw(raw) => {
                raw.queued_bytes = raw.footprint();
                raw.queued_bytes
            }
            Queued::Shared(ended, bytes) => {
                *bytes = ended.footprint();
                *bytes
            }
        };
        let queued = self.queued_bytes.load(Ordering::Relaxed);
        if queued + bytes > self.max_queue_bytes {
            self.counters.dropped_queue.fetch_add(1, Ordering::Relaxed);
            return Err(txn);
        }
        self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        match self.tx.try_send(txn) {
            Ok(()) => {
                if self.tx.len() >= self.wake_at.0 || queued + bytes >= self.wake_at.1 {
                    // Full means the collector was rung already.
                    let _ = self.wake.try_send(());
                }
                Ok(())
            }
            Err(TrySendError::Full(txn) | TrySendError::Disconnected(txn)) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.counters.dropped_queue.fetch_add(1, Ordering::Relaxed);
                Err(txn)
            }
        }
    }

    /// Queues a metric sample set or an active snapshot unless the queue is
    /// full (then it is dropped and counted); never blocks.
    pub fn try_send_sampled(&self, set: Sampled) -> bool {
        let sent = self.samples.try_send(set).is_ok();
        if !sent {
            self.counters
                .dropped_metric_sets
                .fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Called by the collector for a transaction it takes off the queue but
    /// will not process (it arrived after shutdown's final drain).
    pub fn discarded(&self, txn: &Queued) {
        self.queued_bytes
            .fetch_sub(txn.queued_bytes(), Ordering::Relaxed);
        self.counters.dropped_queue.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by the collector for the `count` transactions of `bytes`
    /// (their [`RawTransaction::queued_bytes`]) it took off the queue since
    /// it last called: once per pass, not per transaction, as every sender
    /// writes this cache line. Until then the budget counts them as queued,
    /// so senders see it fuller than it is, never emptier.
    pub fn received(&self, count: u64, bytes: usize) {
        if count > 0 {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.counters.received.fetch_add(count, Ordering::Relaxed);
        }
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);
static CURRENT: RwLock<Option<Arc<Handoff>>> = RwLock::new(None);

/// Changes whenever the handoff is installed or removed.
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The installed handoff, if Osprey is running.
pub(crate) fn current() -> Option<Arc<Handoff>> {
    CURRENT.read().clone()
}

/// Installs (or with `None`, removes) the handoff; threads notice at their
/// next transaction begin or end.
pub(crate) fn install(handoff: Option<Arc<Handoff>>) {
    *CURRENT.write() = handoff;
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// A [`Handoff`] and the other ends of its channels, for unit tests.
#[cfg(test)]
pub(crate) struct Wired {
    pub handoff: Handoff,
    /// Receives what recording threads queue.
    pub queue: crossbeam_channel::Receiver<Queued>,
    /// Fills the buffer pool, as the collector does.
    pub pool: Sender<crate::local::stash::PoolBatch<Box<RawTransaction>>>,
}

#[cfg(test)]
impl Handoff {
    /// A handoff with a queue of `queue` transactions and a pool of `pool`
    /// batches, no memory budget and no collector behind it.
    pub fn wired(queue: usize, pool: usize) -> Wired {
        let (tx, queue) = crossbeam_channel::bounded(queue);
        let buffers = Pool::new(pool);
        let pool_tx = buffers.tx.clone();
        Wired {
            handoff: Handoff {
                tx,
                buffers,
                shared: Pool::new(pool),
                max_steps: 1,
                cpu_time: false,
                max_queue_bytes: usize::MAX,
                queued_bytes: AtomicUsize::new(0),
                counters: Arc::new(Counters::default()),
                samples: crossbeam_channel::bounded(1).0,
                wake: crossbeam_channel::bounded(1).0,
                wake_at: (usize::MAX, usize::MAX),
            },
            queue,
            pool: pool_tx,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RawSamples, SeriesId};
    use crate::model::MetricValue;

    #[test]
    fn a_full_metrics_queue_drops_and_counts_without_blocking() {
        let (samples, _samples_rx) = crossbeam_channel::bounded(2);
        let mut wired = Handoff::wired(1, 1);
        wired.handoff.samples = samples;
        let handoff = wired.handoff;
        let set = || {
            Sampled::Metrics(RawSamples {
                unix_ns: 1,
                points: vec![(SeriesId(0), MetricValue::Int(1))],
            })
        };
        assert!(handoff.try_send_sampled(set()));
        assert!(handoff.try_send_sampled(set()));
        assert!(!handoff.try_send_sampled(set()));
        assert!(!handoff.try_send_sampled(set()));
        assert_eq!(
            handoff.counters.dropped_metric_sets.load(Ordering::Relaxed),
            2
        );
    }

    #[test]
    fn senders_ring_the_collector_only_once_the_queue_fills() {
        let (wake, rung) = crossbeam_channel::bounded(1);
        let Wired {
            mut handoff, queue, ..
        } = Handoff::wired(8, 1);
        handoff.wake = wake;
        handoff.wake_at = (3, usize::MAX);
        let send = || {
            handoff
                .try_send(Queued::Raw(Box::new(RawTransaction::new())))
                .is_ok()
        };
        assert!(send() && send());
        assert!(rung.try_recv().is_err(), "two queued: no wake-up yet");
        assert!(send());
        assert!(rung.try_recv().is_ok(), "the third rings");
        assert!(send() && send(), "sends go on while the bell is rung");
        assert_eq!(queue.len(), 5);
        assert_eq!(handoff.counters.dropped_queue.load(Ordering::Relaxed), 0);
    }
}
