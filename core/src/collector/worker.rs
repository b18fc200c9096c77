//! One thread per exporter, fed by a bounded queue of batches: a slow
//! exporter fills only its own queue and never delays the collector, the
//! recording threads or the other exporters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

use crate::diag;
use crate::export::Exporter;
use crate::model::ExportBatch;

/// Delivery counters of one exporter.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub delivered: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_batches: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

enum Command {
    Export(Arc<ExportBatch>),
    Flush(Sender<()>),
    Shutdown(Instant, Sender<()>),
}

/// The collector's end of a worker.
pub(crate) struct Worker {
    pub name: &'static str,
    tx: Sender<Command>,
    pub counters: Arc<WorkerCounters>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread `osprey-export-<name>`. Each batch it is done with
    /// goes back through `spent`, to be freed by the thread that allocated
    /// it; when `spent` is full or closed the worker frees it itself.
    pub fn spawn(
        exporter: Box<dyn Exporter>,
        queue_batches: usize,
        spent: Sender<Arc<ExportBatch>>,
    ) -> std::io::Result<Self> {
        let name = exporter.name();
        let (tx, rx) = bounded(queue_batches);
        let counters = Arc::new(WorkerCounters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name(format!("osprey-export-{name}"))
            .spawn(move || run(exporter, rx, &c, &spent))?;
        Ok(Self {
            name,
            tx,
            counters,
            thread: Some(thread),
        })
    }

    /// Queues a batch. Normally a full queue drops it at once; during a
    /// flush or shutdown (`wait_until`) it waits for room until then. Either
    /// way a batch that finds no room is counted as dropped.
    pub fn offer(&self, batch: &Arc<ExportBatch>, wait_until: Option<Instant>) {
        let command = Command::Export(batch.clone());
        let sent = match wait_until {
            None => self.tx.try_send(command).is_ok(),
            Some(deadline) => self.tx.send_deadline(command, deadline).is_ok(),
        };
        if !sent {
            let n = batch.transactions.len() as u64;
            let total = self.counters.dropped.fetch_add(n, Ordering::Relaxed) + n;
            diag::warn(
                &format!("queue-{}", self.name),
                &format!(
                    "export queue of `{}` is full; dropping batches ({total} transactions \
                     dropped by `{}` so far; logged at most once a minute)",
                    self.name, self.name
                ),
            );
        }
    }

    /// Asks the exporter to flush; returns a receiver that fires when done.
    pub fn flush(&self, deadline: Instant) -> Option<Receiver<()>> {
        let (ack_tx, ack_rx) = bounded(1);
        self.tx
            .send_deadline(Command::Flush(ack_tx), deadline)
            .ok()
            .map(|()| ack_rx)
    }

    /// Stops the thread after its queue is drained, waiting until `deadline`;
    /// a worker still busy then is left to finish on its own.
    pub fn shutdown(mut self, deadline: Instant) -> bool {
        let (ack_tx, ack_rx) = bounded(1);
        let sent = self
            .tx
            .send_deadline(Command::Shutdown(deadline, ack_tx), deadline)
            .is_ok();
        let done = sent && ack_rx.recv_deadline(deadline).is_ok();
        if done && let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        done
    }
}

fn run(
    mut exporter: Box<dyn Exporter>,
    rx: Receiver<Command>,
    counters: &WorkerCounters,
    spent: &Sender<Arc<ExportBatch>>,
) {
    let name = exporter.name();
    for command in rx {
        match command {
            Command::Export(batch) => {
                let n = batch.transactions.len() as u64;
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    exporter.export(&batch)
                }));
                match result {
                    Ok(Ok(())) => {
                        counters.delivered.fetch_add(n, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => fail(name, counters, n, &e.to_string()),
                    Err(_) => fail(name, counters, n, "exporter panicked"),
                }
                // Full or closed: dropped (freed) here instead.
                let _ = spent.try_send(batch);
            }
            Command::Flush(ack) => {
                if let Err(e) = exporter.flush() {
                    diag::warn(
                        &format!("flush-{name}"),
                        &format!("flush of `{name}` failed: {e}"),
                    );
                }
                let _ = ack.send(());
            }
            Command::Shutdown(deadline, ack) => {
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                if let Err(e) = exporter.shutdown(left) {
                    diag::warn(
                        &format!("shutdown-{name}"),
                        &format!("shutdown of `{name}` failed: {e}"),
                    );
                }
                let _ = ack.send(());
                return;
            }
        }
    }
}

fn fail(name: &str, counters: &WorkerCounters, n: u64, error: &str) {
    let total = counters.dropped.fetch_add(n, Ordering::Relaxed) + n;
    counters.failed_batches.fetch_add(1, Ordering::Relaxed);
    *counters.last_error.lock() = Some(error.to_owned());
    diag::warn(
        &format!("export-{name}"),
        &format!(
            "export to `{name}` failed, {n} transactions dropped ({total} by `{name}` so far; \
             logged at most once a minute): {error}"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::NullExporter;

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn exported_batches_come_back_to_be_freed_and_a_full_return_never_blocks() {
        let (spent, returned) = bounded(1);
        let worker = Worker::spawn(Box::new(NullExporter), 8, spent).expect("spawn");
        let first = Arc::new(ExportBatch::default());
        worker.offer(&first, None);
        let back = returned.recv_deadline(deadline()).expect("handed back");
        assert!(Arc::ptr_eq(&back, &first));
        drop(back);
        // Nobody takes them now: the first waits in the return queue, the
        // rest are freed by the worker, which goes on exporting.
        for _ in 0..3 {
            worker.offer(&Arc::new(ExportBatch::default()), None);
        }
        let ack = worker.flush(deadline()).expect("flush queued");
        ack.recv_deadline(deadline()).expect("worker not blocked");
        assert_eq!(returned.len(), 1);
        drop(returned);
        // A closed return queue: the worker frees its own.
        worker.offer(&first, None);
        assert!(worker.shutdown(deadline()));
        assert_eq!(Arc::strong_count(&first), 1);
    }
}
