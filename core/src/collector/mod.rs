//! The background collector: receives finished transactions, converts and
//! samples them, keeps per-second aggregates, batches, and feeds one worker
//! thread per exporter.

mod aggregate;
mod awaiting;
mod config;
mod convert;
pub(crate) mod handoff;
mod sampler;
pub mod sanitize;
mod self_metrics;
mod spare;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded, select};
use parking_lot::Mutex;

pub use config::{Config, ConfigError, ExporterSpec, KEYS, default_data_dir, keys};

use crate::diag;
use crate::export::{Exporter, UnsampledDemand};
use crate::local::raw::RawTransaction;
use crate::local::shared::{EndedTxn, Scratch, SharedTxn};
use crate::local::stash::{POOL_BATCH, Pool, PoolBatch};
use crate::model::{ActiveSnapshot, ExportBatch, MetricRecord, Resource, TransactionRecord};
use crate::rng::Rng;
use aggregate::Aggregator;
use awaiting::Awaiting;
use convert::Converter;
use handoff::{Counters, Handoff, Queued, Sampled};
use sampler::Sampler;
use worker::Worker;

/// Transactions taken off the queue per pass before timers are checked.
const DRAIN_PER_PASS: usize = 256;

/// How often the collector looks at the transaction queue when nobody rang
/// (see [`Handoff::wake`]).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A sender rings the collector once the queue holds this fraction (1/n) of
/// its capacity or of its memory budget, and at the latest once it holds
/// half a pool's worth of transactions ([`WAKE_MOST`]).
const WAKE_FRACTION: usize = 16;

/// Most transactions queued before a sender rings: about half the buffer
/// pool, so that what a pass returns to the pool is what recording threads
/// take from it before the next one, whatever the queue's capacity. (With
/// a large queue and no such cap, thousands pile up between two passes,
/// the pool runs dry, and recording threads allocate while the collector
/// frees what the pool cannot hold.)
const WAKE_MOST: usize = POOL_SIZE / 2;

/// Buffers kept for reuse by recording threads: more than pile up before a
/// sender rings (at most [`WAKE_MOST`]), so that recording threads
/// seldom allocate; each keeps up to `POOLED_STEPS` steps (10 KiB) of
/// capacity, about 3 MiB for a full pool. They go back in batches of
/// [`POOL_BATCH`], and threads keep the rest of a batch they took
/// (another 2.5 MiB at most, [`crate::local::stash::MAX_STASHED`]). Async
/// transactions' allocations go round a pool of the same size (each 768
/// bytes and up to four overflow chunks
/// of 960: 2.4 MiB at most with what threads keep).
const POOL_SIZE: usize = 256;
const POOLED_STEPS: usize = 256;

/// Exported batches each worker may hand back (see [`Collector::spent`])
/// before the collector takes them; past it a worker frees its own. The
/// collector takes them on every pass and before each new batch, so one
/// is enough (four measured no faster), and it adds one batch to the
/// memory bound (see [`Config::max_queue_bytes`]).
const SPENT_PER_WORKER: usize = 1;

/// Delivery statistics, for tests and for the agent's own health line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Transactions dropped before reaching the collector (queue full or
    /// memory budget reached).
    pub dropped_queue: u64,
    /// Transactions the collector received.
    pub received: u64,
    /// Metric sample sets ([`crate::metrics::record`]) and active snapshots
    /// ([`crate::active::report`]) dropped: their queue was full, or more
    /// were waiting for the next batch than the collector holds.
    pub dropped_metric_sets: u64,
    /// Received transactions that kept no call tree while no exporter
    /// wanted such transactions (Zipkin, and OTLP to a backend other than
    /// an Osprey server, send spans for kept trees only): counted in the
    /// per-second aggregates, never in a batch.
    pub counted_only: u64,
    /// Steps left out of the transactions the collector received (past
    /// `steps.max`): the sum of their `dropped_steps`.
    pub dropped_steps: u64,
    /// Per exporter.
    pub exporters: Vec<ExporterStats>,
}

impl Stats {
    /// Transactions that ended while Osprey ran: received plus dropped.
    pub fn produced(&self) -> u64 {
        self.received + self.dropped_queue
    }
}

/// Delivery statistics of one exporter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// The exporter's name.
    pub name: &'static str,
    /// Transactions in batches the exporter accepted.
    pub delivered: u64,
    /// Transactions in batches that failed or found the queue full.
    pub dropped: u64,
    /// Failed export calls.
    pub failed_batches: u64,
    /// The last failure's text.
    pub last_error: Option<String>,
}

/// Requests to the collector thread; the answer says whether every
/// exporter finished before the deadline.
enum Control {
    Flush(Instant, Sender<bool>),
    Shutdown(Instant, Sender<bool>),
}

/// A running collector (at most one per process).
pub(crate) struct Running {
    instance: u64,
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    exporters: Vec<(&'static str, Arc<worker::WorkerCounters>)>,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Why `init` failed.
#[derive(Debug)]
pub enum InitError {
    /// Osprey is already running in this process.
    AlreadyRunning,
    /// The configuration or an exporter was rejected.
    Config(ConfigError),
    /// A thread could not be started.
    Spawn(std::io::Error),
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AlreadyRunning => f.write_str("osprey is already running"),
            Self::Config(e) => e.fmt(f),
            Self::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for InitError {}

impl From<ConfigError> for InitError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// Starts the collector and its exporters and installs the handoff.
/// Starts the collector; returns the instance number [`shutdown_instance`]
/// checks.
pub(crate) fn start(mut config: Config) -> Result<u64, InitError> {
    let mut running = RUNNING.lock();
    if running.is_some() {
        return Err(InitError::AlreadyRunning);
    }
    crate::clock::anchor();
    crate::resource::complete_with(
        &mut config.resource,
        config.runtime.as_ref(),
        &crate::resource::Detector::system(),
    );
    let mut exporters = config.build_exporters()?;
    let unsampled_wanted = Arc::new(AtomicUsize::new(0));
    for e in &mut exporters {
        let demand = UnsampledDemand::new(&unsampled_wanted, e.wants_unsampled());
        e.attach_demand(demand);
    }
    let mut workers = Vec::with_capacity(exporters.len());
    let (spent_tx, spent_rx) = bounded(SPENT_PER_WORKER * exporters.len().max(1));
    for e in exporters {
        workers.push(
            Worker::spawn(e, config.exporter_queue_batches, spent_tx.clone())
                .map_err(InitError::Spawn)?,
        );
    }
    let exporter_counters = workers
        .iter()
        .map(|w| (w.name, w.counters.clone()))
        .collect();
    let workers = Arc::new(Mutex::new(workers));
    let (tx, rx) = bounded(config.queue_capacity);
    let buffers = Pool::new(POOL_SIZE / POOL_BATCH);
    let shared = Pool::new(POOL_SIZE / POOL_BATCH);
    let (pool, shared_pool) = (buffers.tx.clone(), shared.tx.clone());
    let counters = Arc::new(Counters::default());
    let (samples_tx, samples_rx) = bounded(crate::metrics::QUEUE_SETS);
    let (wake_tx, wake_rx) = bounded(1);
    let handoff = Arc::new(Handoff {
        samples: samples_tx,
        wake: wake_tx,
        wake_at: (
            (config.queue_capacity / WAKE_FRACTION).clamp(1, WAKE_MOST),
            config.max_queue_bytes / WAKE_FRACTION,
        ),
        tx,
        buffers,
        shared,
        max_steps: config.max_steps as u32,
        cpu_time: config.cpu_time,
        max_queue_bytes: config.max_queue_bytes,
        queued_bytes: AtomicUsize::new(0),
        counters: counters.clone(),
    });
    let (control_tx, control_rx) = bounded(4);
    let collector = Collector {
        rx,
        wake: wake_rx,
        samples: samples_rx,
        metrics: Vec::new(),
        active: Vec::new(),
        control: control_rx,
        pool,
        recycled: PoolBatch::default(),
        shared_pool,
        emptied: PoolBatch::default(),
        scratch: Scratch::default(),
        spent: spent_rx,
        handoff: handoff.clone(),
        unsettled: (0, 0),
        awaiting: Awaiting::default(),
        workers: workers.clone(),
        unsampled_wanted,
        converter: Converter::new(),
        aggregator: Aggregator::default(),
        sampler: Sampler::new(
            config.sample_ratio,
            config.slow_threshold,
            config.trees_per_second,
        ),
        rng: Rng::UNSEEDED,
        resource: Arc::new(config.resource.clone()),
        batch: Vec::new(),
        batch_size: config.batch_size,
        batch_bytes: 0,
        max_batch_bytes: config.max_batch_bytes,
        wait_until: None,
        sanitizer: config.sanitize.then(sanitize::Sanitizer::default),
        batch_delay: config.batch_delay,
        host: config
            .host
            .enabled
            .then(|| crate::host::HostSampler::new(&config.host, &config.resource)),
        self_metrics: self_metrics::SelfMetrics::new(unix_ns()),
    };
    let thread = std::thread::Builder::new()
        .name("osprey-collector".into())
        .spawn(move || collector.run())
        .map_err(InitError::Spawn)?;
    handoff::install(Some(handoff));
    let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
    *running = Some(Running {
        instance,
        control: control_tx,
        thread: Some(thread),
        counters,
        exporters: exporter_counters,
    });
    Ok(instance)
}

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// Shuts down only if instance `instance` is still the running one (an old
/// guard must not stop a later `init`).
pub(crate) fn shutdown_instance(instance: u64, timeout: Duration) -> bool {
    let current = RUNNING.lock().as_ref().map(|r| r.instance);
    current == Some(instance) && shutdown(timeout)
}

/// Exports everything recorded so far and waits up to `timeout` for the
/// exporters to finish. False when Osprey is not running or time ran out.
pub(crate) fn flush(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let control = match RUNNING.lock().as_ref() {
        Some(r) => r.control.clone(),
        None => return false,
    };
    let (ack_tx, ack_rx) = bounded(1);
    control
        .send_deadline(Control::Flush(deadline, ack_tx), deadline)
        .is_ok()
        && ack_rx.recv_deadline(deadline) == Ok(true)
}

/// Stops recording, exports what is queued and stops the exporters, waiting
/// at most `timeout`. False when not running or time ran out (threads still
/// busy then finish on their own).
pub(crate) fn shutdown(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let Some(mut running) = RUNNING.lock().take() else {
        return false;
    };
    handoff::install(None);
    let (ack_tx, ack_rx) = bounded(1);
    let done = running
        .control
        .send_deadline(Control::Shutdown(deadline, ack_tx), deadline)
        .is_ok()
        && ack_rx.recv_deadline(deadline) == Ok(true);
    if done && let Some(t) = running.thread.take() {
        let _ = t.join();
    }
    LAST_STATS.lock().replace(collect_stats(&running));
    done
}

static LAST_STATS: Mutex<Option<Stats>> = Mutex::new(None);

/// Current statistics; after shutdown, those at shutdown.
pub(crate) fn stats() -> Stats {
    match RUNNING.lock().as_ref() {
        Some(r) => collect_stats(r),
        None => LAST_STATS.lock().clone().unwrap_or_default(),
    }
}

/// True while the collector runs.
pub(crate) fn is_running() -> bool {
    RUNNING.lock().is_some()
}

fn collect_stats(r: &Running) -> Stats {
    Stats {
        dropped_queue: r.counters.dropped_queue.load(Ordering::Relaxed),
        received: r.counters.received.load(Ordering::Relaxed),
        counted_only: r.counters.counted_only.load(Ordering::Relaxed),
        dropped_metric_sets: r.counters.dropped_metric_sets.load(Ordering::Relaxed),
        dropped_steps: r.counters.dropped_steps.load(Ordering::Relaxed),
        exporters: r
            .exporters
            .iter()
            .map(|(name, c)| ExporterStats {
                name,
                delivered: c.delivered.load(Ordering::Relaxed),
                dropped: c.dropped.load(Ordering::Relaxed),
                failed_batches: c.failed_batches.load(Ordering::Relaxed),
                last_error: c.last_error.lock().clone(),
            })
            .collect(),
    }
}

struct Collector {
    rx: Receiver<Queued>,
    /// Rung by senders when the queue fills up (the queue itself is polled).
    wake: Receiver<()>,
    /// Metric sample sets; exported with the next batch.
    samples: Receiver<Sampled>,
    metrics: Vec<MetricRecord>,
    active: Vec<ActiveSnapshot>,
    control: Receiver<Control>,
    pool: Sender<PoolBatch<Box<RawTransaction>>>,
    /// Buffers for the pool's next batch, and for assembling shared
    /// transactions.
    recycled: PoolBatch<Box<RawTransaction>>,
    /// Shared transactions' allocations go back to their pool (see
    /// [`crate::local::stash`]), a full batch at a time.
    shared_pool: Sender<PoolBatch<Arc<SharedTxn>>>,
    emptied: PoolBatch<Arc<SharedTxn>>,
    /// Where shared transactions' pieces are sorted (see [`Self::accept`]).
    scratch: Scratch,
    /// Batches the exporters are done with. The collector made their
    /// records, so it frees them: a record freed on the exporter's thread
    /// goes back to the collector's malloc arena under that arena's lock,
    /// which the collector takes for every record it makes.
    spent: Receiver<Arc<ExportBatch>>,
    handoff: Arc<Handoff>,
    /// Transactions taken off the queue, and their queued bytes, not yet
    /// reported to the handoff (see [`Handoff::received`]).
    unsettled: (u64, usize),
    /// Transactions waiting for work they handed off to end (see
    /// [`awaiting`]); taken up again at every pass.
    awaiting: Awaiting,
    workers: Arc<Mutex<Vec<Worker>>>,
    /// How many exporters want the transactions that kept no call tree
    /// now (see [`UnsampledDemand`]); read once per such transaction.
    unsampled_wanted: Arc<AtomicUsize>,
    converter: Converter,
    aggregator: Aggregator,
    sampler: Sampler,
    rng: Rng,
    resource: Arc<Resource>,
    batch: Vec<TransactionRecord>,
    batch_size: usize,
    batch_bytes: usize,
    max_batch_bytes: usize,
    batch_delay: Duration,
    /// Set during a flush or shutdown: batches wait for queue room until then.
    wait_until: Option<Instant>,
    /// Keeps SQL literals, URL query values and credentials in the process.
    sanitizer: Option<sanitize::Sanitizer>,
    /// Host and container metrics, sampled every [`HOST_INTERVAL`].
    host: Option<crate::host::HostSampler>,
    /// Osprey's own counters, sampled once a second into `metrics`.
    self_metrics: self_metrics::SelfMetrics,
}

/// How often the collector samples host and container metrics.
const HOST_INTERVAL: Duration = Duration::from_secs(1);

impl Collector {
    fn run(mut self) {
        let mut next_tick = Instant::now() + self.batch_delay;
        let mut next_host = Instant::now();
        let mut next_self_sample = Instant::now() + SELF_METRICS_INTERVAL;
        loop {
            let Some(taken) = self.take_queued() else {
                return;
            };
            // A full pass means more is waiting: look again at once.
            let wait = if taken == DRAIN_PER_PASS {
                Duration::ZERO
            } else {
                POLL_INTERVAL.min(next_tick.saturating_duration_since(Instant::now()))
            };
            select! {
                recv(self.wake) -> _ => {}
                recv(self.samples) -> msg => {
                    if let Ok(sampled) = msg {
                        self.take_sampled(sampled);
                    }
                }
                recv(self.control) -> msg => match msg {
                    Ok(Control::Flush(deadline, ack)) => {
                        self.drain_and_dispatch(deadline, unix_second() + 1);
                        let _ = ack.send(self.flush_workers(deadline));
                    }
                    Ok(Control::Shutdown(deadline, ack)) => {
                        self.drain_and_dispatch(deadline, u64::MAX);
                        let workers = std::mem::take(&mut *self.workers.lock());
                        let mut all_done = true;
                        for w in workers {
                            all_done &= w.shutdown(deadline);
                        }
                        if !all_done {
                            diag::warn("shutdown", "shutdown timed out; some exports may be lost");
                        }
                        self.count_stragglers();
                        let _ = ack.send(all_done);
                        return;
                    }
                    Err(_) => return,
                },
                default(wait) => {}
            }
            if self.host.is_some() && Instant::now() >= next_host {
                self.sample_host();
                next_host += HOST_INTERVAL;
                if next_host < Instant::now() {
                    // After a stall: no burst of catch-up samples.
                    next_host = Instant::now() + HOST_INTERVAL;
                }
            }
            if Instant::now() >= next_self_sample {
                next_self_sample = Instant::now() + SELF_METRICS_INTERVAL;
                self.sample_self();
            }
            if Instant::now() >= next_tick {
                self.dispatch(unix_second().saturating_sub(1));
                next_tick = Instant::now() + self.batch_delay;
            }
        }
    }

    /// Takes up to [`DRAIN_PER_PASS`] queued transactions; how many, or
    /// `None` once every sender is gone.
    fn take_queued(&mut self) -> Option<usize> {
        self.free_spent();
        let mut taken = 0;
        while taken < DRAIN_PER_PASS {
            match self.rx.try_recv() {
                Ok(txn) => {
                    if taken == 0 {
                        self.converter.refresh();
                    }
                    self.accept(txn);
                    taken += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.take_awaiting(true);
                    self.settle();
                    return None;
                }
            }
        }
        self.take_awaiting(false);
        self.settle();
        Some(taken)
    }

    /// Processes the transactions done waiting for work they handed off
    /// (every one with `all`).
    fn take_awaiting(&mut self, all: bool) {
        if self.awaiting.is_empty() {
            return;
        }
        let mut ready = Vec::new();
        self.awaiting.take_ready(Instant::now(), all, &mut ready);
        if !ready.is_empty() {
            self.converter.refresh();
        }
        for raw in ready {
            self.process(raw);
        }
    }

    /// Empties `raw` for reuse and adds it to the pool's next batch, sent
    /// once full (or at [`Self::settle`]); a full pool frees it.
    fn recycle(&mut self, mut raw: Box<RawTransaction>) {
        raw.recycle(POOLED_STEPS);
        self.recycled.give(raw, &self.pool);
    }

    /// Reports the transactions taken since the last call to the handoff,
    /// and sends the buffers recycled since to the pool.
    fn settle(&mut self) {
        self.recycled.send(&self.pool);
        let (count, bytes) = std::mem::take(&mut self.unsettled);
        self.handoff.received(count, bytes);
    }

    /// Takes `txn` off the queue (assembling a shared transaction):
    /// processes it, or keeps it waiting for work it handed off.
    fn accept(&mut self, txn: Queued) {
        let raw = match txn {
            Queued::Raw(raw) => raw,
            Queued::Shared(ended, bytes) => self.assemble(ended, bytes),
        };
        self.unsettled.0 += 1;
        self.unsettled.1 += raw.queued_bytes;
        if let Some(raw) = self.awaiting.hold(raw) {
            self.process(raw);
        }
    }

    /// Assembles a shared transaction in a buffer of the collector's own
    /// (the one recycled last: still in this core's cache), and sends its
    /// allocation back, emptied, for another to begin in (in batches, once
    /// full).
    fn assemble(&mut self, ended: EndedTxn, bytes: usize) -> Box<RawTransaction> {
        let mut raw = self
            .recycled
            .pop()
            .unwrap_or_else(|| Box::new(RawTransaction::new()));
        let txn = ended.assemble(&mut raw, &mut self.scratch);
        raw.queued_bytes = bytes;
        if let Some(txn) = SharedTxn::emptied(txn) {
            self.emptied.give(txn, &self.shared_pool);
        }
        raw
    }

    /// Settles `raw`'s forks, samples, converts and batches it.
    fn process(&mut self, mut raw: Box<RawTransaction>) {
        // Work it handed to other threads: merged when done, else linked.
        crate::local::fork::settle_all(&mut raw);
        if raw.dropped_steps > 0 {
            self.handoff
                .counters
                .dropped_steps
                .fetch_add(u64::from(raw.dropped_steps), Ordering::Relaxed);
        }
        let facts = self.converter.facts(&mut raw);
        let tree = self.sampler.keep(&facts, raw.force_sample, &mut self.rng);
        if !tree && self.unsampled_wanted.load(Ordering::Relaxed) == 0 {
            // Only the aggregates see it: no record, no copy of its texts.
            // The sampler keeps every tree that failed.
            debug_assert!(!facts.failed);
            self.aggregator
                .add_one(facts.end_unix_ns(), facts.elapsed_ns, false);
            self.converter.forget();
            self.handoff
                .counters
                .counted_only
                .fetch_add(1, Ordering::Relaxed);
            self.recycle(raw);
            return;
        }
        let mut record = self
            .converter
            .convert(&mut raw, &facts, tree, &mut self.rng);
        if let Some(s) = &mut self.sanitizer {
            s.apply(&mut record);
        }
        self.recycle(raw);
        self.aggregator.add(&record);
        self.batch_bytes += record.approx_bytes();
        self.batch.push(record);
        if self.batch.len() >= self.batch_size || self.batch_bytes >= self.max_batch_bytes {
            self.dispatch(unix_second().saturating_sub(1));
        }
    }

    /// Frees the batches the exporters handed back, keeping their records'
    /// vectors for the next records (the last reference to a batch does).
    fn free_spent(&mut self) {
        while let Ok(batch) = self.spent.try_recv() {
            if let Ok(batch) = Arc::try_unwrap(batch) {
                self.converter.reclaim(batch);
            }
        }
    }

    /// Takes everything already queued and dispatches it with the
    /// aggregates of seconds before `before_second`, waiting for room in the
    /// export queues until `deadline`.
    fn drain_and_dispatch(&mut self, deadline: Instant, before_second: u64) {
        self.wait_until = Some(deadline);
        while let Ok(txn) = self.rx.try_recv() {
            self.accept(txn);
        }
        self.take_awaiting(true);
        self.settle();
        while let Ok(sampled) = self.samples.try_recv() {
            self.take_sampled(sampled);
        }
        self.dispatch(before_second);
        self.wait_until = None;
    }

    /// Adds Osprey's own counters to the next batch (unless the pending
    /// metrics are at their bound: then the next second's sample will do,
    /// the counters being cumulative).
    fn sample_self(&mut self) {
        let records = self
            .self_metrics
            .sample(&self.handoff, &self.workers.lock(), unix_ns());
        if self.metrics.len() + records.len() <= crate::metrics::MAX_PENDING_POINTS {
            self.metrics.extend(records);
        }
    }

    /// Keeps a metric sample set or active snapshot for the next batch.
    /// Beyond [`crate::metrics::MAX_PENDING_POINTS`] points or
    /// [`crate::active::MAX_PENDING_SNAPSHOTS`] snapshots waiting for the
    /// next batch (a caller recording faster than batches leave), the
    /// newcomer is dropped and counted, so memory stays bounded.
    fn take_sampled(&mut self, sampled: Sampled) {
        let fits = match &sampled {
            Sampled::Metrics(set) => {
                self.metrics.len() + set.points.len() <= crate::metrics::MAX_PENDING_POINTS
            }
            Sampled::Active(_) => self.active.len() < crate::active::MAX_PENDING_SNAPSHOTS,
        };
        if !fits {
            self.handoff
                .counters
                .dropped_metric_sets
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        match sampled {
            Sampled::Metrics(set) => self.metrics.extend(set.into_records()),
            Sampled::Active(snapshot) => self.active.push(snapshot),
        }
    }

    /// Adds one host sample to the next batch; dropped and counted like a
    /// metric set when more points wait than the collector holds.
    fn sample_host(&mut self) {
        let Some(host) = &mut self.host else { return };
        let records = host.sample();
        if self.metrics.len() + records.len() > crate::metrics::MAX_PENDING_POINTS {
            self.handoff
                .counters
                .dropped_metric_sets
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.metrics.extend(records);
    }

    fn dispatch(&mut self, before_second: u64) {
        self.free_spent();
        let aggregates = self.aggregator.take_before(before_second);
        self.batch_bytes = 0;
        if self.batch.is_empty()
            && aggregates.is_empty()
            && self.metrics.is_empty()
            && self.active.is_empty()
        {
            return;
        }
        let batch = Arc::new(ExportBatch {
            resource: self.resource.clone(),
            transactions: std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size)),
            aggregates,
            metrics: std::mem::take(&mut self.metrics),
            active: std::mem::take(&mut self.active),
        });
        for w in self.workers.lock().iter() {
            w.offer(&batch, self.wait_until);
        }
    }

    /// Counts as dropped what a recording thread queued after the final
    /// drain (it had read the handoff just before shutdown removed it).
    fn count_stragglers(&self) {
        while let Ok(txn) = self.rx.try_recv() {
            self.handoff.discarded(&txn);
        }
    }

    /// Asks every exporter to flush; true when all finished by `deadline`.
    fn flush_workers(&self, deadline: Instant) -> bool {
        let acks: Vec<_> = self
            .workers
            .lock()
            .iter()
            .map(|w| w.flush(deadline))
            .collect();
        acks.into_iter()
            .all(|ack| ack.is_some_and(|a| a.recv_deadline(deadline).is_ok()))
    }
}

/// How often Osprey's own counters are sampled.
const SELF_METRICS_INTERVAL: Duration = Duration::from_secs(1);

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
